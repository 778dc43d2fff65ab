"""Details panel, Edit, Rotate and Delete for one connection.

Every handler takes the connection id as hostile input and asks the core (through
`_as_actor`, as the signed-in person, off the event loop), which answers not-found
for anything outside the caller's workspace and refuses what the caller's role and
the connection's sharing level do not allow. The panel holds read-models only
(typed rows from `rows.py`): configuration values the caller may see, the masked
tail, health figures, usages, audit lines and the core's `ConnectionActions`. New
secrets typed into Rotate are read once in `submit` and handed to the service.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import reflex as rx
from sqlmodel import Session

from connections_app.core import audit_log, guard
from connections_app.core.catalog import get_catalog
from connections_app.core.connections import embedded
from connections_app.core.connections import service as connections
from connections_app.core.connections.views import (
    ConnectionActions,
    ConnectionView,
    Health,
    Usage,
)
from connections_app.core.errors import DomainError
from connections_app.core.settings import get_settings
from connections_app.core.tenancy.actor import Actor
from connections_app.ui.formatting import SHARING_LABELS
from connections_app.ui.states.core_call import Answer, Work
from connections_app.ui.states.rows import (
    AuditRow,
    ConnectionSummary,
    FieldRow,
    Pair,
    UsageRow,
    audit_rows,
    config_pairs,
    connection_summary,
    health_pairs,
    masked,
    secret_inputs,
    settings_inputs,
    usage_rows,
)
from connections_app.ui.states.session import SessionState

log = logging.getLogger(__name__)
HISTORY_PAGE = 8
GONE = "That connection no longer exists or is not available to you."


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


def _destination_note(view: ConnectionView) -> str:
    method = get_catalog().get(view.app).auth_method(view.kind)
    names = [f.label for f in method.destination_fields]
    if not names:
        return ""
    fields = " or ".join(names)
    if view.via_sign_in:
        return (
            f"Changing {fields} disconnects this connection: its tokens are never sent to "
            "other endpoints. Reconnect afterwards."
        )
    secrets = " and ".join(f.label for f in method.secret_fields)
    return (
        f"The stored {secrets} is sent only where it was entered for. If you change "
        f"{fields}, it is cleared: enter it again here, or later with Rotate."
    )


@dataclass(frozen=True)
class _Panel:
    """Everything the details panel shows, read in one worker-thread call."""

    view: ConnectionView
    health: Health
    usages: list[Usage]
    history: audit_log.AuditPage | None


ACCOUNT_SCREENS = ("/account/connections", "/llm-keys")


def _read_panel(
    db: Session, actor: Actor, connection_id: str, history_page: int, account_screen: bool = False
) -> _Panel:
    """`account_screen`: opened on the account's screens, where an account connection is
    the account's own rather than "granted by" it."""
    view = connections.get(
        db, actor=actor, connection_id=connection_id, account_screen=account_screen
    )
    health = connections.health(db, actor=actor, connection_id=connection_id)
    found = connections.usages(db, actor=actor, connection_id=connection_id)
    try:
        history = audit_log.connection_history(
            db, actor=actor, connection_id=connection_id, page=history_page, page_size=HISTORY_PAGE
        )
    except DomainError:
        history = None
    return _Panel(view, health, found, history)


