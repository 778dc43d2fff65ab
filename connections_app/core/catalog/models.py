"""Declarative app definitions (F12), validated on load so that a bad file fails loudly.

An app declares its auth methods and their fields, how a credential is applied
to a request, the request that tests it, and OAuth endpoints where relevant.
Messages from `AuthMethod.validate` are shown to users: they name the field by
its label and never echo a secret value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connections_app.core.errors import Invalid

KINDS = ("oauth2", "api_key", "basic", "dsn", "custom")
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
DEFAULT_SECRET_MAX = 4096
DEFAULT_CONFIG_MAX = 512


def placeholders(template: str) -> set[str]:
    return set(_PLACEHOLDER.findall(template))


def render(template: str, values: Mapping[str, str], *, quote_values: bool = False) -> str:
    """Fill `{field}` placeholders from non-secret config.

    Values spliced into a larger URL are percent-quoted so that a field cannot
    change the host or path around it. A template that is one placeholder alone
    (a custom app's whole base URL or test path) takes the value as it is: that
    field's catalog pattern is what validates it.
    """
    whole = _PLACEHOLDER.fullmatch(template)
    if whole:
        return values.get(whole.group(1), "")

    def sub(match: re.Match[str]) -> str:
        value = values.get(match.group(1), "")
        return quote(value, safe="") if quote_values else value

    return _PLACEHOLDER.sub(sub, template)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldSpec(_Frozen):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")
    label: str
    secret: bool = False
    # A destination field decides where or how a secret is sent (a host, a base URL,
    # an endpoint, a header name). Changing one clears the stored secret (F5): a
    # secret goes only where the person who entered it sent it.
    destination: bool = False
    required: bool = True
    pattern: str | None = None
    placeholder: str = ""
    help: str = ""
    max_length: int | None = Field(default=None, gt=0, le=65536)
    default: str | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as err:
                raise ValueError(f"pattern does not compile: {err}") from None
        return value

    @property
    def limit(self) -> int:
        return self.max_length or (DEFAULT_SECRET_MAX if self.secret else DEFAULT_CONFIG_MAX)


class ApplySpec(_Frozen):
    """How a credential reaches a request: header, basic, query parameter, or not HTTP (dsn)."""

    type: Literal["bearer", "header", "basic", "query", "dsn"]
    field: str | None = None
    name: str | None = None
    template: str | None = None
    username: str | None = None
    password: str | None = None
    param: str | None = None
    extra_headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _complete(self) -> ApplySpec:
        needed = {
            "bearer": ("field",),
            "header": ("name", "template"),
            "basic": ("username", "password"),
            "query": ("param", "template"),
            "dsn": ("field",),
        }[self.type]
        missing = [n for n in needed if getattr(self, n) in (None, "")]
        if missing:
            raise ValueError(f"apply type {self.type} needs {', '.join(missing)}")
        return self

    def references(self) -> set[str]:
        refs: set[str] = set()
        if self.field:
            refs.add(self.field)
        for text in (self.name, self.template, self.username, self.password):
            if text:
                refs |= placeholders(text)
        for value in self.extra_headers.values():
            refs |= placeholders(value)
        return refs


class IdentitySpec(_Frozen):
    url: str
    id_path: str
    name_path: str | None = None


class OAuthSpec(_Frozen):
    authorize_url: str | None = None
    token_url: str
    revoke_url: str | None = None
    scopes: list[str] = Field(default_factory=list)
    identity: IdentitySpec | None = None
    grant_type: Literal["authorization_code", "client_credentials"] = "authorization_code"
    pkce: bool = True


class TestRequestSpec(_Frozen):
    __test__ = False  # not a pytest class

    type: Literal["http", "sql"] = "http"
    method: Literal["GET", "POST", "HEAD"] = "GET"
    path: str = "/"
    ok_status: list[int] = Field(default_factory=lambda: [200])
    query: str | None = None


class AuthMethod(_Frozen):
    kind: Literal["oauth2", "api_key", "basic", "dsn", "custom"]
    label: str
    fields: list[FieldSpec] = Field(default_factory=list)
    apply: ApplySpec | None = None

    @model_validator(mode="after")
    def _consistent(self) -> AuthMethod:
        names = [f.name for f in self.fields]
        if len(names) != len(set(names)):
            raise ValueError(f"duplicate field names in method {self.kind}")
        if self.kind != "oauth2" and self.apply is None:
            raise ValueError(f"method {self.kind} needs an apply spec")
        secret_destinations = [f.name for f in self.fields if f.destination and f.secret]
        if secret_destinations:
            raise ValueError(f"secret fields cannot be destination fields: {secret_destinations}")
        if self.apply is not None and self.apply.name:
            undeclared = placeholders(self.apply.name) - {
                f.name for f in self.fields if f.destination
            }
            if undeclared:
                raise ValueError(
                    f"header-name fields must be destination fields: {sorted(undeclared)}"
                )
        if self.apply is not None:
            allowed = set(names) | ({"access_token"} if self.kind == "oauth2" else set())
            unknown = self.apply.references() - allowed
            if unknown:
                raise ValueError(f"apply refers to unknown fields: {sorted(unknown)}")
        return self

    @property
    def secret_fields(self) -> list[FieldSpec]:
        return [f for f in self.fields if f.secret]

    @property
    def config_fields(self) -> list[FieldSpec]:
        return [f for f in self.fields if not f.secret]

    @property
    def destination_fields(self) -> list[FieldSpec]:
        return [f for f in self.fields if f.destination]

    @property
    def effective_apply(self) -> ApplySpec:
        return self.apply or ApplySpec(type="bearer", field="access_token")

    def validate_values(
        self, values: Mapping[str, object], *, partial: bool = False
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Check a form's values; returns (non-secret config, secrets)."""
        if not isinstance(values, Mapping):
            raise Invalid("The form is incomplete.")
        specs = {f.name: f for f in self.fields}
        unknown = [k for k in values if k not in specs]
        if unknown:
            raise Invalid(f"Unknown field: {str(unknown[0])[:40]}.")
        config: dict[str, str] = {}
        secrets: dict[str, str] = {}
        for spec in self.fields:
            raw = values.get(spec.name)
            if raw is None or (isinstance(raw, str) and raw.strip() == ""):
                if spec.default is not None and not partial:
                    raw = spec.default
                elif spec.required and not partial:
                    raise Invalid(f"{spec.label} is required.", field=spec.name)
                else:
                    continue
            if not isinstance(raw, str):
                raise Invalid(f"{spec.label} must be text.", field=spec.name)
            value = raw.strip()
            if len(value) > spec.limit:
                raise Invalid(
                    f"{spec.label} must be at most {spec.limit} characters.", field=spec.name
                )
            if _CONTROL.search(value):
                raise Invalid(f"{spec.label} contains control characters.", field=spec.name)
            if spec.pattern and not re.fullmatch(spec.pattern, value):
                shown = "" if spec.secret else f" (got “{value[:40]}”)"
                hint = f" Expected like: {spec.placeholder}." if spec.placeholder else ""
                raise Invalid(
                    f"{spec.label} is not in the expected format{shown}.{hint}", field=spec.name
                )
            (secrets if spec.secret else config)[spec.name] = value
        return config, secrets

    # The connection service calls `validate`; pydantic reserves no such name on instances.
    def validate(  # type: ignore[override]
        self, values: Mapping[str, object], *, partial: bool = False
    ) -> tuple[dict[str, str], dict[str, str]]:
        return self.validate_values(values, partial=partial)


HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
BODY_METHODS = ("POST", "PUT", "PATCH")
_DOT_SEGMENT = re.compile(r"(^|/)(\.|%2e){1,2}(/|$)", re.IGNORECASE)


def relative_path(value: str, *, label: str = "Path", field: str = "path") -> str:
    """A request path under a connection's base URL, or a clear refusal.

    The credential goes only to the connection's own origin: a path that could name
    another host (`//host`, `https://…`), climb out of the base path (`..`, also
    percent-encoded) or smuggle a header (control characters) is refused here, before
    the runtime's own origin check ever sees it.
    """
    text = value.strip()
    if _CONTROL.search(text) or any(c.isspace() for c in text):
        raise Invalid(f"{label} contains spaces or control characters.", field=field)
    if "://" in text or text.startswith("//") or not text.startswith("/"):
        raise Invalid(
            f"{label} must start with a single “/” and stay under the app's base URL "
            "(like /v1/things), not a full URL.",
            field=field,
        )
    path_part = re.split(r"[?#]", text, maxsplit=1)[0]
    if "\\" in path_part or "%5c" in path_part.lower() or _DOT_SEGMENT.search(path_part):
        raise Invalid(f"{label} may not contain “..”, “.” or “\\” segments.", field=field)
    if "#" in text:
        raise Invalid(f"{label} may not contain a “#” fragment.", field=field)
    return text


class ParamSpec(_Frozen):
    """A non-secret parameter of a node's action (never a credential).

    The core declares what kind of input it is (`choices` for a fixed list, `multiline`
    for a body, `format` for what the text must be); screens render it as declared and
    the core checks every value again on save and on run.
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")
    label: str
    required: bool = True
    placeholder: str = ""
    help: str = ""
    max_length: int = Field(default=2000, gt=0, le=20000)
    choices: list[str] = Field(default_factory=list)
    default: str | None = None
    multiline: bool = False
    format: Literal["text", "path", "json"] = "text"

    @model_validator(mode="after")
    def _default_is_a_choice(self) -> ParamSpec:
        if self.choices and self.default is not None and self.default not in self.choices:
            raise ValueError(f"param {self.name}: default is not one of its choices")
        return self

    def clean(self, raw: object) -> str | None:
        """The value to store, None when left empty; raises a message naming the label."""
        if raw is None or raw == "":
            if self.default is not None:
                return self.default
            if self.required:
                raise Invalid(f"{self.label} is required.", field=self.name)
            return None
        if not isinstance(raw, str):
            raise Invalid(f"{self.label} must be text.", field=self.name)
        if len(raw) > self.max_length:
            raise Invalid(
                f"{self.label} must be at most {self.max_length} characters.", field=self.name
            )
        if self.choices and raw not in self.choices:
            raise Invalid(
                f"{self.label} must be one of {', '.join(self.choices)}.", field=self.name
            )
        if self.format == "path":
            return relative_path(raw, label=self.label, field=self.name)
        if self.format == "json":
            if not raw.strip():
                return self.clean(None)
            try:
                json.loads(raw)
            except json.JSONDecodeError as err:
                where = f" (line {err.lineno}, column {err.colno})"
                raise Invalid(f"{self.label} is not valid JSON{where}.", field=self.name) from None
        return raw


class ActionSpec(_Frozen):
    """Something a workflow node does with an app: one HTTP request, the credential
    applied as the connection's auth method says.

    A generic action (Custom HTTP request) lets the node choose the method
    (`method_param`, a parameter whose choices are HTTP methods) and send one
    parameter as its raw JSON body (`body_param`); every other action has a fixed
    method and sends its parameters as a JSON object or a query.
    """

    key: str = Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")
    name: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    path: str
    params: list[ParamSpec] = Field(default_factory=list)
    method_param: str | None = None
    body_param: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ActionSpec:
        specs = {p.name: p for p in self.params}
        if len(specs) != len(self.params):
            raise ValueError(f"action {self.key}: duplicate parameter names")
        if self.method_param is not None:
            chooser = specs.get(self.method_param)
            if chooser is None or not chooser.choices:
                raise ValueError(f"action {self.key}: method_param needs a param with choices")
            if not set(chooser.choices) <= set(HTTP_METHODS):
                raise ValueError(f"action {self.key}: method choices must be HTTP methods")
        if self.body_param is not None:
            body = specs.get(self.body_param)
            if body is None or body.format != "json":
                raise ValueError(f"action {self.key}: body_param needs a json param")
        return self

    def request_method(self, params: Mapping[str, str]) -> str:
        if self.method_param is not None:
            return params.get(self.method_param, self.method)
        return self.method

    def validate_params(self, values: object) -> dict[str, str]:
        if not isinstance(values, Mapping):
            raise Invalid("Node parameters must be a set of fields.", field="params")
        specs = {p.name: p for p in self.params}
        unknown = [k for k in values if k not in specs]
        if unknown:
            raise Invalid(f"Unknown parameter: {str(unknown[0])[:40]}.", field="params")
        cleaned: dict[str, str] = {}
        for spec in self.params:
            value = spec.clean(values.get(spec.name))
            if value is not None:
                cleaned[spec.name] = value
        method = self.request_method(cleaned)
        if self.body_param in cleaned and method not in BODY_METHODS:
            body = specs[self.body_param].label
            raise Invalid(
                f"A {method} request has no body: clear the {body} or choose "
                f"{', '.join(BODY_METHODS[:-1])} or {BODY_METHODS[-1]}.",
                field=self.body_param,
            )
        return cleaned


_ANSWER_PATH = r"^[a-z_][a-z0-9_]{0,40}(\.[a-z_][a-z0-9_]{0,40}){0,4}$"
MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,119}$"  # a provider's model id
MAX_PRICE_MICROS = 10**10  # $10,000 per million tokens: far above any list price


class ModelPriceSpec(_Frozen):
    """A model's list price in whole micro-dollars per million tokens ($0.15 = 150000)."""

    input: int = Field(ge=0, le=MAX_PRICE_MICROS)
    output: int = Field(ge=0, le=MAX_PRICE_MICROS)


class MeteringSpec(_Frozen):
    """How a model provider reports what a call used, and what its models cost (F25).

    Paths are dotted keys into the JSON answer. The model is the answer's (providers
    name the dated snapshot they served), else the request's parameter. Prices are the
    installation's defaults; an account overrides them per model (`ModelPrice`).
    """

    input_tokens: str = Field(pattern=_ANSWER_PATH)
    output_tokens: str = Field(pattern=_ANSWER_PATH)
    model: str = Field(default="model", pattern=_ANSWER_PATH)
    model_param: str = Field(default="model", pattern=r"^[a-z][a-z0-9_]{0,40}$")
    prices: dict[str, ModelPriceSpec] = Field(default_factory=dict)

    @field_validator("prices")
    @classmethod
    def _model_names(cls, value: dict[str, ModelPriceSpec]) -> dict[str, ModelPriceSpec]:
        for name in value:
            if not re.fullmatch(MODEL_NAME, name):
                raise ValueError(f"price for an invalid model name {name[:60]!r}")
        return value


class AppDefinition(_Frozen):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")
    name: str
    icon: str
    description: str = ""
    category: str = "Other"
    # A model provider's keys are what the LLM Keys page lists, and its run steps are
    # metered against the grant's monthly spend cap (F25).
    model_provider: bool = False
    metering: MeteringSpec | None = None
    base_url: str
    auth_methods: list[AuthMethod] = Field(min_length=1)
    test_request: TestRequestSpec | None = None
    oauth: OAuthSpec | None = None
    actions: list[ActionSpec] = Field(default_factory=list)

    def action(self, key: object) -> ActionSpec:
        for spec in self.actions:
            if spec.key == key:
                return spec
        raise Invalid(f"{self.name} has no such action.", field="action")

    @model_validator(mode="after")
    def _consistent(self) -> AppDefinition:
        if self.model_provider != (self.metering is not None):
            raise ValueError("a model provider declares its metering (and only a model provider)")
        if self.metering is not None and self.actions:
            names = {p.name for a in self.actions for p in a.params}
            if self.metering.model_param not in names:
                raise ValueError(
                    f"metering model_param {self.metering.model_param!r} is no action's parameter"
                )
        kinds = [m.kind for m in self.auth_methods]
        if len(kinds) != len(set(kinds)):
            raise ValueError("an app declares each auth kind at most once")
        if "oauth2" in kinds and self.oauth is None:
            raise ValueError("an oauth2 method needs the app's oauth block")
        for method in self.auth_methods:
            config_names = {f.name for f in method.config_fields}
            base_refs = placeholders(self.base_url)
            test_refs = placeholders(self.test_request.path) if self.test_request else set()
            if method.kind != "dsn" and not (base_refs | test_refs) <= config_names:
                raise ValueError(
                    f"method {method.kind}: URL placeholders {sorted(base_refs | test_refs)} "
                    "must be non-secret fields"
                )
            # The base URL decides the host a secret goes to: every field in it must be
            # marked as a destination, so that editing it clears the secret.
            undeclared = base_refs - {f.name for f in method.destination_fields}
            if method.kind != "dsn" and undeclared:
                raise ValueError(
                    f"method {method.kind}: base URL fields {sorted(undeclared)} "
                    "must be destination fields"
                )
        return self

    def auth_method(self, kind: str | None = None) -> AuthMethod:
        if kind is None:
            return self.auth_methods[0]
        for method in self.auth_methods:
            if method.kind == kind:
                return method
        raise Invalid(f"{self.name} does not support that authentication method.", field="kind")

    @property
    def form_methods(self) -> list[AuthMethod]:
        """Methods a form can create: keys, basic, DSN, custom — and server-to-server
        OAuth (client credentials), whose token the core fetches itself."""
        machine = bool(self.oauth and self.oauth.grant_type == "client_credentials")
        return [m for m in self.auth_methods if m.kind != "oauth2" or machine]

    @property
    def offers_sign_in(self) -> bool:
        """A person can connect by signing in at the provider (authorization code)."""
        return any(m.kind == "oauth2" for m in self.auth_methods) and bool(
            self.oauth
            and self.oauth.grant_type == "authorization_code"
            and self.oauth.authorize_url
        )

    def resolve_base_url(self, config: Mapping[str, str]) -> str:
        return render(self.base_url, config, quote_values=True).rstrip("/")

    def matches(self, text: str) -> bool:
        needle = text.casefold()
        return (
            needle in self.name.casefold()
            or needle in self.key
            or needle in self.category.casefold()
        )

    def with_overrides(self, overrides: Mapping[str, Any]) -> AppDefinition:
        data = self.model_dump()
        for key, value in overrides.items():
            if key == "oauth" and isinstance(value, Mapping) and data.get("oauth"):
                data["oauth"] = {**data["oauth"], **value}
                identity_url = value.get("identity_url")
                if identity_url and data["oauth"].get("identity"):
                    data["oauth"]["identity"]["url"] = identity_url
                data["oauth"].pop("identity_url", None)
            elif key == "metering" and isinstance(value, Mapping) and data.get("metering"):
                prices = {**data["metering"]["prices"], **dict(value.get("prices") or {})}
                data["metering"] = {**data["metering"], "prices": prices}
            else:
                data[key] = value
        return AppDefinition.model_validate(data)
