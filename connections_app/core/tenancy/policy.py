"""What a visible row allows: the role × sharing table of F10, and nowhere else.

A row the actor cannot see never reaches this module (the scoped queries answer
`NotFound` first); for a visible connection `allowed_ops` decides every operation.
"""

from __future__ import annotations

from enum import StrEnum

from connections_app.core.connections.models import Connection, Scope, Sharing
from connections_app.core.errors import Forbidden
from connections_app.core.tenancy.actor import Actor, Role


class Op(StrEnum):
    LIST = "list"
    VIEW = "view"
    VIEW_CONFIG = "view_config"
    CREATE = "create"
    UPDATE = "update"
    ROTATE = "rotate"
    DELETE = "delete"
    TEST = "test"
    USE = "use"
    REVOKE = "revoke"
    VIEW_AUDIT = "view_audit"
    # F32: expose a workspace connection to client-built (embedded) workflows, or withdraw it.
    EMBED = "embed"


ALL_CONNECTION_OPS = frozenset(Op) - {Op.CREATE}
_USE_LEVEL = frozenset({Op.LIST, Op.VIEW, Op.USE, Op.TEST})
_VIEW_LEVEL = _USE_LEVEL | {Op.VIEW_CONFIG}
_MANAGE_LEVEL = _VIEW_LEVEL | {
    Op.UPDATE,
    Op.ROTATE,
    Op.DELETE,
    Op.REVOKE,
    Op.VIEW_AUDIT,
    Op.EMBED,
}
_READ_ONLY = frozenset({Op.LIST, Op.VIEW})
_BUILDER_LEVELS = {
    Sharing.USE: _USE_LEVEL,
    Sharing.VIEW: _VIEW_LEVEL,
    Sharing.MANAGE: _MANAGE_LEVEL,
}
_VIEWER_LEVELS = {
    Sharing.USE: _READ_ONLY,
    Sharing.VIEW: _READ_ONLY | {Op.VIEW_CONFIG},
    Sharing.MANAGE: _READ_ONLY | {Op.VIEW_CONFIG},
}
# A client's own authorized connections: seen, rotated, revoked and used in its own
# workflows. The workspace's connections exposed to embedded workflows (F32): used only;
# the client sees nothing of them beyond what a picker row shows (label, app, status).
_CLIENT_OWN = frozenset({Op.LIST, Op.VIEW, Op.ROTATE, Op.REVOKE, Op.USE})
_CLIENT_EMBEDDED = frozenset({Op.USE})


def allowed_ops(actor: Actor, conn: Connection) -> frozenset[Op]:
    """The role × sharing table of F10, for a connection the actor can already see."""
    if conn.account_id != actor.account_id:
        return frozenset()
    if conn.scope == Scope.ACCOUNT:
        if actor.is_account_admin:
            return ALL_CONNECTION_OPS - {Op.EMBED}
        if actor.role in (Role.ADMIN, Role.BUILDER):
            return _USE_LEVEL
        if actor.role == Role.VIEWER:
            return _READ_ONLY
        return frozenset()
    if conn.workspace_id != actor.workspace_id:
        return frozenset()
    if actor.is_client:
        if actor.user_id is not None and conn.authorized_by == actor.user_id:
            return _CLIENT_OWN
        return _CLIENT_EMBEDDED if conn.embedded_enabled else frozenset()
    own = actor.user_id is not None and conn.created_by == actor.user_id
    if actor.is_workspace_admin:
        if conn.sharing == Sharing.PERSONAL and not own:
            # Someone's personal connection: managed, but neither used nor handed to
            # clients by anyone else (exposing it would be using it by proxy).
            return ALL_CONNECTION_OPS - {Op.USE, Op.EMBED}
        return ALL_CONNECTION_OPS
    if actor.role == Role.BUILDER:
        if own:
            return ALL_CONNECTION_OPS
        return _BUILDER_LEVELS.get(Sharing(conn.sharing), frozenset())
    if actor.role == Role.VIEWER:
        return _VIEWER_LEVELS.get(Sharing(conn.sharing), frozenset())
    return frozenset()


def can_create(actor: Actor, *, scope: Scope = Scope.WORKSPACE) -> bool:
    if scope == Scope.ACCOUNT:
        return actor.is_account_admin
    return actor.workspace_id is not None and (
        actor.is_workspace_admin or actor.role == Role.BUILDER
    )


def can_build(actor: Actor) -> bool:
    """Workflows belong to one workspace; builders and admins change them (F15). A client
    builds and runs its own workflows only (F32): the tenancy queries give it no other."""
    return actor.workspace_id is not None and (
        actor.is_workspace_admin or actor.role in (Role.BUILDER, Role.CLIENT)
    )


def can_change_workspace_wide(actor: Actor) -> bool:
    """Workspace-wide workflow tools (switch a connection in every node, F17; export and
    import): builders and admins. A client's world is its own workflows, so it gets none."""
    return can_build(actor) and not actor.is_client


def check(actor: Actor, op: Op, conn: Connection) -> bool:
    return op in allowed_ops(actor, conn)


def refusal_message(op: Op) -> str:
    return f"Your role does not allow you to {_OP_WORDS[op]} this connection."


def ensure(actor: Actor, op: Op, conn: Connection) -> None:
    """Raise Forbidden without recording it: services refuse through `guard`, which
    audits; this is for read paths whose callers already checked."""
    if op not in allowed_ops(actor, conn):
        raise Forbidden(refusal_message(op))


_OP_WORDS = {
    Op.LIST: "list",
    Op.VIEW: "see",
    Op.VIEW_CONFIG: "see the configuration of",
    Op.CREATE: "create",
    Op.UPDATE: "edit",
    Op.ROTATE: "rotate the credential of",
    Op.DELETE: "delete",
    Op.TEST: "test",
    Op.USE: "use",
    Op.REVOKE: "revoke",
    Op.VIEW_AUDIT: "see the audit history of",
    Op.EMBED: "expose to embedded workflows",
}