class DetailsState(SessionState):
    open: bool = False
    connection_id: str = ""
    summary: ConnectionSummary = ConnectionSummary()
    config_rows: list[Pair] = []
    config_hidden: bool = False
    health_rows: list[Pair] = []
    usages: list[UsageRow] = []
    history: list[AuditRow] = []
    history_total: int = 0
    history_page: int = 1
    history_hidden: bool = False
    # What this person may do with it now: the core decides (role × sharing × kind × status).
    actions: ConnectionActions = ConnectionActions()
    testing: bool = False
    error: str = ""

    def _show(self, panel: _Panel) -> None:
        view = panel.view
        self.connection_id = view.id
        self.actions = view.actions
        self.summary = connection_summary(view, panel.health, get_settings().api_url)
        self.config_hidden = view.config is None
        self.config_rows = config_pairs(view)
        self.health_rows = health_pairs(view, panel.health)
        self.usages = usage_rows(panel.usages)
        self.history_hidden = panel.history is None
        self.history = audit_rows(panel.history) if panel.history else []
        self.history_total = panel.history.total if panel.history else 0

    async def _read(self, connection_id: str, *, ref: str | None = None) -> Answer[_Panel]:
        page = self.history_page
        on_account = (self.router.url.path or "").rstrip("/") in ACCOUNT_SCREENS
        return await self._as_actor(
            lambda db, actor: _read_panel(db, actor, connection_id, page, on_account),
            write=False,
            ref=ref,
        )

    async def _open_or_fail(self, connection_id: Any) -> Any:
        conn_id = _id(connection_id)
        if conn_id is None:
            self.open = False
            return rx.toast.error(GONE)
        answer = await self._read(conn_id)
        if answer.value is None:
            self.open = False
            return self._failed(answer) if not answer.gone else rx.toast.error(GONE)
        self._show(answer.value)
        self.open = True
        return None

    async def _on_workspace_change(self) -> None:
        """An open panel follows changes made elsewhere; a deleted connection closes it."""
        if not (self.open and self.connection_id):
            return
        answer = await self._read(self.connection_id)
        if answer.value is not None:
            self._show(answer.value)
        elif answer.gone or answer.signed_out:
            self.open = False

    @rx.event
    async def show(self, connection_id: Any) -> Any:
        self.history_page = 1
        self.error, self.testing = "", False
        return await self._open_or_fail(connection_id)

    @rx.event
    def open_changed(self, value: Any) -> None:
        if value is False:
            self.open = False

    @rx.event
    async def history_next(self) -> Any:
        if self.history_page * HISTORY_PAGE < self.history_total:
            self.history_page += 1
        return await self._open_or_fail(self.connection_id)

    @rx.event
    async def history_previous(self) -> Any:
        self.history_page = max(1, self.history_page - 1)
        return await self._open_or_fail(self.connection_id)

    @rx.event
    async def switch_embedded(self, value: Any) -> Any:
        """The "Use for embedded workflows" switch (F32); the core checks manage level
        and scope, and its audit event updates every open screen of the workspace."""
        conn_id, wanted = _id(self.connection_id), value
        if conn_id is None or not self.open:
            return None
        answer = await self._as_actor(
            lambda db, actor: embedded.set_embedded(
                db, actor=actor, connection_id=conn_id, enabled=wanted
            )
        )
        if answer.signed_out:
            return self._sign_in_redirect()
        if answer.value is None:
            return rx.toast.error(GONE if answer.gone else answer.message)
        panel = await self._read(conn_id)
        if panel.value is not None:
            self._show(panel.value)
        on = answer.value.embedded_enabled
        return rx.toast.success(
            "Clients can now use it in their workflows."
            if on
            else "Withdrawn: clients can no longer pick it."
        )

    @rx.event(background=True)
    async def run_test(self, connection_id: Any) -> Any:
        conn_id = _id(connection_id)
        async with self:
            if self.testing or conn_id is None:
                return None
            self.testing = True
            ref = self._session_ref()
        try:
            answer = await self._as_actor(
                lambda db, actor: connections.test(db, actor=actor, connection_id=conn_id),
                ref=ref,
            )
        except Exception as err:  # the panel must never stay "testing" whatever happened
            log.warning("connection test failed: %s", type(err).__name__)
            answer = Answer(message="The test could not be completed. Try again.")
        panel = await self._read(conn_id, ref=ref) if answer.ok else None
        async with self:
            self.testing = False
            result = answer.value
            if result is None:
                if answer.signed_out:
                    return self._sign_in_redirect()
                return rx.toast.error(GONE if answer.gone else answer.message)
            # The verdict is shown once, in the panel's notice (recorded by the core).
            if panel is not None and panel.value and self.open and self.connection_id == conn_id:
                self._show(panel.value)
        return None


