"""Applying a credential to an outgoing request: the only place a secret meets HTTP.

Called from the run-time path with secrets decrypted a moment earlier, or from
the Add form's Test with values typed a moment earlier. Nothing here logs.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

import httpx

from connections_app.core.catalog.models import AppDefinition, AuthMethod, render
from connections_app.core.errors import Invalid


def credential_parts(
    method: AuthMethod,
    config: Mapping[str, str],
    secrets: Mapping[str, str],
    *,
    references: frozenset[str] | None = None,
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The headers and query parameters a credential puts on a request, ready to send.

    Kept apart from any request so the run-time resolve can have them in hand before
    the request is built (and time them apart from it). `references`: the names the
    spec refers to, when the caller has worked them out already."""
    spec = method.effective_apply
    values = {**config, **secrets}
    if spec.type == "dsn":
        raise Invalid("A DSN credential is not sent over HTTP.")
    # Fail closed: a credential with an empty part is never sent (an empty key header
    # would be sent as if it were one, and some services answer 200 to anything).
    if any(not str(values.get(name, "")).strip() for name in references or spec.references()):
        raise Invalid("The credential is incomplete; nothing was sent.")
    headers: dict[str, str] = {}
    query: list[tuple[str, str]] = []
    if spec.type == "bearer":
        assert spec.field is not None
        headers["Authorization"] = f"Bearer {values.get(spec.field, '')}"
    elif spec.type == "header":
        assert spec.name is not None and spec.template is not None
        name = render(spec.name, values).strip()
        if not name:
            raise Invalid("The header name of this connection is empty.")
        headers[name] = render(spec.template, values)
    elif spec.type == "basic":
        assert spec.username is not None and spec.password is not None
        pair = f"{render(spec.username, values)}:{render(spec.password, values)}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    elif spec.type == "query":
        assert spec.param is not None and spec.template is not None
        query.append((spec.param, render(spec.template, values)))
    for header, template in spec.extra_headers.items():
        headers[header] = render(template, values)
    return headers, query


def apply_parts(
    request: httpx.Request, headers: Mapping[str, str], query: list[tuple[str, str]]
) -> None:
    for name, value in headers.items():
        request.headers[name] = value
    for name, value in query:
        request.url = request.url.copy_add_param(name, value)


def apply_credential(
    request: httpx.Request,
    method: AuthMethod,
    config: Mapping[str, str],
    secrets: Mapping[str, str],
) -> None:
    headers, query = credential_parts(method, config, secrets)
    apply_parts(request, headers, query)


def build_test_request(
    app: AppDefinition,
    method: AuthMethod,
    config: Mapping[str, str],
    secrets: Mapping[str, str],
) -> httpx.Request:
    test = app.test_request
    if test is None or test.type != "http":
        raise Invalid(f"{app.name} has no HTTP test request.")
    # A field left out of the stored config (a connection made before the field existed,
    # or by a sign-in that set only some of it) takes its catalog default, as the form would.
    defaults = {f.name: f.default for f in method.config_fields if f.default is not None}
    url = app.resolve_base_url(config) + render(
        test.path, {**defaults, **config}, quote_values=True
    )
    request = httpx.Request(test.method, url, headers={"Accept": "application/json"})
    apply_credential(request, method, config, secrets)
    return request
