"""What Reflex state may hold and which handlers a browser may call.

Reflex sends every public field to the browser and pickles every field (backend
`_vars` too) in plain text, and any client can call any handler by name. These
tests pin both: no field whose name suggests a secret, and no handler that was
not reviewed (a new one must be added here on purpose).
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
import typing

import reflex as rx

import connections_app.ui.states as states_package
from connections_app.ui.states.account_connections import AccountConnectionsState, LlmKeysState
from connections_app.ui.states.account_deletion import AccountDeletionState
from connections_app.ui.states.add_connection import AddConnectionState
from connections_app.ui.states.audit_log import AuditLogState
from connections_app.ui.states.builder import BuilderState
from connections_app.ui.states.client_people import ClientPeopleState
from connections_app.ui.states.connect_link import ConnectLinkState
from connections_app.ui.states.connect_link_admin import ConnectLinkAdminState
from connections_app.ui.states.connection_details import (
    DeleteState,
    DetailsState,
    EditState,
    RotateState,
)
from connections_app.ui.states.connections_list import ConnectionListState
from connections_app.ui.states.node_panel import NodePanelState
from connections_app.ui.states.not_found import NotFoundState
from connections_app.ui.states.oauth_apps import OAuthAppsState
from connections_app.ui.states.oauth_connect import OAuthConnectState
from connections_app.ui.states.portal import PortalActivityState, PortalState
from connections_app.ui.states.portal_requests import PortalRequestsState
from connections_app.ui.states.reauth_banner import ReauthBannerState
from connections_app.ui.states.rows import ConnectionRow, StepRow
from connections_app.ui.states.runs import RunsState
from connections_app.ui.states.session import SessionState
from connections_app.ui.states.sign_in import SignInState
from connections_app.ui.states.workspace_signal import AccountSignal, WorkspaceSignal
from connections_app.ui.states.workspaces import WorkspacesState

SECRET_WORDS = re.compile(
    r"secret|password|passwd|token|cipher|credential|dsn|api_?key|private|cookie|plain", re.I
)

SESSION = {
    "setvar",
    "load_session",
    "load_session_home",
    "switch_workspace",
    "leave_workspace",
}
LIST = SESSION | {
    "load",
    "search_changed",
    "filter_changed",
    "clear_filters",
    "next_page",
    "previous_page",
}
# The account's screens (F9, F25): every id argument goes to the core, which answers
# not-found for anything not the account admin's own (tests/integration/test_grants.py).
ACCOUNT = LIST | {
    "dialog_changed",
    "open_grant",
    "submit_grant",
    "open_cap",
    "submit_cap",
    "clear_cap",
    "ask_remove",
    "confirm_remove",
}
REVIEWED_HANDLERS: dict[type[rx.State], set[str]] = {
    SessionState: SESSION,
    SignInState: {"setvar", "load"},
    NotFoundState: {"setvar", "load"},
    ConnectionListState: LIST,
    AccountConnectionsState: ACCOUNT,
    LlmKeysState: ACCOUNT,
    # F24: no id argument at all; the core answers clients only (test_portal.py).
    PortalState: SESSION | {"load", "next_page", "previous_page"},
    PortalActivityState: SESSION | {"load", "next_page", "previous_page"},
    # Connect links (F24): every id and form value goes to `core/connections/connect_links`,
    # which resolves it for the signed-in person (tests/integration/test_connect_link_handlers.py).
    ConnectLinkState: SESSION | {"load", "submit"},
    # Invitations (F24): ids go to the core, which answers not-found for anything not
    # this workspace's (tests/integration/test_client_people_handlers.py).
    ClientPeopleState: SESSION
    | {
        "load",
        "open_invite",
        "invite_open_changed",
        "invite",
        "ask_revoke",
        "revoke_open_changed",
        "confirm_revoke",
    },
    ConnectLinkAdminState: SESSION
    | {
        "load",
        "open_request",
        "request_open_changed",
        "submit_request",
        "ask_revoke",
        "revoke_open_changed",
        "confirm_revoke",
    },
    PortalRequestsState: SESSION | {"load"},
    # Workspace deletion (F7): the id and the typed name go to the core, which answers
    # not-found for another account's workspace (tests/integration/test_workspace_deletion.py).
    WorkspacesState: SESSION
    | {"load", "open_delete", "delete_open_changed", "typed_changed", "confirm_delete"},
    # Account deletion: no id at all (the session's own account); the typed name is
    # checked again in the core (tests/integration/test_account_deletion.py).
    AccountDeletionState: SESSION
    | {"open_delete", "delete_open_changed", "typed_changed", "confirm_delete"},
    AddConnectionState: SESSION
    | {
        "open_dialog",
        "open_changed",
        "search_apps",
        "pick_app",
        "back_to_catalog",
        "choose_kind",
        "label_changed",
        "submit",
        "open_for_node",
        "open_for_account",
        "dismiss_question",
        "choose_provider",
    },
    DetailsState: SESSION
    | {"show", "open_changed", "history_next", "history_previous", "run_test", "switch_embedded"},
    EditState: SESSION | {"show", "open_changed", "submit"},
    RotateState: SESSION | {"show", "open_changed", "submit", "choose_purpose"},
    DeleteState: SESSION | {"show", "open_changed", "confirm"},
    AuditLogState: SESSION | {"load", "change_filter", "clear", "next_page", "previous_page"},
    OAuthConnectState: SESSION
    | {"finished", "refresh_now", "ask_revoke", "revoke_open_changed", "confirm_revoke"},
    ReauthBannerState: SESSION | {"load", "toggle"},
    WorkspaceSignal: {"setvar"},
    AccountSignal: {"setvar"},
    BuilderState: SESSION
    | {
        "load",
        "select",
        "open_create",
        "create_open_changed",
        "create",
        "open_rename",
        "rename_open_changed",
        "rename",
        "open_delete",
        "delete_open_changed",
        "confirm_delete",
        "open_add",
        "add_open_changed",
        "choose_action",
        "add_node",
        "move",
        "ask_remove",
        "remove_open_changed",
        "confirm_remove",
        "run",
        "retry",
        "export",
        "open_import",
        "import_open_changed",
        "import_document",
    },
    NodePanelState: SESSION
    | {
        "open_panel",
        "open_changed",
        "open_added",
        "search_changed",
        "next_page",
        "previous_page",
        "pick",
        "clear_connection",
        "save_params",
        "open_switch",
        "switch_open_changed",
        "switch_search_changed",
        "switch_all",
    },
    RunsState: SESSION | {"load", "next_page", "previous_page"},
    OAuthAppsState: SESSION
    | {
        "load",
        "open_new",
        "choose_app",
        "open_edit",
        "editor_open_changed",
        "submit",
        "ask_rotate",
        "rotate_open_changed",
        "rotate",
        "ask_delete",
        "delete_open_changed",
        "confirm_delete",
    },
}


def _our_states() -> list[type[rx.State]]:
    """Every state of the app, whichever tests ran before (each module imported here)."""
    for module in pkgutil.iter_modules(states_package.__path__):
        importlib.import_module(f"{states_package.__name__}.{module.name}")
    found: list[type[rx.State]] = []
    pending = list(rx.State.get_substates())
    while pending:
        cls = pending.pop()
        if cls.__module__.startswith("connections_app."):
            found.append(cls)
        pending.extend(cls.get_substates())
    return found


def _all_field_names(cls: type[rx.State]) -> set[str]:
    names = set(cls.base_vars) | set(cls.computed_vars) | set(cls._backend_vars or {})
    names |= {n for n in getattr(cls, "__annotations__", {}) if not n.startswith("__")}
    return names


def test_every_state_is_reviewed() -> None:
    assert set(_our_states()) == set(REVIEWED_HANDLERS)


def test_no_state_field_is_named_like_a_secret() -> None:
    for cls in _our_states():
        offending = sorted(n for n in _all_field_names(cls) if SECRET_WORDS.search(n))
        assert not offending, f"{cls.__name__} has secret-like fields {offending}"


PLAIN = (str, int, bool)


def _plain(tp: object) -> bool:
    """Strings, numbers, booleans; string dicts; lists and str-keyed dicts of plain
    things; and frozen dataclasses (typed rows, the core's `ConnectionActions`) whose
    fields are all plain. Nothing else: no ORM rows or objects that could drag a
    secret or ciphertext along into the pickle."""
    if tp in PLAIN:
        return True
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list:
        return _plain(args[0])
    if origin is dict:
        return args[0] is str and _plain(args[1])
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        frozen = tp.__dataclass_params__.frozen  # type: ignore[attr-defined]
        hints = typing.get_type_hints(tp)
        return frozen and all(_plain(hints[f.name]) for f in dataclasses.fields(tp))
    return False


def test_the_plain_check_refuses_what_could_carry_a_secret() -> None:
    @dataclasses.dataclass(frozen=True)
    class Sneaky:
        label: str
        row: object

    @dataclasses.dataclass
    class Mutable:
        label: str

    for bad in (object, bytes, Sneaky, Mutable, list[object], dict[int, str]):
        assert not _plain(bad), bad
    assert _plain(ConnectionRow) and _plain(dict[str, list[StepRow]])


def test_state_fields_are_plain_read_models() -> None:
    for cls in _our_states():
        for name, var in cls.base_vars.items():
            assert _plain(var._var_type), f"{cls.__name__}.{name}: {var._var_type}"
        assert not cls._backend_vars, f"{cls.__name__} has backend vars {cls._backend_vars}"


def _callable_handlers(cls: type[rx.State]) -> set[str]:
    """Handlers defined on the class or inherited from our own base states."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if isinstance(klass, type) and issubclass(klass, rx.State):
            names |= set(klass.event_handlers)
    return names - set(rx.State.event_handlers) | {"setvar"}


def test_only_reviewed_handlers_are_callable() -> None:
    for cls, expected in REVIEWED_HANDLERS.items():
        assert _callable_handlers(cls) == expected, cls.__name__


def test_no_auto_setters() -> None:
    """`setvar(name, value)` only works through a `set_<name>` handler; none exist."""
    assert rx.config.get_config().state_auto_setters is False
    for cls in _our_states():
        assert not [h for h in cls.event_handlers if h.startswith("set_")], cls.__name__