async def _fetch_for(
    state: SessionState, connection_id: Any, action: str, denied: str
) -> tuple[ConnectionView | None, Any]:
    """Load a connection a dialog is about to act on, or the event that says why not.

    `action` names the view's `ConnectionActions` that open it (`a|b`: either); it only
    decides whether to open the dialog: the service checks again on submit.
    """
    conn_id = _id(connection_id)
    if conn_id is None:
        return None, rx.toast.error(GONE)
    answer = await state._as_actor(
        lambda db, actor: connections.get(db, actor=actor, connection_id=conn_id), write=False
    )
    view = answer.value
    if view is None or answer.me is None or answer.me.actor is None:
        return None, state._failed(answer)
    if not any(getattr(view.actions, name) for name in action.split("|")):
        guard.record_refusal(
            answer.me.actor,
            f"open the {action.split('|')[0]} dialog",
            target_type="connection",
            target_id=view.id,
        )
        return None, rx.toast.error(denied)
    return view, None


async def _spending(
    state: SessionState, work: Work[ConnectionView], *typed: dict[str, Any]
) -> Answer[ConnectionView]:
    """Hand freshly typed secrets to the core; they are gone from here afterwards,
    whatever the answer."""
    try:
        return await state._as_actor(work)
    finally:
        for values in typed:
            values.clear()


class EditState(SessionState):
    open: bool = False
    connection_id: str = ""
    label: str = ""
    sharing: str = "use"
    is_account: bool = False
    fields: list[FieldRow] = []
    # Descriptors of the inputs that re-enter a credential for a new destination (the
    # inputs are uncontrolled: their values are read once on submit, never stored).
    reentry_inputs: list[FieldRow] = []
    destination_note: str = ""
    # F28: optional test credentials (uncontrolled inputs `cx_test__<name>`, like the above).
    test_inputs: list[FieldRow] = []
    error: str = ""
    error_field: str = ""
    form_key: int = 0

    @rx.event
    async def show(self, connection_id: Any) -> Any:
        view, refusal = await _fetch_for(
            self, connection_id, "edit", "Your role does not allow you to edit this connection."
        )
        if view is None:
            return refusal
        self.connection_id, self.label, self.sharing = view.id, view.label, view.sharing
        self.is_account = view.scope == "account"
        self.fields = settings_inputs(view)
        self.destination_note = _destination_note(view)
        self.reentry_inputs = (
            secret_inputs(view) if self.destination_note and not view.via_sign_in else []
        )
        # F28: test credentials next to the settings, where the core allows them.
        self.test_inputs = secret_inputs(view) if view.actions.set_test_credentials else []
        self.error = self.error_field = ""
        self.form_key += 1
        self.open = True
        return None

    @rx.event
    def open_changed(self, value: Any) -> None:
        if value is False:
            self.open = False

    @rx.event
    async def submit(self, form: dict) -> Any:
        if not isinstance(form, dict) or not self.connection_id:
            return None
        names = {f.name for f in self.fields}
        config = {k: v for k, v in form.items() if k in names}
        secret_names = {f.name for f in self.reentry_inputs}
        secrets = {k: v for k, v in form.items() if k in secret_names and v not in ("", None)}
        test_names = {"cx_test__" + f.name: f.name for f in self.test_inputs}
        test_secrets = {test_names[k]: v for k, v in form.items() if k in test_names and v}
        label, sharing = form.get("cx_label"), form.get("cx_sharing") or None
        del form  # typed secrets live on only in `secrets`/`test_secrets`, until the core has them
        conn_id = self.connection_id
        answer = await _spending(
            self,
            lambda db, actor: connections.update(
                db,
                actor=actor,
                connection_id=conn_id,
                label=label,
                sharing=sharing,
                config=config or None,
                secrets=secrets or None,
                test_secrets=test_secrets or None,
            ),
            secrets,
            test_secrets,
        )
        view = answer.value
        if view is None:
            if answer.signed_out:
                return self._sign_in_redirect()
            self.error, self.error_field = answer.message, answer.field
            # Re-mount the form with the non-secret values as typed: the browser forgets
            # what was typed into the secret inputs, nothing else.
            if isinstance(label, str):
                self.label = label[:120]
            self.fields = [
                replace(f, default=str(config.get(f.name, f.default))[:512]) for f in self.fields
            ]
            if isinstance(sharing, str) and sharing in SHARING_LABELS:
                self.sharing = sharing
            self.form_key += 1
            return None
        self.open = False
        self.form_key += 1
        if view.awaits_setup:
            return rx.toast.warning(f"Saved “{view.label}”. {view.status_reason}")
        return rx.toast.success(f"Saved “{view.label}”.")


