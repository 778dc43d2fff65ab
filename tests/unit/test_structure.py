"""Structural invariants that a grep can prove: who decrypts, who queries tenant tables,
and that the core and state classes stay what they claim to be."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "connections_app"


def _modules(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.py") if "__pycache__" not in p.parts]


def _calls(tree: ast.AST, attr: str) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == attr
    ]


def test_only_the_runtime_apply_path_decrypts() -> None:
    # Besides applying a credential to a request, secrets are opened only to talk
    # to the provider on the connection's behalf: the client secret and PKCE
    # verifier at the code exchange, the refresh token at refresh and revoke
    # (`secret_rows.open_row`, called by the token store only).
    allowed = {
        PACKAGE / "core" / "vault.py",
        PACKAGE / "core" / "connections" / "runtime.py",
        PACKAGE / "core" / "connections" / "secret_rows.py",
        PACKAGE / "core" / "oauth" / "clients.py",
        PACKAGE / "core" / "oauth" / "flow.py",
    }
    offenders = [
        f"{path.relative_to(PACKAGE)}:{line}"
        for path in _modules(PACKAGE)
        if path not in allowed
        for line in _calls(ast.parse(path.read_text()), "decrypt")
    ]
    assert offenders == []


TENANT_COLUMNS = {"workspace_id", "account_id", "tenant_id"}

# The few paths that query tenant-owned tables outside `core/tenancy/`, by (module, model),
# each for a reason that no actor could scope.
SYSTEM_PATHS: dict[tuple[str, str], str] = {
    **{
        ("core/identity/service.py", model): "membership defines the tenants: the actor is "
        "derived from these rows (session → user → workspace role), so no actor exists yet"
        for model in ("Workspace", "WorkspaceMember", "AccountAdmin", "ClientUser", "UserSession")
    },
    ("core/identity/tenants.py", "Workspace"): "the vault's list of key owners: every "
    "workspace gets its data key, whoever asks",
    ("cli.py", "AccountAdmin"): "the operator on the server names the account admin to act as",
    ("core/vault.py", "DataKey"): "key material: only the vault reads data keys, for the tenant "
    "of a row that was itself reached through tenancy",
    ("core/audit.py", "AuditHead"): "the hash chain's head, locked per account by the writer",
    ("core/audit.py", "AuditEvent"): "`verify` walks one account's whole chain (operator CLI)",
    ("core/oauth/flow.py", "OAuthFlow"): "the callback knows its flow only by SHA-256 of the "
    "single-use state (the capability), then checks session, person and workspace against "
    "it; the opener asks by its own session reference; purging is installation housekeeping",
}


def tenant_owned_models() -> dict[str, str]:
    """Model class → table, for every table with a tenant column and every child of one
    (a foreign key to such a table), derived from the models' metadata."""
    from sqlmodel import SQLModel

    import connections_app.core.models  # noqa: F401  (every table)

    tables = SQLModel.metadata.tables.values()
    owned = {t.name for t in tables if TENANT_COLUMNS & set(t.c.keys())}
    grown = True
    while grown:
        grown = False
        for t in tables:
            if t.name not in owned and any(fk.column.table.name in owned for fk in t.foreign_keys):
                owned.add(t.name)
                grown = True
    return {
        m.class_.__name__: m.local_table.name
        for m in SQLModel._sa_registry.mappers
        if m.local_table.name in owned
    }


def tenant_queries(source: str, models: set[str]) -> list[tuple[int, str, str]]:
    """(line, call, model) of every `select(…)` naming a tenant-owned model anywhere in its
    columns, and every `update(M)`, `delete(M)`, `.get(M, …)` and `.query(M)`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name == "select":
            named = {
                n.id
                for arg in node.args
                for n in ast.walk(arg)
                if isinstance(n, ast.Name) and n.id in models
            }
            found += [(node.lineno, name, model) for model in sorted(named)]
        elif (
            name in {"update", "delete", "get", "query"}
            and node.args
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id in models
        ):
            found.append((node.lineno, name, node.args[0].id))
    return found


def test_the_tenant_owned_tables_are_derived_from_the_metadata() -> None:
    tables = set(tenant_owned_models().values())
    assert {
        "connections",
        "connection_secrets",
        "grants",
        "audit_events",
        "workflows",
        "workflow_nodes",
        "workflow_runs",
        "workflow_run_steps",
        "oauth_flows",
        "data_keys",
    } <= tables
    assert "oauth_clients" not in tables  # the installation's, not a tenant's


def test_tenant_owned_tables_are_queried_only_through_tenancy() -> None:
    models = set(tenant_owned_models())
    offenders, used = [], set()
    for path in _modules(PACKAGE):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("core/tenancy/"):
            continue
        for line, call, model in tenant_queries(path.read_text(), models):
            if (relative, model) in SYSTEM_PATHS:
                used.add((relative, model))
            else:
                offenders.append(f"{relative}:{line} {call}({model})")
    assert offenders == []
    assert used == set(SYSTEM_PATHS), "a documented system path no longer exists: drop it"


def test_the_tenancy_checker_catches_planted_queries() -> None:
    models = set(tenant_owned_models())
    planted = """
def leak(db, run_id, node_id):
    db.exec(select(RunStep).where(RunStep.run_id == run_id))
    db.exec(select(func.count(Grant.id)))
    db.execute(update(Workflow).values(name="x"))
    db.execute(delete(OAuthFlow))
    session.get(Node, node_id)
    db.get(ConnectionSecret, 1)
    db.exec(select(Account))  # not tenant-owned: fine
"""
    assert sorted(tenant_queries(planted, models)) == [
        (3, "select", "RunStep"),
        (4, "select", "Grant"),
        (5, "update", "Workflow"),
        (6, "delete", "OAuthFlow"),
        (7, "get", "Node"),
        (8, "get", "ConnectionSecret"),
    ]


def test_core_never_imports_reflex() -> None:
    offenders = []
    for path in _modules(PACKAGE / "core"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "reflex"]
    assert offenders == []


def _is_client_options(keyword: ast.keyword) -> bool:
    value = keyword.value
    return (
        keyword.arg is None
        and isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr == "client_options"
    )


def test_every_outgoing_http_client_goes_through_the_egress_policy() -> None:
    """A request made with a connection leaves only through `egress`: a client built
    any other way would skip the destination check (and honour proxy variables)."""
    offenders = []
    for path in _modules(PACKAGE / "core"):
        if path.name == "egress.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name in {"Client", "AsyncClient", "OAuth2Client", "AsyncOAuth2Client"} and not any(
                _is_client_options(k) for k in node.keywords
            ):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
            if (
                name in {"get", "post", "request", "stream"}
                and getattr(node.func, "value", None) is not None
                and getattr(node.func.value, "id", None) == "httpx"
            ):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} (httpx.{name})")
    assert offenders == []
