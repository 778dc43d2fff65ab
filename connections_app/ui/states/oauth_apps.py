"""The OAuth apps screen (F27): an account's OAuth client registrations, for its admins.

The client secret is write-only: its input is uncontrolled, read once in the submit
handler, handed to the core and dropped; the screen only ever shows the masked tail
the core returns. Everything else on the form is non-secret and may live in state
(`draft`), which is how Discover fills the endpoints without clearing what the
person already typed: the non-secret inputs re-mount with new defaults
(`draft_key`), the secret input is not among them and keeps its value.

Who may see and change any of it is the core's answer (`apps.*` refuse anyone but
an account admin, and look every id up inside the actor's account).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import reflex as rx

from connections_app.core.errors import DomainError
from connections_app.core.oauth import apps
from connections_app.core.oauth.provider import EXTRA_PARAMS
from connections_app.core.vault import get_vault
from connections_app.ui.states.core_call import myself
from connections_app.ui.states.rows import Choice, when
from connections_app.ui.states.session import SessionState

# The form's non-secret inputs (names as the core takes them); checkboxes and the extra
# authorize parameters are read separately.
TEXT_FIELDS = (
    "name",
    "issuer",
    "authorize_url",
    "token_url",
    "revocation_url",
    "userinfo_url",
    "jwks_url",
    "scopes",
    "identity_field",
    "name_field",
    "test_path",
    "api_base_url",
    "client_id",
    "token_auth_method",
)
CHECKBOXES = ("pkce", "iss_required")
EXTRA_PREFIX = "extra__"
TOKEN_AUTH_CHOICES = [
    Choice("client_secret_basic", "client_secret_basic (HTTP Basic, form-encoded)"),
    Choice("client_secret_post", "client_secret_post (in the form body)"),
    Choice("none", "none (public client, PKCE)"),
]


@dataclass(frozen=True)
class OAuthAppRow:
    id: str = ""
    name: str = ""
    app: str = ""
    app_name: str = ""
    is_custom: bool = False
    client_id: str = ""
    masked: str = ""  # the client secret as "••••abcd", or why there is none
    where: str = ""  # issuer or authorize host, for the list
    scopes: str = ""
    used_by: list[str] = field(default_factory=list)
    used: str = ""
    updated: str = ""


def _row(view: apps.OAuthAppView) -> OAuthAppRow:
    if view.has_secret:
        shown = f"••••{view.secret_tail}" if view.secret_tail else "set"
    else:
        shown = "none (public client)"
    used = len(view.used_by)
    return OAuthAppRow(
        id=view.id,
        name=view.name,
        app=view.app,
        app_name=view.app_name,
        is_custom=view.is_custom,
        client_id=view.client_id,
        masked=shown,
        where=view.issuer or view.authorize_url or "catalog endpoints",
        scopes=view.scopes,
        used_by=list(view.used_by),
        used=f"{used} connection{'s' if used != 1 else ''}" if used else "not used yet",
        updated=when(view.updated_at),
    )


def _draft_of(view: apps.OAuthAppView) -> dict[str, str]:
    draft = {name: str(getattr(view, name) or "") for name in TEXT_FIELDS}
    draft["pkce"] = "on" if view.pkce else ""
    draft["iss_required"] = "on" if view.iss_required else ""
    for key, value in view.extra_params.items():
        draft[EXTRA_PREFIX + key] = value
    return draft


def _blank_draft() -> dict[str, str]:
    return {
        **{name: "" for name in TEXT_FIELDS},
        "token_auth_method": "client_secret_basic",
        "pkce": "on",
        "iss_required": "",
    }


def _non_secret(form: Mapping[str, Any]) -> dict[str, str]:
    """What the form holds besides the secret, as text (for the draft)."""
    draft = {n: str(form.get(n) or "") for n in TEXT_FIELDS}
    for name in CHECKBOXES:
        draft[name] = "on" if form.get(name) in ("on", True, "true") else ""
    for key in EXTRA_PARAMS:
        draft[EXTRA_PREFIX + key] = str(form.get(EXTRA_PREFIX + key) or "")
    return draft


def _values(draft: Mapping[str, str], app: str, custom: bool) -> dict[str, Any]:
    """The draft as the core's `save_app` takes it (only the fields of this kind of app)."""
    names = TEXT_FIELDS if custom else ("client_id", "scopes", "token_auth_method")
    values: dict[str, Any] = {n: draft.get(n, "") for n in names}
    values["pkce"] = draft.get("pkce") == "on"
    if custom:
        values["iss_required"] = draft.get("iss_required") == "on"
    values["extra_params"] = {
        k: draft.get(EXTRA_PREFIX + k, "") for k in EXTRA_PARAMS if draft.get(EXTRA_PREFIX + k)
    }
    if app:
        values["app"] = app
    return values