class RotateState(SessionState):
    open: bool = False
    connection_id: str = ""
    label: str = ""
    masked_tail: str = ""
    # F28: which credential set is replaced: "live", or "test" (used by test-mode runs).
    purpose: str = "live"
    test_masked_tail: str = ""
    can_set_test: bool = False  # the core's `set_test_credentials`
    fields: list[FieldRow] = []
    oauth: bool = False
    error: str = ""
    form_key: int = 0
    busy: bool = False

    @rx.event
    async def show(self, connection_id: Any) -> Any:
        view, refusal = await _fetch_for(
            self,
            connection_id,
            "rotate|reconnect",
            "Your role does not allow you to rotate this credential.",
        )
        if view is None:
            return refusal
        self.connection_id, self.label = view.id, view.label
        self.masked_tail = masked(view)
        self.test_masked_tail = f"••••{view.test_masked_tail}" if view.test_masked_tail else ""
        self.purpose = "live"
        self.can_set_test = view.actions.set_test_credentials
        self.oauth = view.via_sign_in
        self.fields = [] if self.oauth else secret_inputs(view)
        self.error = ""
        self.busy = False
        self.form_key += 1
        self.open = True
        return None

    @rx.event
    def open_changed(self, value: Any) -> None:
        if value is False and not self.busy:
            self.open = False
            self.form_key += 1

    @rx.event
    async def submit(self, form: dict) -> Any:
        if not isinstance(form, dict) or not self.connection_id or self.oauth:
            return None
        names = {f.name for f in self.fields}
        secrets = {k: v for k, v in form.items() if k in names and v not in ("", None)}
        del form
        conn_id, purpose = self.connection_id, self.purpose
        answer = await _spending(
            self,
            lambda db, actor: connections.rotate(
                db, actor=actor, connection_id=conn_id, secrets=secrets, purpose=purpose
            ),
            secrets,
        )
        view = answer.value
        if view is None:
            if answer.signed_out:
                return self._sign_in_redirect()
            self.error = answer.message
            return None
        self.open = False
        self.form_key += 1
        done = (
            f"Test credential of “{view.label}” set; test-mode runs use it."
            if self.purpose == "test"
            else f"Credential of “{view.label}” replaced. The old one is gone; "
            "every node uses the new one from its next request."
        )
        return rx.toast.success(done)

    @rx.event
    def choose_purpose(self, value: Any) -> None:
        if value in ("live", "test") and not self.busy:
            self.purpose = value
            self.error = ""


class DeleteState(SessionState):
    open: bool = False
    connection_id: str = ""
    label: str = ""
    usages: list[UsageRow] = []
    error: str = ""

    @rx.event
    async def show(self, connection_id: Any) -> Any:
        view, refusal = await _fetch_for(
            self, connection_id, "delete", "Your role does not allow you to delete this connection."
        )
        if view is None:
            return refusal
        answer = await self._as_actor(
            lambda db, actor: connections.usages(db, actor=actor, connection_id=view.id),
            write=False,
        )
        if answer.value is None:
            return self._failed(answer)
        self.connection_id, self.label = view.id, view.label
        self.usages = usage_rows(answer.value)
        self.error = ""
        self.open = True
        return None

    @rx.event
    def open_changed(self, value: Any) -> None:
        if value is False:
            self.open = False

    @rx.event
    async def confirm(self) -> Any:
        if not self.connection_id:
            return None
        conn_id = self.connection_id
        answer = await self._as_actor(
            lambda db, actor: connections.delete(db, actor=actor, connection_id=conn_id)
        )
        result = answer.value
        if result is None:
            if answer.signed_out:
                return self._sign_in_redirect()
            if answer.gone:
                self.open = False
                return rx.toast.error(GONE)
            self.error = answer.message
            return None
        self.open = False
        self.connection_id = ""
        broken = len(result.broken_usages)
        suffix = f" {broken} node(s) now show a missing connection." if broken else ""
        # The open list and the details panel (which closes) follow the workspace hook.
        return rx.toast.success(f"Deleted “{result.label}”.{suffix}")
