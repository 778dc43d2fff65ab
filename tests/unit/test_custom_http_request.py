"""The Custom HTTP request action: the catalog declares its inputs, the core checks them,
and the request it builds goes only under the connection's own base URL."""

from __future__ import annotations

import json

import pytest

from connections_app.core.catalog import get_catalog
from connections_app.core.catalog.models import ActionSpec, ParamSpec, relative_path
from connections_app.core.connections.models import Connection
from connections_app.core.errors import Invalid
from connections_app.core.workflows.models import RunStep
from connections_app.core.workflows.runs import build_request
from connections_app.ui.states.rows import param_rows

APPS = ("custom_api_key", "custom_oauth2")


def _spec(app: str = "custom_api_key") -> ActionSpec:
    return get_catalog().get(app).action("http_request")


def _request(
    params: dict[str, str], app: str = "custom_api_key", base: str = "https://api.example.com/v2"
):
    field = "base_url" if app == "custom_api_key" else "api_base_url"
    step = RunStep(run_id="r", position=1, label="x", app=app, action="http_request", params=params)
    conn = Connection(config={field: base})
    return build_request(step, conn)


@pytest.mark.parametrize("app", APPS)
def test_both_custom_apps_offer_it_with_method_choice_and_json_body(app: str) -> None:
    spec = _spec(app)
    assert spec.name == "Custom HTTP request"
    by_name = {p.name: p for p in spec.params}
    assert by_name["method"].choices == ["GET", "POST", "PUT", "PATCH", "DELETE"]
    assert by_name["body"].multiline and by_name["body"].format == "json"
    assert by_name["path"].format == "path"


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("app", APPS)
def test_each_method_goes_under_the_base_url(app: str, method: str) -> None:
    params = {"method": method, "path": "/things/7?full=1"}
    if method in ("POST", "PUT", "PATCH"):
        params["body"] = '{"name": "Ada", "n": [1, 2]}'
    request = _request(params, app)
    assert request.method == method
    assert str(request.url) == "https://api.example.com/v2/things/7?full=1"
    if "body" in params:
        assert json.loads(request.content) == {"name": "Ada", "n": [1, 2]}
        assert request.headers["content-type"] == "application/json"
    else:
        assert request.content == b""


@pytest.mark.parametrize(
    "path",
    [
        "https://evil.test/x",
        "//evil.test/x",
        "evil.test/x",
        "/a/../../x",
        "/..",
        "/a/%2e%2e/x",
        "/a/.%2E/x",
        "/./x",
        "/a\\b",
        "/a%5c..",
        "/a\r\nX-Injected: 1",
        "/a\x00",
        "/a b",
        "/a#frag",
        "",
    ],
)
def test_paths_that_could_leave_the_base_url_are_refused(path: str) -> None:
    with pytest.raises(Invalid) as err:
        _spec().validate_params({"method": "GET", "path": path})
    assert "Path" in str(err.value)
    with pytest.raises(Invalid):
        _request({"method": "GET", "path": path})  # again at run time (an imported node)


def test_ordinary_paths_pass() -> None:
    for path in ("/", "/v1/things", "/a.b/c..d/e", "/q?next=/x/../y", "/%7Euser"):
        assert relative_path(path) == path


def test_a_body_must_be_json_and_only_for_methods_with_a_body() -> None:
    spec = _spec()
    with pytest.raises(Invalid, match=r"JSON body is not valid JSON \(line 1, column 2\)"):
        spec.validate_params({"method": "POST", "path": "/x", "body": "{oops"})
    with pytest.raises(Invalid, match="A GET request has no body"):
        spec.validate_params({"method": "GET", "path": "/x", "body": "{}"})
    with pytest.raises(Invalid, match="A DELETE request has no body"):
        spec.validate_params({"method": "DELETE", "path": "/x", "body": "[]"})
    with pytest.raises(Invalid, match="Method must be one of GET, POST, PUT, PATCH, DELETE"):
        spec.validate_params({"method": "TRACE", "path": "/x"})
    assert spec.validate_params({"path": "/x"}) == {"method": "POST", "path": "/x"}


def test_the_catalog_refuses_an_inconsistent_generic_action() -> None:
    with pytest.raises(ValueError, match="method_param"):
        ActionSpec(key="x_y", name="x", path="/", method_param="m", params=[])
    with pytest.raises(ValueError, match="HTTP methods"):
        ActionSpec(
            key="x_y",
            name="x",
            path="/",
            method_param="m",
            params=[ParamSpec(name="m", label="M", choices=["GET", "CONNECT"])],
        )
    with pytest.raises(ValueError, match="body_param"):
        ActionSpec(
            key="x_y", name="x", path="/", body_param="b", params=[ParamSpec(name="b", label="B")]
        )
    with pytest.raises(ValueError, match="default is not one of its choices"):
        ParamSpec(name="m", label="M", choices=["GET"], default="POST")


def test_the_node_form_rows_carry_the_declared_kinds() -> None:
    rows = {r.name: r for r in param_rows("custom_oauth2", "http_request", {"method": "GET"})}
    assert rows["method"].choices == ["GET", "POST", "PUT", "PATCH", "DELETE"]
    assert rows["method"].default == "GET"
    assert rows["body"].multiline and not rows["path"].multiline
    fresh = {r.name: r for r in param_rows("custom_api_key", "http_request", {})}
    assert fresh["method"].default == "POST"


@pytest.mark.parametrize("app", APPS)
def test_custom_apps_test_a_configurable_path(app: str) -> None:
    definition = get_catalog().get(app)
    assert definition.test_request is not None
    assert definition.test_request.path == "{test_path}"
    method = definition.auth_methods[0]
    field = next(f for f in method.fields if f.name == "test_path")
    assert not field.secret and not field.destination and field.default == "/"
