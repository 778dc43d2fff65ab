"""Idempotent demo data for `make run`: one agency account, two client workspaces, a
person in every role, connections that work against the local stand-in provider, and
a sample workflow that uses them.

The demo credentials below are the stand-in provider's documented demo values;
they authenticate nowhere else. A test seeds the demo and checks that every
seeded connection tests valid against the stand-in, so the two cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from connections_app.core.connections import service as connections
from connections_app.core.connections.models import Connection
from connections_app.core.errors import NotFound
from connections_app.core.identity import service as identity
from connections_app.core.identity.models import Account, User, Workspace
from connections_app.core.tenancy import connections as connection_scope
from connections_app.core.tenancy.actor import Actor
from connections_app.core.vault import Vault
from connections_app.core.workflows import service as workflows

DEMO_PASSWORD = "connections-demo"
ACCOUNT_SLUG = "northstar"
BY = "demo-seed"


@dataclass(frozen=True)
class DemoPerson:
    email: str
    name: str
    role: str  # account-admin | admin | builder | viewer | client
    workspaces: tuple[str, ...]


PEOPLE = [
    DemoPerson("ada@northstar.test", "Ada Admin", "account-admin", ()),
    DemoPerson("wes@northstar.test", "Wes Workspace", "admin", ("acme",)),
    DemoPerson("bea@northstar.test", "Bea Builder", "builder", ("acme", "globex")),
    DemoPerson("vic@northstar.test", "Vic Viewer", "viewer", ("acme",)),
    DemoPerson("cleo@acme.test", "Cleo Client", "client", ("acme",)),
]

WORKSPACES = [("acme", "Acme Corp"), ("globex", "Globex")]

# (workspace, app, label, non-secret fields, secret fields, sharing)
CONNECTIONS: list[tuple[str, str, str, dict[str, str], dict[str, str], str]] = [
    (
        "acme",
        "stripe",
        "Stripe (prod)",
        {},
        {"secret_key": "sk_test_DemoStripeKey4242424242"},
        "use",
    ),
    (
        "acme",
        "freshdesk",
        "Freshdesk support",
        {"subdomain": "northstar"},
        {"api_key": "DemoFreshdeskKey123"},
        "view",
    ),
    ("acme", "openai", "OpenAI", {}, {"api_key": "sk-demo-openai-0000000000000000"}, "use"),
    (
        "acme",
        "twilio",
        "Twilio SMS",
        {"account_sid": "AC0123456789abcdef0123456789abcdef"},
        {"auth_token": "fedcba9876543210fedcba9876543210"},
        "manage",
    ),
    ("globex", "slack", "Slack bot", {}, {"bot_token": "xoxb-demo-0000000000-slackbot"}, "use"),
    (
        "globex",
        "hubspot",
        "HubSpot CRM",
        {},
        {"access_token": "pat-na1-demo-hubspot-0000000"},
        "use",
    ),
    ("globex", "stripe", "Stripe", {}, {"secret_key": "sk_test_DemoStripeKey4242424242"}, "use"),
]


# Same stable key in both workspaces: an exported workflow binds to either (F3, F29).
STABLE_KEYS = {("acme", "Stripe (prod)"): "stripe", ("globex", "Stripe"): "stripe"}
# Sandbox credentials for test-mode runs (F28); the stand-in answers livemode false.
TEST_FIELDS = {("acme", "Stripe (prod)"): {"secret_key": "sk_test_SandboxStripeKey00000000"}}
# (workspace, workflow, [(app, action, params, connection label)])
WORKFLOWS = [
    (
        "acme",
        "New customer onboarding",
        [
            (
                "stripe",
                "create_customer",
                {"email": "new.customer@acme.test", "name": "New Customer"},
                "Stripe (prod)",
            ),
            (
                "openai",
                "chat_completion",
                {"model": "gpt-standin", "prompt": "Write a short welcome note."},
                "OpenAI",
            ),
        ],
    ),
]


def _ensure_account(db: Session, vault: Vault) -> Account:
    try:
        return identity.find_account(db, ACCOUNT_SLUG)
    except NotFound:
        return identity.create_account(
            db, vault=vault, name="Northstar Agency", slug=ACCOUNT_SLUG, by=BY
        )


def _ensure_workspace(
    db: Session, vault: Vault, account: Account, slug: str, name: str
) -> Workspace:
    try:
        return identity.find_workspace(db, account_id=account.id, slug=slug)
    except NotFound:
        return identity.create_workspace(
            db, vault=vault, account_id=account.id, name=name, slug=slug, by=BY
        )


def _ensure_user(db: Session, person: DemoPerson) -> User:
    user = db.exec(select(User).where(User.email == person.email)).first()
    return user or identity.create_user(
        db, email=person.email, name=person.name, password=DEMO_PASSWORD
    )


def _ensure_workflow(
    db: Session, account: Account, ws: Workspace, name: str, nodes: list[tuple]
) -> None:
    actor = Actor.operator(account_id=account.id, workspace_id=ws.id, label=BY)
    if any(w.name == name for w in workflows.list_workflows(db, actor=actor)):
        return
    made = workflows.create_workflow(db, actor=actor, name=name)
    for app, action, params, conn_label in nodes:
        node = workflows.add_node(
            db, actor=actor, workflow_id=made.id, app=app, action=action, params=params
        )
        conn = db.exec(
            connection_scope.connections_query(actor).where(Connection.label == conn_label)
        ).first()
        if conn is not None:
            workflows.set_node_connection(db, actor=actor, node_id=node.id, connection_id=conn.id)


def seed_demo(db: Session, *, vault: Vault) -> str:
    """Create what is missing; never touch what exists. Returns a human summary."""
    account = _ensure_account(db, vault)
    spaces = {slug: _ensure_workspace(db, vault, account, slug, name) for slug, name in WORKSPACES}
    for person in PEOPLE:
        user = _ensure_user(db, person)
        if person.role == "account-admin":
            identity.make_account_admin(db, account_id=account.id, user_id=user.id, by=BY)
        for slug in person.workspaces:
            identity.add_member(
                db, workspace_id=spaces[slug].id, user_id=user.id, role=person.role, by=BY
            )
    created = 0
    for ws_slug, app, label, config, secrets, sharing in CONNECTIONS:
        ws = spaces[ws_slug]
        if connection_scope.owner_has(db, tenant_id=ws.id, column=Connection.label, value=label):
            continue
        actor = Actor.operator(account_id=account.id, workspace_id=ws.id, label=BY)
        connections.create(
            db,
            actor=actor,
            app=app,
            label=label,
            fields={**config, **secrets},
            test_fields=TEST_FIELDS.get((ws_slug, label)),
            stable_key=STABLE_KEYS.get((ws_slug, label)),
            sharing=sharing,
            vault=vault,
        )
        created += 1
    for ws_slug, name, nodes in WORKFLOWS:
        _ensure_workflow(db, account, spaces[ws_slug], name, nodes)
    lines = [
        f"demo account '{account.name}' ready ({created} connections added)",
        f"sign in with any of these (password: {DEMO_PASSWORD}):",
    ]
    lines += [f"  {p.email:<22} {p.role}" for p in PEOPLE]
    return "\n".join(lines)
