"""The core answers the questions screens ask (issue 11): what a person may do with a
connection now, which forms and sign-in an app offers, how a person is labelled, and
which field a clash is about. The UI renders these answers and decides nothing."""

from __future__ import annotations

import pytest

from connections_app.core.catalog import get_catalog
from connections_app.core.connections.models import Connection
from connections_app.core.connections.views import ConnectionActions
from connections_app.core.errors import Conflict
from connections_app.core.identity.service import SessionView, WorkspaceChoice
from connections_app.core.tenancy.actor import Actor, Role
from connections_app.core.tenancy.policy import allowed_ops

MANAGE = frozenset(
    {"list", "view", "view_config", "use", "test", "update", "rotate", "delete", "revoke"}
)
USE = frozenset({"list", "view", "use", "test"})
CLIENT_OWN = frozenset({"list", "view", "rotate", "revoke"})


def _decide(allowed: frozenset[str], kind: str, status: str = "active") -> ConnectionActions:
    return ConnectionActions.decide(allowed=allowed, kind=kind, status=status)


def test_a_key_is_rotated_or_revoked_never_reconnected_or_refreshed() -> None:
    acts = _decide(MANAGE, "api_key")
    assert acts.rotate and acts.edit and acts.delete and acts.set_test_credentials
    assert acts.revoke  # F24: whoever entered it may withdraw it
    assert not (acts.reconnect or acts.refresh)
    assert not _decide(MANAGE, "api_key", status="revoked").revoke
    assert acts.see_settings and not acts.see_history
    assert _decide(MANAGE | {"view_audit"}, "api_key").see_history


def test_a_sign_in_is_reconnected_refreshed_and_revoked_never_rotated() -> None:
    acts = _decide(MANAGE, "oauth2")
    assert acts.reconnect and acts.refresh and acts.revoke and not acts.rotate
    assert not acts.set_test_credentials


@pytest.mark.parametrize(
    ("status", "refresh", "revoke"),
    [("active", True, True), ("error", False, True), ("revoked", False, False)],
)
def test_status_decides_refresh_and_revoke(status: str, refresh: bool, revoke: bool) -> None:
    acts = _decide(MANAGE, "oauth2", status=status)
    assert (acts.refresh, acts.revoke) == (refresh, revoke)


def test_an_account_sign_in_is_reconnected_by_account_admins_not_by_granted_workspaces() -> None:
    conn = Connection(
        account_id="acct",
        workspace_id=None,
        tenant_id="acct",
        scope="account",
        app="slack",
        label="Slack (agency)",
        label_key="slack (agency)",
        stable_key="slack-agency",
        kind="oauth2",
        status="active",
    )

    def acts(actor: Actor) -> ConnectionActions:
        allowed = frozenset(str(op) for op in allowed_ops(actor, conn))
        return _decide(allowed, "oauth2")

    admin = Actor("u1", "Ada", "acct", "ws1", Role.ADMIN, is_account_admin=True)
    assert acts(admin).reconnect and acts(admin).revoke
    for role in (Role.ADMIN, Role.BUILDER, Role.VIEWER):
        member = acts(Actor("u2", "Wes", "acct", "ws1", role))
        assert not (member.reconnect or member.refresh or member.revoke or member.delete)


def test_use_level_may_test_and_nothing_else() -> None:
    acts = _decide(USE, "api_key")
    assert acts == ConnectionActions(test=True)


def test_a_client_reconnects_and_revokes_their_own_sign_in_only() -> None:
    acts = _decide(CLIENT_OWN, "oauth2")
    assert acts.reconnect and acts.revoke and not (acts.edit or acts.delete or acts.test)


def test_the_catalog_says_which_forms_and_sign_in_an_app_offers() -> None:
    catalog = get_catalog()
    github, paypal, stripe = catalog.get("github"), catalog.get("paypal"), catalog.get("stripe")
    assert [m.kind for m in github.form_methods] == ["api_key"] and github.offers_sign_in
    # Client credentials: the core fetches the token itself, so a form creates it.
    assert [m.kind for m in paypal.form_methods] == ["oauth2"] and not paypal.offers_sign_in
    assert [m.kind for m in stripe.form_methods] == ["api_key"] and not stripe.offers_sign_in


def _view(role: Role | None, *, account_admin: bool = False) -> SessionView:
    actor = Actor(
        user_id="u1",
        label="Ada",
        account_id="a1",
        workspace_id="w1" if role else None,
        role=role,
        is_account_admin=account_admin,
    )
    choice = WorkspaceChoice("w1", "a1", "Ops", "Acme", str(role or "admin"))
    return SessionView("u1", "ada@example.test", "Ada", actor, [choice])


@pytest.mark.parametrize(
    ("role", "account_admin", "label", "admin", "build", "add", "wide"),
    [
        (Role.ADMIN, True, "Account admin", True, True, True, True),
        (Role.ADMIN, False, "Workspace admin", True, True, True, True),
        (Role.BUILDER, False, "Builder", False, True, True, True),
        (Role.VIEWER, False, "Viewer", False, False, False, False),
        # F32: a client builds its own workflows in the portal, nothing workspace-wide
        (Role.CLIENT, False, "Client", False, True, False, False),
    ],
)
def test_the_session_view_labels_the_person_and_says_what_they_may(
    role: Role, account_admin: bool, label: str, admin: bool, build: bool, add: bool, wide: bool
) -> None:
    view = _view(role, account_admin=account_admin)
    assert view.role_label == label
    assert (
        view.is_workspace_admin,
        view.may_build,
        view.may_add_connection,
        view.may_change_workspace_wide,
    ) == (admin, build, add, wide)


def test_a_clash_names_its_field() -> None:
    assert Conflict("taken", field="stable_key").field == "stable_key"
    assert Conflict("concurrent change").field is None
