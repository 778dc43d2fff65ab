"""The role × sharing table of F10, on in-memory rows (no database)."""

from __future__ import annotations

import pytest

from connections_app.core.connections.models import Connection, Scope, Sharing
from connections_app.core.tenancy.actor import Actor, Role
from connections_app.core.tenancy.policy import ALL_CONNECTION_OPS, Op, allowed_ops

A, W1, W2 = "acct", "ws1", "ws2"


def actor(
    role: Role | None,
    user: str = "me",
    ws: str | None = W1,
    account_admin: bool = False,
    account: str = A,
) -> Actor:
    return Actor(
        user_id=user,
        label=user,
        account_id=account,
        workspace_id=ws,
        role=role,
        is_account_admin=account_admin,
    )


def conn(
    sharing: Sharing = Sharing.USE,
    created_by: str = "someone",
    ws: str | None = W1,
    scope: Scope = Scope.WORKSPACE,
    authorized_by: str | None = None,
    embedded: bool = False,
) -> Connection:
    return Connection(
        account_id=A,
        workspace_id=ws,
        tenant_id=ws or A,
        scope=scope,
        app="stripe",
        label="x",
        label_key="x",
        stable_key="x",
        kind="api_key",
        sharing=sharing,
        created_by=created_by,
        authorized_by=authorized_by,
        embedded_enabled=embedded,
    )


USE = {Op.LIST, Op.VIEW, Op.USE, Op.TEST}
VIEW = USE | {Op.VIEW_CONFIG}
MANAGE = VIEW | {Op.UPDATE, Op.ROTATE, Op.DELETE, Op.REVOKE, Op.VIEW_AUDIT, Op.EMBED}


@pytest.mark.parametrize(
    ("role", "sharing", "expected"),
    [
        (Role.BUILDER, Sharing.USE, USE),
        (Role.BUILDER, Sharing.VIEW, VIEW),
        (Role.BUILDER, Sharing.MANAGE, MANAGE),
        (Role.BUILDER, Sharing.PERSONAL, set()),
        (Role.VIEWER, Sharing.USE, {Op.LIST, Op.VIEW}),
        (Role.VIEWER, Sharing.VIEW, {Op.LIST, Op.VIEW, Op.VIEW_CONFIG}),
        (Role.VIEWER, Sharing.MANAGE, {Op.LIST, Op.VIEW, Op.VIEW_CONFIG}),
        (Role.VIEWER, Sharing.PERSONAL, set()),
        (Role.ADMIN, Sharing.USE, set(ALL_CONNECTION_OPS)),
        (Role.ADMIN, Sharing.PERSONAL, set(ALL_CONNECTION_OPS) - {Op.USE, Op.EMBED}),
        (Role.CLIENT, Sharing.MANAGE, set()),
    ],
)
def test_sharing_levels(role: Role, sharing: Sharing, expected: set[Op]) -> None:
    assert set(allowed_ops(actor(role), conn(sharing))) == expected


def test_creator_manages_their_own_personal_connection() -> None:
    assert set(allowed_ops(actor(Role.BUILDER), conn(Sharing.PERSONAL, created_by="me"))) == set(
        ALL_CONNECTION_OPS
    )


def test_other_workspace_and_other_account_allow_nothing() -> None:
    assert allowed_ops(actor(Role.ADMIN, ws=W2), conn()) == frozenset()
    assert (
        allowed_ops(actor(Role.ADMIN, account="other", account_admin=True), conn()) == frozenset()
    )


def test_client_reaches_only_what_they_authorized() -> None:
    mine = conn(authorized_by="me")
    assert set(allowed_ops(actor(Role.CLIENT), mine)) == {
        Op.LIST,
        Op.VIEW,
        Op.ROTATE,
        Op.REVOKE,
        Op.USE,
    }
    assert allowed_ops(actor(Role.CLIENT), conn(authorized_by="other")) == frozenset()


def test_client_only_uses_what_the_workspace_exposes_to_embedded_workflows() -> None:
    exposed = conn(Sharing.MANAGE, embedded=True)
    assert set(allowed_ops(actor(Role.CLIENT), exposed)) == {Op.USE}
    assert allowed_ops(actor(Role.CLIENT, ws=W2), exposed) == frozenset()
    assert allowed_ops(actor(Role.CLIENT, account="other"), exposed) == frozenset()
    # the members' table does not change with the flag
    assert set(allowed_ops(actor(Role.BUILDER), exposed)) == MANAGE
    assert set(allowed_ops(actor(Role.VIEWER), exposed)) == {Op.LIST, Op.VIEW, Op.VIEW_CONFIG}


def test_only_manage_level_exposes_to_embedded_workflows() -> None:
    assert Op.EMBED not in allowed_ops(actor(Role.BUILDER), conn(Sharing.VIEW))
    assert Op.EMBED in allowed_ops(actor(Role.BUILDER), conn(Sharing.MANAGE))
    assert Op.EMBED not in allowed_ops(actor(Role.VIEWER), conn(Sharing.MANAGE))
    assert Op.EMBED not in allowed_ops(actor(Role.CLIENT), conn(authorized_by="me"))


def test_account_connections() -> None:
    shared = conn(ws=None, scope=Scope.ACCOUNT)
    assert set(allowed_ops(actor(Role.ADMIN, account_admin=True), shared)) == set(
        ALL_CONNECTION_OPS
    ) - {Op.EMBED}
    assert set(allowed_ops(actor(Role.ADMIN), shared)) == USE
    assert set(allowed_ops(actor(Role.BUILDER), shared)) == USE
    assert set(allowed_ops(actor(Role.VIEWER), shared)) == {Op.LIST, Op.VIEW}
    assert allowed_ops(actor(Role.CLIENT), shared) == frozenset()
