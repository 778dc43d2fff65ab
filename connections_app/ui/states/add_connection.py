"""The Add connection dialog: pick an app from the catalog, fill its form, test, save.

Secret inputs are uncontrolled: their values reach `submit` once, inside the form
data, go straight to the core service and are dropped. Nothing here keeps them:
no field, no backend var, no log line. The form is re-mounted (new `form_key`)
after a save or an app change so the browser forgets what was typed too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import reflex as rx
from sqlmodel import Session

from connections_app.core import guard
from connections_app.core.catalog import AppDefinition, get_catalog
from connections_app.core.connections import service as connections
from connections_app.core.connections.views import ConnectionView
from connections_app.core.errors import Invalid
from connections_app.core.oauth import apps
from connections_app.core.settings import get_settings
from connections_app.core.tenancy.actor import Actor
from connections_app.core.workflows import service as workflows
from connections_app.ui.states.core_call import myself
from connections_app.ui.states.rows import AppCard, Choice, FieldRow, app_cards, field_rows
from connections_app.ui.states.session import SessionState

SHARING_CHOICES = ("use", "view", "manage", "personal")


class AddConnectionState(SessionState):
    open: bool = False
    step: str = "pick"  # pick | form
    app_query: str = ""
    app_key: str = ""
    app_name: str = ""
    app_icon: str = ""
    app_description: str = ""
    oauth_only: bool = False
    # OAuth sign-in for this app: offered when the catalog has it and the
    # installation registered a client; `oauth_url` is the popup's start route.
    oauth_ready: bool = False
    oauth_missing: bool = False
    oauth_url: str = ""
    # Custom OAuth 2.0: the account's registered providers (the core lists those this
    # person may connect with); Connect starts the popup for the chosen one.
    custom_oauth: bool = False
    providers: list[Choice] = []
    provider_id: str = ""
    another_url: str = ""
    kind: str = ""
    kinds: list[Choice] = []
    fields: list[FieldRow] = []
    # F28: the secret fields again, as optional test credentials (inputs `cx_test__<name>`).
    test_fields: list[FieldRow] = []
    label: str = ""
    # What the stable key will be when its (uncontrolled) input is left empty: shown as
    # the input's placeholder, so a suggestion never overwrites what the person types.
    key_suggestion: str = ""
    form_key: int = 0
    busy: str = ""  # "" | test | save
    error: str = ""
    error_field: str = ""
    test_ok: bool = False
    test_message: str = ""
    test_outcome: str = ""
    # Tested in this form: Save then asks the core to test the saved values again and
    # record the verdict; `question` is what the core asks when that test fails.
    tested: bool = False
    question: str = ""
    # Opened from a node's panel (F16): the new connection is selected on that node.
    for_node: str = ""
    for_node_label: str = ""
    # F9/F25: opened on the account's screens, the new connection is the account's
    # (the core refuses it to anyone but an account admin); the LLM Keys page offers
    # only the catalog's model providers.
    scope: str = "workspace"
    models_only: bool = False

    def _reset_result(self) -> None:
        self.error = self.error_field = self.question = ""
        self.test_ok, self.test_message, self.test_outcome = False, "", ""

    def _choose(self, app: AppDefinition, kind: str | None = None) -> None:
        methods = app.form_methods
        method = next((m for m in methods if m.kind == kind), methods[0] if methods else None)
        self.app_key, self.app_name, self.app_icon = app.key, app.name, app.icon
        self.app_description = app.description
        self.oauth_only = method is None
        self.kinds = [Choice(m.kind, m.label) for m in methods]
        self.kind = method.kind if method else ""
        self.fields = field_rows(method) if method else []
        self.test_fields = [f for f in self.fields if f.masked]
        self.form_key += 1
        self.tested = False
        self._reset_result()

    @rx.event
    async def open_dialog(self) -> Any:
        answer = await self._as_actor(myself, write=False)
        me = answer.me
        if me is None or me.actor is None:
            return self._failed(answer)
        if not me.may_add_connection:
            guard.record_refusal(me.actor, "open the Add connection dialog")
            return rx.toast.error("Your role does not allow adding connections here.")
        self._start("workspace", models_only=False)
        return None

    def _start(self, scope: str, *, models_only: bool) -> None:
        """Open on the catalog step, nothing typed, for this scope."""
        self.open, self.step, self.app_query = True, "pick", ""
        self.scope, self.models_only = scope, models_only
        self.for_node = self.for_node_label = ""
        self.label = self.key_suggestion = ""
        self.busy = ""
        self._reset_result()

    @rx.event
    async def open_for_account(self, models_only: Any = False) -> Any:
        """Add on the account's screens: an account connection (any app, or the model
        providers only on the LLM Keys page)."""
        answer = await self._as_actor(myself, write=False)
        me = answer.me
        if me is None or me.actor is None:
            return self._failed(answer)
        if not me.may_add_account_connection:
            guard.record_refusal(me.actor, "open the Add account connection dialog")
            return rx.toast.error("Only account admins add account connections.")
        self._start("account", models_only=models_only is True)
        return None

    @rx.event
    def open_changed(self, value: Any) -> None:
        """Radix calls this on Escape / outside click; only closing is honoured."""
        if value is False and not self.busy:
            self.open = False
            self.form_key += 1

    @rx.event
    def search_apps(self, value: Any) -> None:
        if isinstance(value, str):
            self.app_query = value[:60]

    async def _on_workspace_change(self) -> None:
        """An OAuth app registered, changed or deleted by an account admin: an open
        sign-in step offers what the account has now (nothing typed is touched)."""
        if self.open and self.step == "form" and self.app_key:
            try:
                app = get_catalog().get(self.app_key)
            except Invalid:
                return
            await self._offer_oauth(app)

    async def _offer_oauth(self, app: AppDefinition) -> None:
        self.custom_oauth = app.key == apps.CUSTOM
        chosen = self.provider_id
        self.providers, self.provider_id, self.another_url = [], "", ""
        if self.custom_oauth:
            answer = await self._as_actor(
                lambda db, actor: apps.custom_providers(db, actor), write=False
            )
            self.providers = [Choice(pid, name) for pid, name in answer.value or []]
            self.oauth_missing = False
            listed = [p.value for p in self.providers]
            self._choose_provider(chosen if chosen in listed else (listed[0] if listed else ""))
            return
        has_oauth = app.offers_sign_in
        # The account's own client first, the installation's as the fallback.
        answer = await self._as_actor(
            lambda db, actor: apps.sign_in_available(db, actor, app.key), write=False
        )
        registered = bool(answer.value)
        self.oauth_ready = has_oauth and registered
        self.oauth_missing = has_oauth and not registered
        self.oauth_url = self._start_url(app.key) if self.oauth_ready else ""

    def _start_url(self, app_key: str, **extra: str) -> str:
        query = {"app": app_key, **extra, **({"node": self.for_node} if self.for_node else {})}
        if self.scope == "account":  # the account screens' Add: an account connection
            query["scope"] = "account"
        return f"{get_settings().api_url}/oauth/start?{urlencode(query)}"

    def _choose_provider(self, provider_id: str) -> None:
        self.provider_id = provider_id
        self.oauth_ready = bool(provider_id)
        if not provider_id:
            self.oauth_url = self.another_url = ""
            return
        self.oauth_url = self._start_url(apps.CUSTOM, oauth_app=provider_id)
        self.another_url = self._start_url(apps.CUSTOM, oauth_app=provider_id, another="1")

    @rx.event
    def choose_provider(self, value: Any) -> None:
        """Only one of the providers the core listed; the start route checks it again."""
        if isinstance(value, str) and value in {p.value for p in self.providers}:
            self._choose_provider(value)

    @rx.event
    async def open_for_node(self, node_id: Any) -> Any:
        """ "Connect New Account" in a node's panel: this node's app, straight to its form."""
        answer = await self._as_actor(
            lambda db, actor: workflows.get_node(db, actor=actor, node_id=node_id), write=False
        )
        node, me = answer.value, answer.me
        if node is None or me is None or me.actor is None:
            return self._failed(answer)
        if not me.may_add_connection:
            guard.record_refusal(me.actor, "connect a new account from a node")
            return rx.toast.error("Your role does not allow adding connections here.")
        self.for_node, self.for_node_label = node.id, node.label
        self.scope, self.models_only = "workspace", False
        self.busy = ""
        await self.pick_app(node.app)
        self.open = True
        return None

    @rx.event
    async def pick_app(self, app_key: Any) -> None:
        try:
            app = get_catalog().get(app_key)
        except Invalid:
            return
        self._choose(app)
        await self._offer_oauth(app)
        self.label = app.name
        self.key_suggestion = await self._suggest_key()
        self.step = "form"

    @rx.event
    def back_to_catalog(self) -> None:
        if not self.busy:
            self.step = "pick"
            self.form_key += 1
            self._reset_result()

    @rx.event
    def choose_kind(self, kind: Any) -> None:
        if not isinstance(kind, str) or kind not in {k.value for k in self.kinds}:
            return
        try:
            app = get_catalog().get(self.app_key)
        except Invalid:
            return
        self._choose(app, kind)

    async def _suggest_key(self) -> str:
        """A slug of the label that is still free in this workspace (F3)."""
        base = connections.suggest_stable_key(self.label)
        account = self.scope == "account"
        answer = await self._as_actor(
            lambda db, actor: (
                connections.unique_stable_key(db, actor.account_id, base)
                if account and actor.is_account_admin
                else connections.unique_stable_key(db, actor.workspace_id, base)
                if actor.workspace_id and not account
                else base
            ),
            write=False,
        )
        return answer.value or base

    @rx.event
    async def label_changed(self, value: Any) -> None:
        if not isinstance(value, str):
            return
        self.label = value[:120]
        self.key_suggestion = await self._suggest_key()
        if self.error_field == "label":
            self.error = self.error_field = ""

    @rx.var
    def visible_apps(self) -> list[AppCard]:
        needle = self.app_query.strip().casefold()
        cards = _MODEL_CARDS if self.models_only else _CARDS
        return [c for c in cards if needle in c.search] if needle else cards

    # --- submit: the only place the secret values pass through ----------------------

    def _values(self, form: Mapping[str, Any]) -> dict[str, Any]:
        """Only the catalog's field names, so nothing else rides along into the service."""
        names = {f.name for f in self.fields}
        return {k: v for k, v in form.items() if k in names}

    @rx.event(background=True)
    async def submit(self, form: dict) -> Any:
        if not isinstance(form, dict):
            return None
        intent = form.get("cx_intent")
        intent = intent if intent in ("test", "save_anyway") else "save"
        meta = {k: form.get(k) for k in ("cx_label", "cx_stable_key", "cx_sharing")}
        async with self:
            meta["scope"] = self.scope
            if self.busy or self.step != "form" or self.oauth_only:
                return None
            self.busy = "save" if intent == "save_anyway" else intent
            self._reset_result()
            app_key, kind, node = self.app_key, self.kind, self.for_node
            values = self._values(form)
            test_values = self._test_values(form)
            meta["test_first"] = self.tested or intent == "save_anyway"
            meta["save_if_test_fails"] = intent == "save_anyway"
            ref = self._session_ref()
        del form  # the secret values live on only in `values`, until this handler ends
        try:
            if intent == "test":
                answer = await self._as_actor(
                    lambda db, actor: connections.test_unsaved(
                        db, actor=actor, app=app_key, kind=kind, fields=values
                    ),
                    ref=ref,
                )
            else:
                answer = await self._as_actor(
                    lambda db, actor: _create(
                        db, actor, app_key, kind, values, meta, node, test_values
                    ),
                    ref=ref,
                )
        finally:
            values.clear()
            test_values.clear()
        async with self:
            self.busy = ""
            result = answer.value
            if result is None:
                if answer.signed_out:
                    return self._sign_in_redirect()
                if answer.field == connections.FAILED_TEST_FIELD:
                    self.question = answer.message  # the core asks; the person answers
                    return None
                self.error, self.error_field = answer.message, answer.field
                return None
            if intent == "test":
                self.tested = True
                self.test_ok, self.test_message = result.ok, result.message
                self.test_outcome = result.outcome
                return None
            self.open = False
            self.form_key += 1
            label = result.label
            if result.broken:  # saved anyway: its details say why, once
                return rx.toast.warning(f"“{label}” saved as Error.")
        # Open lists, panels and nodes re-read through the workspace hook.
        if node:
            return rx.toast.success(f"“{label}” added and selected on this node.")
        return rx.toast.success(f"“{label}” added. Test it any time from its details.")

    @rx.event
    def dismiss_question(self) -> None:
        """ "Don't save": back to the form, values still typed in it."""
        self.question = ""

    def _test_values(self, form: Mapping[str, Any]) -> dict[str, Any]:
        """Optional test credentials (F28); empty inputs mean "none"."""
        names = {f.name for f in self.test_fields}
        prefix = "cx_test__"
        return {
            k[len(prefix) :]: v
            for k, v in form.items()
            if k.startswith(prefix) and k[len(prefix) :] in names and v not in (None, "")
        }

    @rx.var
    def sharing_choices(self) -> list[str]:
        return list(SHARING_CHOICES)


def _create(
    db: Session,
    actor: Actor,
    app_key: str,
    kind: str,
    values: dict[str, Any],
    meta: dict[str, Any],
    node: str,
    test_values: dict[str, Any],
) -> ConnectionView:
    """Saved and selected on the node (when Add was opened from one) in one transaction:
    a node that refuses it leaves nothing saved."""
    return connections.create(
        db,
        actor=actor,
        app=app_key,
        kind=kind,
        label=meta.get("cx_label"),
        stable_key=meta.get("cx_stable_key") or None,
        sharing=meta.get("cx_sharing") or "use",
        scope=meta.get("scope") or "workspace",
        fields=values,
        test_fields=test_values or None,
        test_first=bool(meta.get("test_first")),
        save_if_test_fails=bool(meta.get("save_if_test_fails")),
        node=node or None,
    )


_CARDS: list[AppCard] = app_cards()
_MODEL_CARDS: list[AppCard] = [
    c for c in _CARDS if c.key in {a.key for a in get_catalog().apps if a.model_provider}
]
