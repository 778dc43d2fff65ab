"""Details panel, Edit, Rotate and Delete for one connection.

Every handler takes the connection id as hostile input and asks the core, which
answers not-found for anything outside the caller's workspace and refuses what
the caller's role and the connection's sharing level do not allow. The panel
holds read-models only: configuration values the caller may see, the masked tail,
health figures, usages and audit lines. New secrets typed into Rotate are read
once in `submit_rotate` and handed to the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import urlencode

import reflex as rx

from connections_app.core import audit_log, guard
from connections_app.core.catalog import get_catalog
from connections_app.core.connections import service as connections
from connections_app.core.connections.views import ConnectionView, TestResult
from connections_app.core.db import read_scope, session_scope
from connections_app.core.errors import DomainError, Invalid, NotFound, Unauthenticated
from connections_app.core.settings import get_settings
from connections_app.core.tenancy import Actor
from connections_app.ui.formatting import SHARING_LABELS, exact, expiry, when
from connections_app.ui.states.connections_list import ConnectionListState
from connections_app.ui.states.session import SessionState

log = logging.getLogger(__name__)
HISTORY_PAGE = 8
_GONE = "That connection no longer exists or is not available to you."


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


def _config_rows(view: ConnectionView) -> list[dict[str, str]]:
    if view.config is None:
        return []
    labels: dict[str, str] = {}
    try:
        app = get_catalog().get(view.app)
        method = app.auth_method(view.kind)
        labels = {f.name: f.label for f in method.config_fields}
    except (Invalid, KeyError, ValueError):
        pass
    return [{"label": labels.get(k, k), "value": str(v)} for k, v in sorted(view.config.items())]


def _history_rows(page: audit_log.AuditPage) -> list[dict[str, str]]:
    return [
        {
            "when": when(e.at),
            "exact": exact(e.at),
            "actor": e.actor,
            "action": e.action_label,
            "outcome": e.outcome,
            "summary": e.summary,
        }
        for e in page.items
    ]


def _secret_field_rows(view: ConnectionView) -> list[dict[str, str]]:
    app = get_catalog().get(view.app)
    method = app.auth_method(view.kind)
    return [
        {"name": f.name, "label": f.label, "placeholder": f.placeholder, "help": f.help}
        for f in method.secret_fields
    ]


def _edit_field_rows(view: ConnectionView) -> list[dict[str, str]]:
    """Settings as the Edit form shows them; the catalog says which are destinations."""
    app = get_catalog().get(view.app)
    method = app.auth_method(view.kind)
    config = view.config or {}
    return [
        {
            "name": f.name,
            "label": f.label,
            "value": str(config.get(f.name, "")),
            "placeholder": f.placeholder,
            "help": (f.help + " " if f.help else "")
            + ("Changing it clears the stored credential." if f.destination else ""),
            "destination": "1" if f.destination else "",
        }
        for f in method.config_fields
    ]


def _destination_note(view: ConnectionView) -> str:
    method = get_catalog().get(view.app).auth_method(view.kind)
    names = [f.label for f in method.destination_fields]
    if not names:
        return ""
    fields = " or ".join(names)
    if view.kind == "oauth2":
        return (
            f"Changing {fields} disconnects this connection: its tokens are never sent to "
            "other endpoints. Reconnect afterwards."
        )
    secrets = " and ".join(f.label for f in method.secret_fields)
    return (
        f"The stored {secrets} is sent only where it was entered for. If you change "
        f"{fields}, it is cleared: enter it again here, or later with Rotate."
    )


class DetailsState(SessionState):
    open: bool = False
    connection_id: str = ""
    summary: dict[str, str] = {}
    config_rows: list[dict[str, str]] = []
    config_hidden: bool = False
    health_rows: list[dict[str, str]] = []
    usages: list[dict[str, str]] = []
    history: list[dict[str, str]] = []
    history_total: int = 0
    history_page: int = 1
    history_hidden: bool = False
    allowed: str = ""
    testing: bool = False
    error: str = ""

    def _load(self, actor: Actor, connection_id: str) -> None:
        with read_scope() as db:
            view = connections.get(db, actor=actor, connection_id=connection_id)
            health = connections.health(db, actor=actor, connection_id=connection_id)
            found = connections.usages(db, actor=actor, connection_id=connection_id)
            try:
                history = audit_log.connection_history(
                    db,
                    actor=actor,
                    connection_id=connection_id,
                    page=self.history_page,
                    page_size=HISTORY_PAGE,
                )
            except DomainError:
                history = None
        self.connection_id = view.id
        self.allowed = " ".join(sorted(view.allowed))
        self.summary = {
            "label": view.label,
            "app_name": view.app_name,
            "app_icon": view.app_icon,
            "kind": view.kind,
            "status": view.status,
            "status_reason": view.status_reason or "",
            "notice": health.notice or "",
            "notice_ok": "1" if health.notice_ok else "",
            "sharing": view.sharing,
            "sharing_label": SHARING_LABELS.get(view.sharing, view.sharing),
            "stable_key": view.stable_key,
            "masked_tail": f"••••{view.masked_tail}" if view.masked_tail else "••••",
            "test_tail": (
                f"••••{view.test_masked_tail}"
                if view.test_masked_tail
                else ("set" if view.has_test_credentials else "none")
            ),
            "scope": "Granted by the account" if view.granted else "This workspace",
            "created": exact(view.created_at),
            "updated": exact(view.updated_at),
            "external": view.external_name or view.external_identity or "",
            "reconnect_url": (
                f"{get_settings().api_url}/oauth/start?"
                + urlencode({"app": view.app, "target": view.id})
                if view.kind == "oauth2" and view.scope == "workspace"
                else ""
            ),
        }
        self.config_hidden = view.config is None
        self.config_rows = _config_rows(view)
        self.health_rows = [
            {"label": "Status", "value": view.status.capitalize()},
            {"label": "Last successful use", "value": when(health.last_success_at)},
            {"label": "Last used", "value": when(health.last_used_at)},
            {"label": "Uses", "value": str(view.use_count)},
            {
                "label": "Last test",
                "value": (
                    "Never tested"
                    if health.last_tested_at is None
                    else f"{when(health.last_tested_at)} · "
                    + ("passed" if health.last_test_ok else "failed")
                ),
            },
            {
                "label": "Token expiry",
                "value": expiry(health.token_expires_at) or "Does not expire",
            },
            {"label": "Failures in the last 24 h", "value": str(health.failures_24h)},
        ]
        self.usages = [
            {"workflow": u.workflow_name, "node": u.node_label, "workflow_id": u.workflow_id}
            for u in found
        ]
        self.history_hidden = history is None
        self.history = _history_rows(history) if history else []
        self.history_total = history.total if history else 0

    def _open_or_fail(self, connection_id: Any) -> Any:
        conn_id = _id(connection_id)
        try:
            actor = self._actor()
            if conn_id is None:
                raise NotFound(_GONE)
            self._load(actor, conn_id)
        except Unauthenticated:
            return self._sign_in_redirect()
        except NotFound:
            self.open = False
            return [ConnectionListState.refresh, rx.toast.error(_GONE)]
        except DomainError as err:
            self.open = False
            return rx.toast.error(str(err))
        self.open = True
        return None

    def _on_workspace_change(self) -> None:
        """An open panel follows changes made elsewhere; a deleted connection closes it."""
        if not (self.open and self.connection_id):
            return
        try:
            self._load(self._actor(), self.connection_id)
        except (NotFound, Unauthenticated):
            self.open = False
        except DomainError:
            pass

    @rx.event
    def show(self, connection_id: Any) -> Any:
        self.history_page = 1
        self.error, self.testing = "", False
        return self._open_or_fail(connection_id)

    @rx.event
    def open_changed(self, value: Any) -> None:
        if value is False:
            self.open = False

    @rx.event
    def reload(self) -> Any:
        if self.open and self.connection_id:
            return self._open_or_fail(self.connection_id)
        return None

    @rx.event
    def history_next(self) -> Any:
        if self.history_page * HISTORY_PAGE < self.history_total:
            self.history_page += 1
        return self._open_or_fail(self.connection_id)

    @rx.event
    def history_previous(self) -> Any:
        self.history_page = max(1, self.history_page - 1)
        return self._open_or_fail(self.connection_id)

    @rx.event(background=True)
    async def run_test(self, connection_id: Any) -> Any:
        conn_id = _id(connection_id)
        async with self:
            if self.testing or conn_id is None:
                return None
            try:
                actor = self._actor()
            except Unauthenticated:
                return self._sign_in_redirect()
            self.testing = True
        try:
            result = await asyncio.to_thread(_run_test, actor, conn_id)
        except Exception as err:  # the panel must never stay "testing" whatever happened
            log.warning("connection test failed: %s", type(err).__name__)
            result = "The test could not be completed. Try again."
        async with self:
            self.testing = False
            if isinstance(result, str):
                return rx.toast.error(result)
            if self.open and self.connection_id == conn_id:
                # The verdict is shown once, in the panel's notice (recorded by the core).
                with contextlib.suppress(DomainError):
                    self._load(actor, conn_id)
        return ConnectionListState.refresh


def _run_test(actor: Actor, connection_id: str) -> TestResult | str:
    try:
        with session_scope() as db:
            return connections.test(db, actor=actor, connection_id=connection_id)
    except NotFound:
        return _GONE
    except DomainError as err:
        return str(err)


def _fetch_for(
    state: SessionState, connection_id: Any, op: str, denied: str
) -> tuple[ConnectionView | None, Any]:
    """Load a connection a dialog is about to act on, or the event that says why not.

    The op check here only decides whether to open the dialog; the service checks
    again when the dialog is submitted.
    """
    conn_id = _id(connection_id)
    try:
        actor = state._actor()
        if conn_id is None:
            raise NotFound(_GONE)
        with read_scope() as db:
            view = connections.get(db, actor=actor, connection_id=conn_id)
    except Unauthenticated:
        return None, state._sign_in_redirect()
    except DomainError as err:
        return None, rx.toast.error(str(err))
    if op not in view.allowed:
        guard.record_refusal(
            actor, f"open the {op} dialog", target_type="connection", target_id=view.id
        )
        return None, rx.toast.error(denied)
    return view, None


class EditState(SessionState):
    open: bool = False
    connection_id: str = ""
    label: str = ""
    sharing: str = "use"
    is_account: bool = False
    fields: list[dict[str, str]] = []
    # Descriptors of the inputs that re-enter a credential for a new destination (the
    # inputs are uncontrolled: their values are read once on submit, never stored).
    reentry_inputs: list[dict[str, str]] = []
    destination_note: str = ""
    # F28: optional test credentials (uncontrolled inputs `cx_test__<name>`, like the above).
    test_inputs: list[dict[str, str]] = []
    error: str = ""
    error_field: str = ""
    form_key: int = 0

    @rx.event
    def show(self, connection_id: Any) -> Any:
        view, refusal = _fetch_for(
            self, connection_id, "update", "Your role does not allow you to edit this connection."
        )
        if view is None:
            return refusal
        self.connection_id, self.label, self.sharing = view.id, view.label, view.sharing
        self.is_account = view.scope == "account"
        self.fields = _edit_field_rows(view)
        self.destination_note = _destination_note(view)
        self.reentry_inputs = (
            _secret_field_rows(view) if self.destination_note and view.kind != "oauth2" else []
        )
        # Setting test credentials is a rotation of the test set: the core's "rotate" says.
        self.test_inputs = (
            _secret_field_rows(view) if "rotate" in view.allowed and view.kind != "oauth2" else []
        )
        self.error = self.error_field = ""
        self.form_key += 1
        self.open = True
        return None

    @rx.event
    def open_changed(self, value: Any) -> None:
        if value is False:
            self.open = False

    @rx.event
    def submit(self, form: dict) -> Any:
        if not isinstance(form, dict) or not self.connection_id:
            return None
        names = {f["name"] for f in self.fields}
        config = {k: v for k, v in form.items() if k in names}
        secret_names = {f["name"] for f in self.reentry_inputs}
        secrets = {k: v for k, v in form.items() if k in secret_names and v not in ("", None)}
        test_names = {"cx_test__" + f["name"]: f["name"] for f in self.test_inputs}
        test_secrets = {test_names[k]: v for k, v in form.items() if k in test_names and v}
        label, sharing = form.get("cx_label"), form.get("cx_sharing") or None
        del form  # typed secret values live on only in `secrets`, until the service has them
        try:
            actor = self._actor()
            with session_scope() as db:
                view = connections.update(
                    db,
                    actor=actor,
                    connection_id=self.connection_id,
                    label=label,
                    sharing=sharing,
                    config=config or None,
                    secrets=secrets or None,
                    test_secrets=test_secrets or None,
                )
        except Unauthenticated:
            return self._sign_in_redirect()
        except DomainError as err:
            self.error = str(err)
            self.error_field = getattr(err, "field", "") or ("label" if "named" in str(err) else "")
            # Re-mount the form with the non-secret values as typed: the browser forgets
            # what was typed into the secret inputs, nothing else.
            if isinstance(label, str):
                self.label = label[:120]
            self.fields = [
                {**f, "value": str(config.get(f["name"], f["value"]))[:512]} for f in self.fields
            ]
            if isinstance(sharing, str) and sharing in SHARING_LABELS:
                self.sharing = sharing
            self.form_key += 1
            return None
        finally:
            secrets.clear()
        self.open = False
        self.form_key += 1
        if view.status == "pending" and view.status_reason:
            saved = rx.toast.warning(f"Saved “{view.label}”. {view.status_reason}")
        else:
            saved = rx.toast.success(f"Saved “{view.label}”.")
        return [ConnectionListState.refresh, DetailsState.reload, saved]


class RotateState(SessionState):
    open: bool = False
    connection_id: str = ""
    label: str = ""
    masked_tail: str = ""
    # F28: which credential set is replaced: "live", or "test" (used by test-mode runs).
    purpose: str = "live"
    test_masked_tail: str = ""
    fields: list[dict[str, str]] = []
    oauth: bool = False
    error: str = ""
    form_key: int = 0
    busy: bool = False

    @rx.event
    def show(self, connection_id: Any) -> Any:
        view, refusal = _fetch_for(
            self, connection_id, "rotate", "Your role does not allow you to rotate this credential."
        )
        if view is None:
            return refusal
        self.connection_id, self.label = view.id, view.label
        self.masked_tail = f"••••{view.masked_tail}" if view.masked_tail else "••••"
        self.test_masked_tail = f"••••{view.test_masked_tail}" if view.test_masked_tail else ""
        self.purpose = "live"
        self.oauth = view.kind == "oauth2"
        self.fields = [] if self.oauth else _secret_field_rows(view)
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
    def submit(self, form: dict) -> Any:
        if not isinstance(form, dict) or not self.connection_id or self.oauth:
            return None
        names = {f["name"] for f in self.fields}
        secrets = {k: v for k, v in form.items() if k in names and v not in ("", None)}
        del form
        try:
            actor = self._actor()
            with session_scope() as db:
                target = {"connection_id": self.connection_id, "purpose": self.purpose}
                view = connections.rotate(db, actor=actor, secrets=secrets, **target)
        except Unauthenticated:
            return self._sign_in_redirect()
        except DomainError as err:
            self.error = str(err)
            return None
        finally:
            del secrets
        self.open = False
        self.form_key += 1
        done = (
            f"Test credential of “{view.label}” set; test-mode runs use it."
            if self.purpose == "test"
            else f"Credential of “{view.label}” replaced. The old one is gone; "
            "every node uses the new one from its next request."
        )
        return [ConnectionListState.refresh, DetailsState.reload, rx.toast.success(done)]

    @rx.event
    def choose_purpose(self, value: Any) -> None:
        if value in ("live", "test") and not self.busy:
            self.purpose = value
            self.error = ""


class DeleteState(SessionState):
    open: bool = False
    connection_id: str = ""
    label: str = ""
    usages: list[dict[str, str]] = []
    error: str = ""

    @rx.event
    def show(self, connection_id: Any) -> Any:
        view, refusal = _fetch_for(
            self, connection_id, "delete", "Your role does not allow you to delete this connection."
        )
        if view is None:
            return refusal
        try:
            with read_scope() as db:
                found = connections.usages(db, actor=self._actor(), connection_id=view.id)
        except Unauthenticated:
            return self._sign_in_redirect()
        except DomainError as err:
            return rx.toast.error(str(err))
        self.connection_id, self.label = view.id, view.label
        self.usages = [{"workflow": u.workflow_name, "node": u.node_label} for u in found]
        self.error = ""
        self.open = True
        return None

    @rx.event
    def open_changed(self, value: Any) -> None:
        if value is False:
            self.open = False

    @rx.event
    def confirm(self) -> Any:
        if not self.connection_id:
            return None
        try:
            actor = self._actor()
            with session_scope() as db:
                result = connections.delete(db, actor=actor, connection_id=self.connection_id)
        except Unauthenticated:
            return self._sign_in_redirect()
        except NotFound:
            self.open = False
            return [ConnectionListState.refresh, rx.toast.error(_GONE)]
        except DomainError as err:
            self.error = str(err)
            return None
        self.open = False
        self.connection_id = ""
        broken = len(result.broken_usages)
        suffix = f" {broken} node(s) now show a missing connection." if broken else ""
        return [
            ConnectionListState.refresh,
            DetailsState.open_changed(False),
            rx.toast.success(f"Deleted “{result.label}”.{suffix}"),
        ]