class OAuthAppsState(SessionState):
    items: list[OAuthAppRow] = []
    loaded: bool = False
    denied: str = ""
    registrable: list[Choice] = []
    # The editor: new (editing_id "") or an existing registration.
    editor_open: bool = False
    editing_id: str = ""
    editing_name: str = ""
    draft_app: str = ""
    draft_custom: bool = False
    draft: dict[str, str] = {}
    draft_key: int = 0
    form_key: int = 0
    kept_tail: str = ""  # the stored client secret's masked tail, for the placeholder
    used_by: list[str] = []
    busy: str = ""  # "" | discover | save | rotate | delete
    error: str = ""
    error_field: str = ""
    notice: str = ""
    # Rotate and delete dialogs.
    rotate_open: bool = False
    delete_open: bool = False
    target_id: str = ""
    target_name: str = ""
    target_used_by: list[str] = []

    async def _on_workspace_change(self) -> None:
        if self.loaded:
            await self._load()

    async def _load(self) -> None:
        answer = await self._as_actor(lambda db, actor: apps.list_apps(db, actor), write=False)
        if answer.value is None:
            self.items, self.denied = [], answer.message or "Only account admins manage OAuth apps."
            return
        self.items, self.denied = [_row(v) for v in answer.value], ""
        self.registrable = [Choice(key, name) for key, name in apps.registrable_apps()]

    @rx.event
    async def load(self) -> Any:
        self.editor_open = self.rotate_open = self.delete_open = False
        await self._load()
        self.loaded = True
        return None

    # --- the editor ---------------------------------------------------------------------

    def _open_editor(self, draft: dict[str, str]) -> None:
        self.draft = draft
        self.draft_key += 1
        self.form_key += 1
        self.error = self.error_field = self.notice = ""
        self.busy = ""
        self.editor_open = True

    @rx.event
    def open_new(self) -> None:
        if self.denied:
            return
        self.editing_id = self.editing_name = self.kept_tail = ""
        self.used_by = []
        self.draft_app = "custom_oauth2"
        self.draft_custom = True
        self._open_editor(_blank_draft())

    @rx.event
    def choose_app(self, value: Any) -> None:
        """Which app a new registration is for (a select); the core checks it on save."""
        if self.editing_id or not isinstance(value, str):
            return
        if value not in {c.value for c in self.registrable}:
            return
        self.draft_app = value
        self.draft_custom = value == apps.CUSTOM
        self.draft_key += 1

    @rx.event
    async def open_edit(self, app_id: Any) -> Any:
        answer = await self._as_actor(
            lambda db, actor: apps.get_app(db, actor, app_id), write=False
        )
        view = answer.value
        if view is None:
            await self._load()
            return rx.toast.error(answer.message or "That OAuth app no longer exists.")
        self.editing_id, self.editing_name = view.id, view.name
        self.draft_app, self.draft_custom = view.app, view.is_custom
        self.kept_tail = _row(view).masked
        self.used_by = list(view.used_by)
        self._open_editor(_draft_of(view))
        return None

    @rx.event
    def editor_open_changed(self, value: Any) -> None:
        if value is False and not self.busy:
            self.editor_open = False
            self.form_key += 1  # the browser forgets a typed secret too

    @rx.event(background=True)
    async def submit(self, form: dict) -> Any:
        if not isinstance(form, dict):
            return None
        intent = "discover" if form.get("cx_intent") == "discover" else "save"
        secret = form.get("client_secret")
        draft = _non_secret(form)
        del form  # the secret lives on only in `secret`, until this handler ends
        async with self:
            if self.busy or not self.editor_open:
                return None
            self.busy = intent
            self.error = self.error_field = self.notice = ""
            app_id, app, custom = self.editing_id, self.draft_app, self.draft_custom
            ref = self._session_ref()
        if intent == "discover":
            del secret
            return await self._discover(draft, ref)
        values = _values(draft, "" if app_id else app, custom)
        try:
            answer = await self._as_actor(
                lambda db, actor: apps.save_app(
                    db,
                    actor,
                    vault=get_vault(),
                    values=values,
                    client_secret=secret,
                    app_id=app_id or None,
                ),
                ref=ref,
            )
        finally:
            secret = None
        async with self:
            self.busy = ""
            if answer.signed_out:
                return self._sign_in_redirect()
            if answer.value is None:
                self.error, self.error_field = answer.message, answer.field
                self.draft = draft  # keep what was typed (non-secret) across a re-render
                return None
            self.editor_open = False
            self.form_key += 1
            await self._load()
        return rx.toast.success(f"“{answer.value.name}” saved.")

    async def _discover(self, draft: dict[str, str], ref: str | None) -> Any:
        """Ask the issuer what it publishes and fill the endpoints. The core decides who
        may make the server send that request (account admins) and the egress policy
        whether the issuer may be reached; no transaction is open meanwhile."""
        issuer = draft.get("issuer", "")
        me = (await self._as_actor(myself, write=False, ref=ref)).me
        if me is None or me.actor is None:
            async with self:
                self.busy = ""
            return self._sign_in_redirect()
        try:
            found = await asyncio.to_thread(apps.discover, me.actor, issuer)
        except DomainError as err:
            async with self:
                self.busy = ""
                self.draft, self.error_field = draft, getattr(err, "field", None) or "issuer"
                self.error = str(err)
            return None
        filled = {
            **draft,
            "issuer": found.issuer,
            "authorize_url": found.authorize_url,
            "token_url": found.token_url,
            "revocation_url": found.revocation_url or "",
            "userinfo_url": found.userinfo_url or "",
            "jwks_url": found.jwks_url or "",
            "iss_required": "on" if found.iss_required else "",
            "pkce": "on" if found.pkce_s256 else draft.get("pkce", ""),
        }
        if found.auth_methods and draft.get("token_auth_method") not in found.auth_methods:
            usable = [m for m in found.auth_methods if m in {c.value for c in TOKEN_AUTH_CHOICES}]
            if usable:
                filled["token_auth_method"] = usable[0]
        if not filled.get("api_base_url"):
            filled["api_base_url"] = found.issuer
        async with self:
            self.busy = ""
            self.draft = filled
            self.draft_key += 1
            self.notice = f"Filled from {found.issuer}/.well-known/openid-configuration."
        return None

    # --- rotate and delete ----------------------------------------------------------------

    def _target(self, app_id: Any) -> OAuthAppRow | None:
        return next((r for r in self.items if r.id == app_id), None)

    @rx.event
    def ask_rotate(self, app_id: Any) -> None:
        row = self._target(app_id)
        if row is not None:
            self.target_id, self.target_name = row.id, row.name
            self.error = self.error_field = ""
            self.form_key += 1
            self.rotate_open = True

    @rx.event
    def rotate_open_changed(self, value: Any) -> None:
        if value is False and not self.busy:
            self.rotate_open = False
            self.form_key += 1

    @rx.event(background=True)
    async def rotate(self, form: dict) -> Any:
        secret = form.get("client_secret") if isinstance(form, dict) else None
        del form
        async with self:
            if self.busy or not self.target_id:
                return None
            self.busy, self.error, self.error_field = "rotate", "", ""
            app_id, ref = self.target_id, self._session_ref()
        try:
            answer = await self._as_actor(
                lambda db, actor: apps.rotate_secret(
                    db, actor, vault=get_vault(), app_id=app_id, client_secret=secret
                ),
                ref=ref,
            )
        finally:
            secret = None
        async with self:
            self.busy = ""
            if answer.signed_out:
                return self._sign_in_redirect()
            if answer.value is None:
                self.error, self.error_field = answer.message, answer.field or "client_secret"
                return None
            self.rotate_open = False
            self.form_key += 1
            await self._load()
        return rx.toast.success(
            f"New client secret for “{answer.value.name}”: every connection uses it from now on."
        )

    @rx.event
    def ask_delete(self, app_id: Any) -> None:
        row = self._target(app_id)
        if row is not None:
            self.target_id, self.target_name = row.id, row.name
            self.target_used_by = list(row.used_by)
            self.error = self.error_field = ""
            self.delete_open = True

    @rx.event
    def delete_open_changed(self, value: Any) -> None:
        if value is False and not self.busy:
            self.delete_open = False

    @rx.event
    async def confirm_delete(self) -> Any:
        if self.busy or not self.target_id:
            return None
        app_id, name = self.target_id, self.target_name
        answer = await self._as_actor(lambda db, actor: apps.delete_app(db, actor, app_id=app_id))
        if answer.signed_out:
            return self._sign_in_redirect()
        if not answer.ok:
            self.error = answer.message
            await self._load()
            return None
        self.delete_open, self.target_id = False, ""
        await self._load()
        return rx.toast.success(f"“{name}” deleted.")

    @rx.var
    def draft_extra(self) -> dict[str, str]:
        return {k: self.draft.get(EXTRA_PREFIX + k, "") for k in EXTRA_PARAMS}
