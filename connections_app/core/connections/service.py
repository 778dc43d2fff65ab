"""Create, list, read, update, rotate, delete and test connections (F1–F3, F5, F6, F10, F13,
F14, F19).

Every function takes the actor explicitly and loads rows only through `tenancy`;
every mutation writes exactly one audit event in its own transaction. Secrets
arrive as plain strings, go straight into the vault and are never returned:
the read-model carries a masked tail only.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from sqlalchemy import func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from connections_app.core import audit, audit_log, guard
from connections_app.core.audit import Action
from connections_app.core.catalog import AppDefinition, AuthMethod, get_catalog
from connections_app.core.clock import utcnow
from connections_app.core.connections import destination, lifecycle, runtime, secret_rows, tokens
from connections_app.core.connections.models import (
    Connection,
    Kind,
    Purpose,
    Scope,
    Sharing,
    Status,
)
from connections_app.core.connections.views import (
    ConnectionView,
    DeleteResult,
    Health,
    Page,
    TestResult,
    Usage,
)
from connections_app.core.errors import Conflict, DomainError, Invalid
from connections_app.core.oauth import provider
from connections_app.core.tenancy import clients as client_scope
from connections_app.core.tenancy import connections as connection_scope
from connections_app.core.tenancy import grants as grant_scope
from connections_app.core.tenancy import policy
from connections_app.core.tenancy import workflows as workflow_scope
from connections_app.core.tenancy.actor import Actor
from connections_app.core.tenancy.policy import Op
from connections_app.core.validation import clean_text
from connections_app.core.vault import Vault, get_vault, masked_tail

MAX_PAGE_SIZE = 100
_STABLE_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")


# --- helpers ------------------------------------------------------------------------


def _choice(value: Any, enum: type, *, field: str, label: str) -> Any:
    try:
        return enum(value)
    except (ValueError, TypeError):
        allowed = ", ".join(e.value for e in enum)
        raise Invalid(f"{label} must be one of: {allowed}.", field=field) from None


def _label(value: Any) -> str:
    return clean_text(value, field="label", label="Label", max_length=120)


def label_key(label: str) -> str:
    return unicodedata.normalize("NFKC", label).casefold()


def suggest_stable_key(label: str) -> str:
    """A slug from the label: what the Add form pre-fills and the user may edit (F3)."""
    ascii_label = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_label.lower()).strip("-")[:80]
    return slug or "connection"


def _stable_key(value: Any) -> str:
    text = clean_text(value, field="stable_key", label="Stable key", max_length=80).lower()
    if not _STABLE_KEY.match(text):
        raise Invalid(
            "Stable key uses lowercase letters, digits, dashes and underscores.",
            field="stable_key",
        )
    return text


def _owner(actor: Actor, scope: Scope) -> tuple[str | None, str]:
    """(workspace_id, tenant_id) of a new connection: whose data key seals its secrets."""
    if scope == Scope.ACCOUNT:
        return None, actor.account_id
    assert actor.workspace_id is not None
    return actor.workspace_id, actor.workspace_id


def _taken(db: Session, tenant_id: str, column: Any, value: str, exclude: str | None) -> bool:
    return connection_scope.owner_has(
        db, tenant_id=tenant_id, column=column, value=value, exclude_id=exclude
    )


def unique_stable_key(db: Session, tenant_id: str, base: str) -> str:
    candidate, n = base, 1
    while _taken(db, tenant_id, Connection.stable_key, candidate, None):
        n += 1
        suffix = f"-{n}"
        candidate = base[: 80 - len(suffix)] + suffix
    return candidate


def _app_and_method(app_key: Any, kind: Any) -> tuple[AppDefinition, AuthMethod]:
    if not isinstance(app_key, str):
        raise Invalid("Choose an app.", field="app")
    app = get_catalog().get(app_key)
    if kind is not None and not isinstance(kind, str):
        raise Invalid("Choose an authentication method.", field="kind")
    return app, app.auth_method(kind or None)


def _first_form_kind(app_key: Any) -> str | None:
    """The first method a form can create (OAuth goes through the Connect flow)."""
    if not isinstance(app_key, str):
        return None
    methods = get_catalog().get(app_key).auth_methods
    return next((m.kind for m in methods if m.kind != Kind.OAUTH2), methods[0].kind)


def _audit(
    db: Session,
    actor: Actor,
    conn: Connection,
    action: Action,
    *,
    outcome: str = "success",
    detail: dict[str, Any] | None = None,
) -> None:
    lifecycle.signal_if_account(db, conn)
    audit.record(
        db,
        account_id=conn.account_id,
        workspace_id=conn.workspace_id or actor.workspace_id,
        connection_id=conn.id,
        action=action,
        target_type="connection",
        target_id=conn.id,
        actor_id=actor.user_id,
        actor_label=actor.label,
        outcome=outcome,
        detail={"label": conn.label, "app": conn.app, **(detail or {})},
    )


def granted_by(db: Session, actor: Actor, rows: list[Connection]) -> str:
    """The account's name, when these rows include account connections shown in a
    workspace (one read for a whole page)."""
    if actor.workspace_id is None or not any(r.scope == Scope.ACCOUNT for r in rows):
        return ""
    return grant_scope.account_name(db, actor.account_id)


def _authorize(db: Session, actor: Actor, op: Op, conn: Connection) -> None:
    """Refuse with Forbidden and leave an `access_denied` event behind (F11)."""
    guard.authorize(db, actor, op, conn)


def _commit(db: Session) -> None:
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise Conflict("Another change to this connection happened at the same time.") from None


def authorizers(db: Session, rows: list[Connection]) -> dict[str, str]:
    """Client names by user id, for the rows a client of their workspace authorized
    (one read for a whole page)."""
    names: dict[str, str] = {}
    for workspace_id in {r.workspace_id for r in rows if r.authorized_by and r.workspace_id}:
        names |= client_scope.client_names(
            db,
            workspace_id=workspace_id,
            user_ids={r.authorized_by or "" for r in rows if r.workspace_id == workspace_id},
        )
    return names


def to_view(
    actor: Actor, conn: Connection, *, account_name: str = "", authorizer: str = ""
) -> ConnectionView:
    """`account_name`: the account granting it, for an account connection shown in a
    workspace (`granted_by`); leave it empty on the account's own screens. `authorizer`:
    the client who authorized it (`authorizers`)."""
    allowed = policy.allowed_ops(actor, conn)
    # A revoked connection has no credential and no token any more: showing the old
    # tail or expiry would suggest otherwise. A connection the actor may only use (a
    # client's picker row of an exposed connection, F32) shows its label, app and
    # status, and nothing else of its configuration or history.
    revoked = conn.status == Status.REVOKED or Op.VIEW not in allowed
    seen = Op.VIEW in allowed
    try:
        app = get_catalog().get(conn.app)
        app_name, app_icon = app.name, app.icon
    except Invalid:
        app_name, app_icon = conn.app, ""
    return ConnectionView(
        id=conn.id,
        app=conn.app,
        app_name=app_name,
        app_icon=app_icon,
        label=conn.label,
        kind=conn.kind,
        status=conn.status,
        status_reason=conn.status_reason if seen else None,
        scope=conn.scope,
        sharing=conn.sharing,
        stable_key=conn.stable_key if seen else "",
        masked_tail="" if revoked else conn.masked_tail,
        config=dict(conn.config) if Op.VIEW_CONFIG in allowed else None,
        external_identity=conn.external_identity if seen else None,
        external_name=conn.external_name if seen else None,
        created_by=conn.created_by if seen else None,
        created_at=conn.created_at,
        updated_at=conn.updated_at,
        last_used_at=conn.last_used_at if seen else None,
        use_count=conn.use_count if seen else 0,
        token_expires_at=None if revoked else conn.token_expires_at,
        last_tested_at=conn.last_tested_at if seen else None,
        last_test_ok=conn.last_test_ok if seen else None,
        last_test_message=conn.last_test_message if seen else None,
        has_test_credentials=conn.has_test_credentials,
        embedded_enabled=conn.embedded_enabled,
        granted=conn.scope == Scope.ACCOUNT and actor.workspace_id is not None,
        allowed=frozenset(str(op) for op in allowed),
        test_masked_tail="" if revoked else conn.test_masked_tail,
        granted_by=account_name if conn.scope == Scope.ACCOUNT else "",
        authorized_by_name=authorizer,
    )


def tail_of(method: AuthMethod, secrets: Mapping[str, str]) -> str | None:
    for spec in method.secret_fields:
        if spec.name in secrets:
            return masked_tail(secrets[spec.name])
    return None


# --- create -------------------------------------------------------------------------


def create(
    db: Session,
    *,
    actor: Actor,
    app: Any,
    label: Any,
    fields: Mapping[str, Any],
    kind: Any = None,
    stable_key: Any = None,
    sharing: Any = Sharing.USE,
    scope: Any = Scope.WORKSPACE,
    test_fields: Mapping[str, Any] | None = None,
    vault: Vault | None = None,
    node: Any = None,
    test_first: bool = False,
    save_if_test_fails: bool = False,
    client: httpx.Client | None = None,
) -> ConnectionView:
    """Create a connection from a form's values; secrets are sealed before the flush.

    With `test_first` (the person tested in the form before saving) the exact values
    being saved are tested again and the verdict is recorded on the new row, so the
    details never say "Never tested" after a test. A failed verdict refuses the save
    with `Invalid(field="credential_test")` — the question the UI asks — unless
    `save_if_test_fails`: then the connection is saved in `error` with the reason.

    With `node` (Add opened from a node's panel), the new connection is selected on
    that node in the same transaction (F16): both happen, or neither.
    """
    scope_value = _choice(scope, Scope, field="scope", label="Scope")
    guard.require_create(
        db, actor, "create connections", what="create connection", scope=scope_value
    )
    if kind in (None, ""):
        kind = _first_form_kind(app)
    app_def, method = _app_and_method(app, kind)
    machine = method.kind == Kind.OAUTH2 and provider.is_client_credentials(app_def)
    if method.kind == Kind.OAUTH2 and not machine:
        raise Invalid("OAuth 2.0 connections are created through the Connect flow.", field="kind")
    if not isinstance(fields, Mapping):
        raise Invalid("The form is incomplete.")
    config, secrets = method.validate(fields)
    token: dict[str, Any] = {}
    if machine:
        # Client credentials: fetch the first token now; refused credentials save nothing.
        try:
            token = provider.fetch_client_credentials(
                app_def, config.get("client_id", ""), secrets.get("client_secret", "")
            )
        except provider.ProviderError as err:
            raise Invalid(str(err)) from None
    test_secrets: dict[str, str] = {}
    if test_fields:
        _, test_secrets = method.validate(test_fields, partial=True)
    label_text = _label(label)
    sharing_value = _choice(sharing, Sharing, field="sharing", label="Sharing")
    if scope_value == Scope.ACCOUNT and sharing_value == Sharing.PERSONAL:
        raise Invalid("Account connections cannot be personal.", field="sharing")
    verdict = _pre_save_test(db, app_def, method, fields, client) if test_first else None
    if verdict is not None and not verdict.ok and not save_if_test_fails:
        raise Invalid(failed_test_question(verdict), field=FAILED_TEST_FIELD)
    # After the calls to the provider: the node is read (and locked) in the transaction
    # that saves, so no lock is held across a slow provider and none is lost to a rollback.
    target_node = lifecycle.node_to_select(
        db, actor, node, app=app_def.key, kind=method.kind, what="create a connection for a node"
    )
    _, tenant_id = _owner(actor, scope_value)
    given = stable_key not in (None, "")
    key = _stable_key(stable_key) if given else suggest_stable_key(label_text)
    # Label and key checked in one query: a create is a handful of round trips, and on
    # PostgreSQL each costs more than the work of the query.
    label_taken, key_taken = connection_scope.owner_has_either(
        db, tenant_id=tenant_id, label_key=label_key(label_text), stable_key=key
    )
    if label_taken:
        raise Conflict(f"A connection named “{label_text}” already exists here.", field="label")
    if key_taken and given:
        raise Conflict(f"The stable key “{key}” is already used here.", field="stable_key")
    if key_taken:
        key = unique_stable_key(db, tenant_id, key)
    now = utcnow()
    conn = _form_row(
        actor,
        app_def,
        method,
        label_text,
        key,
        config=config,
        secrets=secrets,
        scope=scope_value,
        sharing=sharing_value,
    )
    conn.has_test_credentials = bool(test_secrets)
    conn.test_masked_tail = tail_of(method, test_secrets) or ""
    detail: dict[str, Any] = {"kind": conn.kind, "scope": conn.scope}
    if verdict is not None:
        _record_verdict(conn, verdict, now)
        detail["test"] = verdict.outcome
    db.add(conn)
    db.flush()
    vault = vault or get_vault()
    secret_rows.store(db, vault, conn, secrets, Purpose.LIVE, new=True)
    if test_secrets:
        secret_rows.store(db, vault, conn, test_secrets, Purpose.TEST, new=True)
    if machine:
        tokens.store_token_response(db, vault, conn, token, keep_refresh=False)
        token.clear()
    selected = lifecycle.select_on_node(db, actor, target_node, conn)
    _audit(
        db,
        actor,
        conn,
        Action.CREATED,
        detail={**detail, **selected},
    )
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise Conflict("A connection with this label or stable key already exists.") from None
    return to_view(actor, conn)


def _form_row(
    actor: Actor,
    app_def: AppDefinition,
    method: AuthMethod,
    label_text: str,
    key: str,
    *,
    config: dict[str, Any],
    secrets: Mapping[str, str],
    scope: Scope,
    sharing: Sharing,
) -> Connection:
    """A new connection row from a form's validated values (its secrets sealed next)."""
    workspace_id, tenant_id = _owner(actor, scope)
    now = utcnow()
    return Connection(
        account_id=actor.account_id,
        workspace_id=workspace_id,
        tenant_id=tenant_id,
        scope=scope,
        app=app_def.key,
        label=label_text,
        label_key=label_key(label_text),
        stable_key=key,
        kind=method.kind,
        status=Status.ACTIVE,
        sharing=sharing,
        config=config,
        masked_tail=tail_of(method, secrets) or "",
        secret_version=1,
        created_by=actor.user_id,
        created_at=now,
        updated_at=now,
    )


def unique_label(db: Session, tenant_id: str, base: str) -> str:
    """`base`, or `base (2)`, `base (3)`… : the first label not taken by this owner."""
    candidate, n = base[:120], 1
    while _taken(db, tenant_id, Connection.label_key, label_key(candidate), None):
        n += 1
        suffix = f" ({n})"
        candidate = base[: 120 - len(suffix)] + suffix
    return candidate


def create_through_link(
    db: Session,
    *,
    actor: Actor,
    app: str,
    kind: str,
    label: str,
    fields: Mapping[str, Any],
    claim: Callable[[Connection], bool],
    vault: Vault | None = None,
) -> ConnectionView:
    """A client answers a connect link with a credential form (F24).

    The role does not allow this person to create connections (`policy.can_create` is
    false for clients): the permission is the pending link the caller (`connect_links`)
    resolved for exactly this person, workspace and app. The row is the workspace's,
    created and authorized by the client, shared at the default level; the secret
    takes the one path of every form (validate → `secret_rows.store` → vault). `claim`
    marks the link used in this same transaction; when another use won meanwhile it
    answers False and nothing is saved.
    """
    app_def, method = _app_and_method(app, kind)
    if method.kind == Kind.OAUTH2:
        raise Invalid("This app connects by signing in, not with a form.", field="kind")
    if not isinstance(fields, Mapping):
        raise Invalid("The form is incomplete.")
    config, secrets = method.validate(fields)
    assert actor.workspace_id is not None
    label_text = unique_label(db, actor.workspace_id, _label(label))
    key = unique_stable_key(db, actor.workspace_id, suggest_stable_key(label_text))
    conn = _form_row(
        actor,
        app_def,
        method,
        label_text,
        key,
        config=config,
        secrets=secrets,
        scope=Scope.WORKSPACE,
        sharing=Sharing.USE,
    )
    conn.authorized_by = actor.user_id
    used_meanwhile = Conflict("This link was used meanwhile. Nothing was saved.")
    try:
        # A concurrent use of the same link may insert the same label first: the unique
        # index makes this insert wait for it and then refuse, before the claim runs.
        db.add(conn)
        db.flush()
        secret_rows.store(db, vault or get_vault(), conn, secrets, Purpose.LIVE)
        if not claim(conn):
            db.rollback()
            raise used_meanwhile
        _audit(db, actor, conn, Action.CREATED, detail={"kind": conn.kind, "via": "connect link"})
        db.commit()
    except IntegrityError:
        db.rollback()
        raise used_meanwhile from None
    return to_view(actor, conn)


FAILED_TEST_FIELD = "credential_test"


def failed_test_question(result: TestResult) -> str:
    """What a person is asked before saving a credential that just failed its test."""
    reason = result.message.rstrip(".")
    return f"This key failed its test: {reason}. Save anyway?"


def _pre_save_test(
    db: Session,
    app_def: AppDefinition,
    method: AuthMethod,
    fields: Mapping[str, Any],
    client: httpx.Client | None,
) -> TestResult:
    """The form's values tested with no transaction open (a slow provider holds nothing)."""
    db.rollback()
    return _probe(app_def, method, fields, client)


def _record_verdict(conn: Connection, verdict: TestResult, now: Any) -> None:
    """A new row remembers its pre-save test; a rejected key makes it `error` with the
    reason (saved anyway, on purpose), so nothing claims it is Active and untested. As in
    `test`, an outage or an odd answer judges the provider, not the key: the row stays
    active and its notice is the failed verdict."""
    conn.last_tested_at, conn.last_test_ok = now, verdict.ok
    conn.last_test_message = verdict.message[:500]
    if verdict.outcome == "invalid_credentials":
        lifecycle.mark_error(conn, verdict.message)


# --- read ---------------------------------------------------------------------------


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_connections(
    db: Session,
    *,
    actor: Actor,
    search: Any = None,
    app: Any = None,
    kind: Any = None,
    status: Any = None,
    page: Any = 1,
    page_size: Any = 25,
    account_scope: bool = False,
    authorized_by_me: bool = False,
    model_providers: bool = False,
) -> Page:
    """One page of the connections the actor can see, filtered in the database.

    `model_providers`: only apps the catalog marks as model providers (LLM Keys, F25)."""
    if not isinstance(page, int) or isinstance(page, bool) or page < 1:
        raise Invalid("Page must be a positive whole number.", field="page")
    if (
        not isinstance(page_size, int)
        or isinstance(page_size, bool)
        or not (1 <= page_size <= MAX_PAGE_SIZE)
    ):
        raise Invalid(f"Page size must be between 1 and {MAX_PAGE_SIZE}.", field="page_size")
    stmt = connection_scope.connections_query(actor, account_scope=account_scope)
    if authorized_by_me:
        # "What I authorized" is a client's portal list: for anyone else it would be a
        # list of the workspace under the wrong name.
        require_client(db, actor)
        stmt = stmt.where(Connection.authorized_by == actor.user_id)
    if model_providers:
        providers = [a.key for a in get_catalog().apps if a.model_provider]
        stmt = stmt.where(Connection.app.in_(providers))  # type: ignore[attr-defined]
    if search not in (None, ""):
        text = clean_text(search, field="search", label="Search", max_length=100)
        pattern = _like(label_key(text))
        app_keys = [a.key for a in get_catalog().search(text)]
        conditions = [
            Connection.label_key.like(pattern, escape="\\"),  # type: ignore[attr-defined]
            Connection.stable_key.like(pattern, escape="\\"),  # type: ignore[attr-defined]
        ]
        if app_keys:
            conditions.append(Connection.app.in_(app_keys))  # type: ignore[attr-defined]
        stmt = stmt.where(or_(*conditions))
    if app not in (None, ""):
        stmt = stmt.where(Connection.app == get_catalog().get(app).key)
    if kind not in (None, ""):
        stmt = stmt.where(Connection.kind == _choice(kind, Kind, field="kind", label="Kind"))
    if status not in (None, ""):
        stmt = stmt.where(
            Connection.status == _choice(status, Status, field="status", label="Status")
        )
    total = db.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = db.exec(
        stmt.order_by(Connection.label_key, Connection.id)  # type: ignore[arg-type]
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    name = "" if account_scope else granted_by(db, actor, list(rows))
    names = authorizers(db, list(rows))
    views = [
        to_view(actor, row, account_name=name, authorizer=names.get(row.authorized_by or "", ""))
        for row in rows
    ]
    return Page(views, total, page, page_size)


def require_client(db: Session, actor: Actor) -> None:
    """Refuse (recorded) anyone but a client of this workspace: the portal is theirs."""
    if not actor.is_client:
        raise guard.refuse(
            db,
            actor,
            "The portal is for client users: it lists the connections they authorized.",
            what="open the client portal",
            target_type="workspace",
            target_id=actor.workspace_id,
        )


def get(
    db: Session, *, actor: Actor, connection_id: Any, account_screen: bool = False
) -> ConnectionView:
    """One connection; `account_screen`: as the account's screens show it (an account
    connection is then the account's own, not "granted by")."""
    conn = connection_scope.get_connection(db, actor, connection_id)
    _authorize(db, actor, Op.VIEW, conn)
    in_workspace = not account_screen and grant_scope.granted_here(db, actor, conn)
    return to_view(
        actor,
        conn,
        account_name=granted_by(db, actor, [conn]) if in_workspace else "",
        authorizer=authorizers(db, [conn]).get(conn.authorized_by or "", ""),
    )


def health(db: Session, *, actor: Actor, connection_id: Any) -> Health:
    conn = connection_scope.get_connection(db, actor, connection_id)
    _authorize(db, actor, Op.VIEW, conn)
    return Health(
        status=conn.status,
        status_reason=conn.status_reason,
        last_success_at=conn.last_success_at,
        last_used_at=conn.last_used_at,
        last_tested_at=conn.last_tested_at,
        last_test_ok=conn.last_test_ok,
        last_test_message=conn.last_test_message,
        token_expires_at=None if conn.status == Status.REVOKED else conn.token_expires_at,
        failures_24h=audit_log.failures_since(db, actor=actor, connection_id=conn.id),
        **_notice(conn),
    )


def _notice(conn: Connection) -> dict[str, Any]:
    """One message per state: why it is not active, else what its latest test said."""
    failed_test = conn.last_test_message if conn.last_test_ok is False else None
    if conn.status == Status.PENDING and failed_test:
        # Pending means no usable credential; a test since says so with the fix (a move
        # to pending clears the verdicts before it, so this one is newer).
        return {"notice": failed_test, "notice_ok": False}
    if conn.status != Status.ACTIVE and conn.status_reason:
        return {"notice": conn.status_reason, "notice_ok": False}
    if conn.last_test_ok is not None and conn.last_test_message:
        return {"notice": conn.last_test_message, "notice_ok": conn.last_test_ok}
    return {"notice": None, "notice_ok": False}


def needing_reauthorization(db: Session, *, actor: Actor) -> list[ConnectionView]:
    """F21: the broken OAuth connections this person can see in the current workspace."""
    return [
        to_view(actor, row) for row in connection_scope.oauth_needing_reauthorization(db, actor)
    ]


def usages(db: Session, *, actor: Actor, connection_id: Any) -> list[Usage]:
    """Where a connection is used. An account connection is used in every workspace it
    is granted to: its account admins see them all (with the workspace's name), anyone
    else only their own workspace's."""
    conn = connection_scope.get_connection(db, actor, connection_id)
    _authorize(db, actor, Op.VIEW, conn)
    found = _usages(db, conn)
    if conn.scope == Scope.ACCOUNT and not actor.is_account_admin:
        return [u for u in found if u.workspace_id == actor.workspace_id]
    return found


def _usages(db: Session, conn: Connection) -> list[Usage]:
    """F19: the nodes that reference this connection (a tenancy query, so every entry
    point gets the same answer without loading anything first)."""
    rows = workflow_scope.nodes_using(db, conn)
    names = (
        grant_scope.workspace_names(db, conn.account_id, {wf.workspace_id for _, wf in rows})
        if conn.scope == Scope.ACCOUNT
        else {}
    )
    return [
        Usage(
            wf.id,
            wf.name,
            node.id,
            node.label,
            workspace_id=wf.workspace_id,
            workspace_name=names.get(wf.workspace_id, ""),
        )
        for node, wf in rows
    ]


# --- change -------------------------------------------------------------------------


def update(
    db: Session,
    *,
    actor: Actor,
    connection_id: Any,
    label: Any = None,
    config: Mapping[str, Any] | None = None,
    sharing: Any = None,
    stable_key: Any = None,
    secrets: Mapping[str, Any] | None = None,
    vault: Vault | None = None,
    test_secrets: Mapping[str, Any] | None = None,
) -> ConnectionView:
    """Change non-secret settings; secrets change only through `rotate` — or here, in the
    same form, when a destination field changes.

    A destination field decides where or how the secret is sent (the catalog marks
    them). Changing one clears the stored secret, so that nobody who may edit a
    connection can point it at a host of their choosing and have the stored secret
    delivered there (F5): the new destination gets a secret only when it is entered
    again (`secrets`, same form) or, for OAuth, authorized again by reconnecting.
    Until then the connection is `pending`. Bad input changes nothing.
    """
    conn = connection_scope.get_connection(db, actor, connection_id, for_update=True)
    _authorize(db, actor, Op.UPDATE, conn)
    try:
        return _update(
            db,
            actor,
            conn,
            label=label,
            config=config,
            sharing=sharing,
            stable_key=stable_key,
            secrets=secrets,
            vault=vault,
            test_secrets=test_secrets,
        )
    except DomainError:
        db.rollback()  # the row object may be half-changed: nothing of it may be flushed
        raise


def _update(
    db: Session,
    actor: Actor,
    conn: Connection,
    *,
    label: Any,
    config: Mapping[str, Any] | None,
    sharing: Any,
    stable_key: Any,
    secrets: Mapping[str, Any] | None,
    vault: Vault | None,
    test_secrets: Mapping[str, Any] | None = None,
) -> ConnectionView:
    _, method = _app_and_method(conn.app, conn.kind)
    changed: list[str] = []
    renamed: dict[str, Any] = {}
    if label is not None:
        text = _label(label)
        if text != conn.label:
            if _taken(db, conn.tenant_id, Connection.label_key, label_key(text), conn.id):
                raise Conflict(f"A connection named “{text}” already exists here.", field="label")
            renamed["renamed"] = [conn.label, text]  # the log says old → new
            conn.label, conn.label_key = text, label_key(text)
            changed.append("label")
    moved: list[str] = []
    if config is not None:
        if not isinstance(config, Mapping):
            raise Invalid("Configuration must be a set of fields.", field="config")
        secret_names = {f.name for f in method.secret_fields}
        if secret_names & set(config):
            raise Invalid("Secrets are replaced with Rotate, not Edit.", field="config")
        new_config, _ = method.validate(config, partial=True)
        merged = {**conn.config, **new_config}
        if merged != conn.config:
            moved = destination.changed_fields(method, conn.config, merged)
            conn.config = merged
            changed.append("config")
    if sharing is not None:
        value = _choice(sharing, Sharing, field="sharing", label="Sharing")
        if conn.scope == Scope.ACCOUNT and value == Sharing.PERSONAL:
            raise Invalid("Account connections cannot be personal.", field="sharing")
        if value != conn.sharing:
            conn.sharing = value
            changed.append("sharing")
    if stable_key is not None:
        key = _stable_key(stable_key)
        if key != conn.stable_key:
            if _taken(db, conn.tenant_id, Connection.stable_key, key, conn.id):
                raise Conflict(f"The stable key “{key}” is already used here.", field="stable_key")
            conn.stable_key = key
            changed.append("stable_key")
    entered = _entered_secrets(method, secrets)
    if entered and not moved:
        db.rollback()
        raise Invalid(
            "A stored credential is replaced with Rotate. Here it is entered only when "
            "the destination changes.",
            field=next(iter(entered)),
        )
    test_entered = _test_credentials(conn, method, test_secrets)
    if test_entered:
        _authorize(db, actor, Op.ROTATE, conn)  # the same level as Rotate's test set
        changed.append("test_credentials")
    if not changed:
        db.rollback()
        return to_view(actor, conn)
    conn.updated_at = utcnow()
    replaced = bool(moved) and _rebind(db, actor, conn, method, entered, vault or get_vault())
    if test_entered:  # after a rebind: sealed for the destination the row has now
        secret_rows.store(db, vault or get_vault(), conn, test_entered, Purpose.TEST)
        conn.has_test_credentials = True
        conn.test_masked_tail = tail_of(method, test_entered) or ""
    if moved:
        db.add(conn)
        _audit(
            db,
            actor,
            conn,
            Action.DESTINATION_CHANGED,
            detail={
                "changed": changed,
                "destination": moved,
                "cleared": not replaced,
                "entered_again": replaced,
                **renamed,
            },
        )
    else:
        db.add(conn)
        _audit(db, actor, conn, Action.UPDATED, detail={"changed": changed, **renamed})
    _commit(db)
    return to_view(actor, conn)


def _test_credentials(
    conn: Connection, method: AuthMethod, typed: Mapping[str, Any] | None
) -> dict[str, str]:
    """F28 test credentials typed into Edit: a complete credential, or none at all."""
    entered = _entered_secrets(method, typed)
    if not entered:
        return {}
    if conn.kind == Kind.OAUTH2:
        raise Invalid("OAuth 2.0 connections take no test credentials here.")
    required = runtime.required_fields(method)
    missing = [f for f in method.secret_fields if f.name in required and f.name not in entered]
    if missing:
        raise Invalid(f"Enter the test {missing[0].label} too.", field=f"test-{missing[0].name}")
    return entered


def _entered_secrets(method: AuthMethod, secrets: Mapping[str, Any] | None) -> dict[str, str]:
    """Secret values typed into the Edit form (empty inputs mean "not entered")."""
    if secrets is None:
        return {}
    if not isinstance(secrets, Mapping):
        raise Invalid("The form is incomplete.")
    names = {f.name for f in method.secret_fields}
    unknown = [k for k in secrets if k not in names]
    if unknown:
        raise Invalid(f"Unknown field: {str(unknown[0])[:40]}.")
    typed = {k: v for k, v in secrets.items() if v not in (None, "")}
    if not typed:
        return {}
    _, valid = method.validate(typed, partial=True)
    return valid


def _rebind(
    db: Session,
    actor: Actor,
    conn: Connection,
    method: AuthMethod,
    entered: dict[str, str],
    vault: Vault,
) -> bool:
    """The destination moved: every stored secret goes; the one entered now (if complete)
    is sealed for the new destination. Returns whether a credential was entered."""
    required = runtime.required_fields(method)
    if entered and conn.kind != Kind.OAUTH2:
        missing = [f for f in method.secret_fields if f.name in required and f.name not in entered]
        if missing:
            db.rollback()
            raise Invalid(
                f"Enter {missing[0].label} too: the new destination gets a complete "
                "credential or none.",
                field=missing[0].name,
            )
    for row in connection_scope.secret_rows(db, conn):
        db.delete(row)
    db.flush()
    conn.has_test_credentials, conn.test_masked_tail = False, ""
    conn.secret_version += 1
    conn.token_version += 1  # fences any refresh in flight for the old endpoints
    conn.token_expires_at = conn.next_refresh_at = None
    conn.refresh_lease_owner = conn.refresh_lease_until = None
    conn.last_test_ok = conn.last_tested_at = conn.last_test_message = None
    if entered and conn.kind != Kind.OAUTH2:
        secret_rows.store(db, vault, conn, entered, Purpose.LIVE)
        conn.masked_tail = tail_of(method, entered) or ""
        lifecycle.mark_active(conn)
        return True
    conn.masked_tail = ""
    lifecycle.mark_pending(
        conn,
        f"The destination was changed by {actor.label}: "
        + (
            "reconnect to authorize the new endpoints."
            if conn.kind == Kind.OAUTH2
            else "enter the credential again (Rotate)."
        ),
    )
    return False


def rotate(
    db: Session,
    *,
    actor: Actor,
    connection_id: Any,
    secrets: Mapping[str, Any],
    purpose: Any = Purpose.LIVE,
    vault: Vault | None = None,
) -> ConnectionView:
    """Replace secret fields in place (F6): the next request anywhere uses the new value."""
    purpose_value = _choice(purpose, Purpose, field="purpose", label="Credential set")
    conn = connection_scope.get_connection(db, actor, connection_id, for_update=True)
    _authorize(db, actor, Op.ROTATE, conn)
    if purpose_value == Purpose.TEST:
        # Test credentials are part of the set-up (`ConnectionActions.set_test_credentials`):
        # a client rotates the live credential it entered, nothing else (F24).
        _authorize(db, actor, Op.UPDATE, conn)
    if conn.status == Status.REVOKED:
        raise Invalid("This connection was revoked. Create or reconnect a new one.")
    if conn.kind == Kind.OAUTH2:
        raise Invalid("OAuth 2.0 connections are rotated by reconnecting.")
    _, method = _app_and_method(conn.app, conn.kind)
    if not isinstance(secrets, Mapping) or not secrets:
        raise Invalid("Enter the new credential.")
    config_names = {f.name for f in method.config_fields}
    if config_names & set(secrets):
        raise Invalid("Only secret fields are replaced by Rotate.")
    _, new_secrets = method.validate(secrets, partial=True)
    if not new_secrets:
        raise Invalid("Enter the new credential.")
    bound = secret_rows.current_destination(conn)
    usable = {
        name
        for name, row in secret_rows.rows(db, conn, purpose_value).items()
        if row.destination == bound
    } | set(new_secrets)
    missing = [f for f in method.secret_fields if f.required and f.name not in usable]
    if missing:  # nothing usable is stored for this field (e.g. after a destination change)
        raise Invalid(f"Enter {missing[0].label} too.", field=missing[0].name)
    secret_rows.store(db, vault or get_vault(), conn, new_secrets, purpose_value)
    if purpose_value == Purpose.LIVE:
        conn.masked_tail = tail_of(method, new_secrets) or conn.masked_tail
        conn.secret_version += 1
        if conn.status in (Status.ERROR, Status.PENDING):
            lifecycle.mark_active(conn)
        # The last test judged the credential that is now gone: it says nothing of this one.
        conn.last_test_ok = conn.last_tested_at = conn.last_test_message = None
    else:
        conn.has_test_credentials = True
        conn.test_masked_tail = tail_of(method, new_secrets) or conn.test_masked_tail
    conn.updated_at = utcnow()
    db.add(conn)
    _audit(
        db,
        actor,
        conn,
        Action.ROTATED,
        detail={"fields": sorted(new_secrets), "purpose": str(purpose_value)},
    )
    _commit(db)
    return to_view(actor, conn)


def delete(db: Session, *, actor: Actor, connection_id: Any) -> DeleteResult:
    """Delete for good (F19): secrets and grants go with it; referencing nodes break."""
    conn = connection_scope.get_connection(db, actor, connection_id, for_update=True)
    _authorize(db, actor, Op.DELETE, conn)
    broken = _usages(db, conn)
    lifecycle.signal_if_account(db, conn)  # before its grants go: they name who shows it
    for row in connection_scope.secret_rows(db, conn):
        db.delete(row)
    for grant in connection_scope.grants_of(db, conn):
        db.delete(grant)
    _audit(db, actor, conn, Action.DELETED, detail={"broken_usages": len(broken)})
    db.delete(conn)
    _commit(db)
    return DeleteResult(conn.label, broken)


# --- test and use -------------------------------------------------------------------


def test(
    db: Session,
    *,
    actor: Actor,
    connection_id: Any,
    purpose: Any = Purpose.LIVE,
    client: httpx.Client | None = None,
    vault: Vault | None = None,
) -> TestResult:
    """Run the app's test request with the stored credential and remember the verdict.

    The request is made with no transaction open (a slow provider must not hold the
    database); the verdict is written afterwards in its own short transaction. A
    credential that is missing, entered for another destination or unreadable is
    never sent: the test fails closed, says why, and the event is audited.
    """
    purpose_value = _choice(purpose, Purpose, field="purpose", label="Credential set")
    conn = connection_scope.get_connection(db, actor, connection_id)
    _authorize(db, actor, Op.TEST, conn)
    if conn.status == Status.REVOKED:
        db.rollback()
        return TestResult(False, "revoked", "This connection was revoked and cannot be used.")
    if purpose_value == Purpose.TEST and not conn.has_test_credentials:
        db.rollback()
        return TestResult(False, "invalid_input", "This connection has no test credentials.")
    unavailable: runtime.CredentialUnavailable | None = None
    try:
        result = runtime.test_stored(
            db, conn=conn, purpose=purpose_value, vault=vault or get_vault(), client=client
        )
    except runtime.CredentialUnavailable as err:
        db.rollback()
        unavailable = err
        result = TestResult(False, "credential_unavailable", str(err))
    conn = connection_scope.get_connection(db, actor, connection_id, for_update=True)
    conn.last_tested_at = utcnow()
    conn.last_test_ok = result.ok
    conn.last_test_message = result.message[:500]
    if unavailable is not None:
        if purpose_value == Purpose.LIVE and conn.status not in (Status.PENDING, Status.REVOKED):
            lifecycle.mark_error(conn, result.message)
    elif purpose_value == Purpose.LIVE:
        if result.outcome == "invalid_credentials":
            lifecycle.mark_error(conn, result.message)
        elif (
            result.ok and conn.status in (Status.ERROR, Status.PENDING) and conn.kind != Kind.OAUTH2
        ):
            lifecycle.mark_active(conn)
    db.add(conn)
    detail: dict[str, Any] = {"result": result.outcome, "http_status": result.http_status}
    if unavailable is not None:
        detail["reason"] = unavailable.reason
    _audit(
        db,
        actor,
        conn,
        Action.TESTED,
        outcome="success" if result.ok else "failure",
        detail=detail,
    )
    _commit(db)
    return result


def test_unsaved(
    db: Session,
    *,
    actor: Actor,
    app: Any,
    fields: Mapping[str, Any],
    kind: Any = None,
    client: httpx.Client | None = None,
) -> TestResult:
    """Test credentials typed into the Add form before saving; nothing is stored but the
    audit event of the probe (app, host, result — never a value)."""
    guard.require_create(db, actor, "create connections", what="test credentials before saving")
    app_def, method = _app_and_method(app, kind)
    if not isinstance(fields, Mapping):
        raise Invalid("The form is incomplete.")
    result = _probe(app_def, method, fields, client)
    if guard.record(
        db,
        actor,
        what="test before saving",
        action=Action.UNSAVED_TESTED,
        outcome="success" if result.ok else "failure",
        target_type="workspace",
        target_id=actor.workspace_id,
        detail={
            "app": app_def.key,
            "kind": method.kind,
            "host": result.host or "",
            "result": result.outcome,
            "http_status": result.http_status,
        },
    ):
        db.commit()
    return result


def _probe(
    app_def: AppDefinition,
    method: AuthMethod,
    fields: Mapping[str, Any],
    client: httpx.Client | None,
) -> TestResult:
    try:
        config, secrets = method.validate(fields)
    except Invalid as err:
        return TestResult(False, "invalid_input", str(err))
    try:
        if method.kind == Kind.OAUTH2:
            if not provider.is_client_credentials(app_def):
                return TestResult(False, "invalid_input", "Use Connect to sign in to this app.")
            try:
                token = provider.fetch_client_credentials(
                    app_def, config.get("client_id", ""), secrets.get("client_secret", "")
                )
            except provider.ProviderError as err:
                outcome = "unreachable" if not err.permanent else "invalid_credentials"
                return TestResult(False, outcome, str(err))
            secrets.clear()
            secrets["access_token"] = str(token.get("access_token", ""))
            token.clear()
        return runtime.test_values(app_def, method, config, secrets, client=client)
    finally:
        secrets.clear()
