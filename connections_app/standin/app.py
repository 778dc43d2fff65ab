"""A stand-in for third-party APIs, on loopback, for the tests and the demo.

It answers each catalog app's test request and a few actions the way the real
service does in shape: 200 with a small JSON body for the right credential,
401 for a wrong or missing one, 503 in "down" mode, a delay in "slow" mode. The
catalog is pointed at it by `CONNECTIONS_APP_<APP>_BASE_URL` overrides. It is a
separate program and imports nothing from the application, so it cannot
accidentally agree with the code under test. Its OAuth 2.0 server half (authlib)
is `standin/oauth.py`; access tokens it issues also open the app endpoints.
Model apps (OpenAI, Anthropic) report `model` and `usage` like the real ones, with
counts derived from the prompt or fixed by `PUT /_standin/usage/<app>`; each
reported usage is logged (`GET /_standin/usage`) so tests can add up the bill.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hmac
import json
from collections import Counter
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connections_app.standin.oauth import OAuthState, oauth_routes

# The demo's credentials: valid here and nowhere else. `make run` seeds them.
DEMO_CREDENTIALS: dict[str, dict[str, str]] = {
    "stripe": {"secret_key": "sk_test_DemoStripeKey4242424242"},
    "openai": {"api_key": "sk-demo-openai-0000000000000000"},
    "anthropic": {"api_key": "sk-ant-demo-0000000000000000000"},
    "slack": {"bot_token": "xoxb-demo-0000000000-slackbot"},
    "hubspot": {"access_token": "pat-na1-demo-hubspot-0000000"},
    "github": {"token": "ghp_DemoGithubToken0000000"},
    "freshdesk": {"subdomain": "northstar", "api_key": "DemoFreshdeskKey123"},
    "twilio": {
        "account_sid": "AC0123456789abcdef0123456789abcdef",
        "auth_token": "fedcba9876543210fedcba9876543210",
    },
    "custom": {"header": "X-Api-Key", "value": "demo-custom-key-0000"},
    # Sandbox credentials (F28 test mode): accepted too, and answers say livemode false.
    "stripe:test": {"secret_key": "sk_test_SandboxStripeKey00000000"},
    "slack:test": {"bot_token": "xoxb-sandbox-0000000000-slackbot"},
    "openai:test": {"api_key": "sk-sandbox-openai-000000000000000"},
}
MODES = ("ok", "down", "slow")


class StandIn:
    def __init__(self, credentials: dict[str, dict[str, str]] | None = None) -> None:
        self.initial = copy.deepcopy(credentials or DEMO_CREDENTIALS)
        self.reset()

    def reset(self) -> None:
        self.credentials = copy.deepcopy(self.initial)
        self.modes: dict[str, tuple[str, float]] = {}
        self.calls: Counter[str] = Counter()
        # What the echo endpoint received: an attacker's server records what reaches it.
        self.captured: list[dict[str, Any]] = []
        # Model calls: the usage each answer reported (what a provider bills), and fixed
        # counts set through the control route (otherwise derived from the prompt).
        self.usage_log: list[dict[str, Any]] = []
        self.usage_settings: dict[str, dict[str, Any]] = {}

    def model_usage(self, app: str, sent: dict[str, Any]) -> dict[str, Any]:
        """Deterministic usage for a model call: input tokens = characters of the prompt
        (at least 1), output tokens = 7 (the stand-in's fixed reply), unless set."""
        prompt = sent.get("prompt")
        if not isinstance(prompt, str):
            prompt = json.dumps(sent.get("messages", ""), ensure_ascii=False)
        fixed = self.usage_settings.get(app, {})
        model = fixed.get("model") or sent.get("model")
        entry = {
            "app": app,
            "model": model if isinstance(model, str) else None,
            "input_tokens": fixed.get("input_tokens", max(1, len(prompt))),
            "output_tokens": fixed.get("output_tokens", 7),
            "omit": bool(fixed.get("omit")),
        }
        self.usage_log.append(entry)
        return entry

    # --- credential checks (constant-time comparisons) -------------------------------

    def _expected(self, app: str, field: str) -> str:
        return self.credentials.get(app, {}).get(field, "")

    @staticmethod
    def _same(given: str | None, expected: str) -> bool:
        return bool(expected) and given is not None and hmac.compare_digest(given, expected)

    def bearer_ok(self, request: Request, app: str, field: str) -> bool:
        return self._bearer_is(request, app, field) or self.sandbox(request, app, field)

    def sandbox(self, request: Request, app: str, field: str) -> bool:
        """The call used the app's sandbox credential (`<app>:test`), not the live one."""
        return self._bearer_is(request, f"{app}:test", field)

    def _bearer_is(self, request: Request, app: str, field: str) -> bool:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else None
        return self._same(token, self._expected(app, field))

    def basic_ok(self, request: Request, user: str, password: str) -> bool:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        given_user, _, given_password = decoded.partition(":")
        return self._same(given_user, user) and self._same(given_password, password)


def _unauthorized(app: str) -> JSONResponse:
    bodies = {
        "stripe": {
            "error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}
        },
        "openai": {"error": {"type": "invalid_request_error", "code": "invalid_api_key"}},
        "anthropic": {"type": "error", "error": {"type": "authentication_error"}},
        "slack": {"ok": False, "error": "invalid_auth"},
        "github": {"message": "Bad credentials"},
        "twilio": {"code": 20003, "message": "Authenticate", "status": 401},
    }
    return JSONResponse(bodies.get(app, {"error": "unauthorized"}), status_code=401)


def create_app(*, credentials: dict[str, dict[str, str]] | None = None) -> Starlette:
    state = StandIn(credentials)
    oauth = OAuthState()

    async def gate(request: Request, app: str, endpoint: str) -> Response | None:
        state.calls[f"{app}:{endpoint}"] += 1
        mode, delay = state.modes.get(app, ("ok", 0.0))
        if mode == "down":
            return JSONResponse({"error": "service unavailable"}, status_code=503)
        if mode == "slow":
            await asyncio.sleep(delay)
        return None

    def endpoint(
        app: str,
        name: str,
        check: Any,
        body: Any,
        sandbox_field: str | None = None,
        usage: Any = None,
    ) -> Any:
        async def handler(request: Request) -> Response:
            blocked = await gate(request, app, name)
            if blocked is not None:
                return blocked
            if not check(request):
                return _unauthorized(app)
            payload = body(request) if callable(body) else body
            if request.method == "POST":
                try:
                    sent = await request.json()
                except ValueError:
                    sent = {}
                sent = sent if isinstance(sent, dict) else {}
                payload = {**payload, "received": sent}
                if usage is not None:
                    payload = {**payload, **usage(state.model_usage(app, sent))}
                if sandbox_field is not None:
                    live = not state.sandbox(request, app, sandbox_field)
                    payload["livemode"] = live
                    state.calls[f"{app}:{name}:{'live' if live else 'test'}"] += 1
            return JSONResponse(payload)

        return handler

    def bearer(app: str, field: str) -> Any:
        """The app's static credential, or a live access token its OAuth server issued."""

        def check(r: Request) -> bool:
            if state.bearer_ok(r, app, field):
                return True
            header = r.headers.get("authorization", "")
            token = header[7:] if header.lower().startswith("bearer ") else None
            return oauth.live_token(app, token) is not None

        return check

    def anthropic_ok(r: Request) -> bool:
        return StandIn._same(
            r.headers.get("x-api-key"), state._expected("anthropic", "api_key")
        ) and (r.headers.get("anthropic-version") is not None)

    def freshdesk_ok(r: Request) -> bool:
        expected = state.credentials.get("freshdesk", {})
        return r.path_params["subdomain"] == expected.get("subdomain") and state.basic_ok(
            r, expected.get("api_key", ""), "X"
        )

    def twilio_ok(r: Request) -> bool:
        expected = state.credentials.get("twilio", {})
        sid = r.path_params["sid"]
        return sid == expected.get("account_sid") and state.basic_ok(
            r, sid, expected.get("auth_token", "")
        )

    def custom_ok(r: Request) -> bool:
        expected = state.credentials.get("custom", {})
        header = expected.get("header", "X-Api-Key")
        given = r.headers.get(header) or r.query_params.get("api_key")
        return StandIn._same(given, expected.get("value", ""))

    routes = [
        Route(
            "/stripe/v1/balance",
            endpoint(
                "stripe",
                "balance",
                bearer("stripe", "secret_key"),
                {"object": "balance", "available": [{"amount": 4200, "currency": "usd"}]},
            ),
        ),
        Route(
            "/stripe/v1/customers",
            endpoint(
                "stripe",
                "create_customer",
                bearer("stripe", "secret_key"),
                {"object": "customer", "id": "cus_standin"},
                sandbox_field="secret_key",
            ),
            methods=["POST"],
        ),
        Route(
            "/openai/v1/models",
            endpoint(
                "openai",
                "models",
                bearer("openai", "api_key"),
                {"object": "list", "data": [{"id": "gpt-standin"}]},
            ),
        ),
        Route(
            "/openai/v1/chat/completions",
            endpoint(
                "openai",
                "chat",
                bearer("openai", "api_key"),
                {
                    "object": "chat.completion",
                    "choices": [
                        {"message": {"role": "assistant", "content": "Hello from the stand-in"}}
                    ],
                },
                sandbox_field="api_key",
                usage=_openai_usage,
            ),
            methods=["POST"],
        ),
        Route(
            "/anthropic/v1/models",
            endpoint(
                "anthropic",
                "models",
                anthropic_ok,
                {"data": [{"id": "claude-standin", "type": "model"}]},
            ),
        ),
        Route(
            "/anthropic/v1/messages",
            endpoint(
                "anthropic",
                "messages",
                anthropic_ok,
                {
                    "type": "message",
                    "content": [{"type": "text", "text": "Hello from the stand-in"}],
                },
                usage=_anthropic_usage,
            ),
            methods=["POST"],
        ),
        Route(
            "/slack/api/auth.test",
            endpoint(
                "slack",
                "auth.test",
                bearer("slack", "bot_token"),
                {"ok": True, "team": "Stand-in team", "team_id": "T0STANDIN", "user_id": "U0BOT"},
            ),
            methods=["GET", "POST"],
        ),
        Route(
            "/slack/api/chat.postMessage",
            endpoint(
                "slack",
                "post_message",
                bearer("slack", "bot_token"),
                {"ok": True, "ts": "1700000000.000100"},
                sandbox_field="bot_token",
            ),
            methods=["POST"],
        ),
        Route(
            "/hubspot/account-info/v3/details",
            endpoint(
                "hubspot",
                "details",
                bearer("hubspot", "access_token"),
                {"portalId": 4242, "uiDomain": "app.hubspot.com"},
            ),
        ),
        Route(
            "/hubspot/crm/v3/objects/contacts",
            endpoint(
                "hubspot",
                "create_contact",
                bearer("hubspot", "access_token"),
                {"id": "501", "properties": {}},
            ),
            methods=["POST"],
        ),
        Route(
            "/github/user",
            endpoint("github", "user", bearer("github", "token"), {"id": 1, "login": "standin"}),
        ),
        Route(
            "/freshdesk/{subdomain}/api/v2/agents/me",
            endpoint(
                "freshdesk",
                "me",
                freshdesk_ok,
                lambda r: {
                    "id": 7,
                    "contact": {"email": f"agent@{r.path_params['subdomain']}.test"},
                },
            ),
        ),
        Route(
            "/freshdesk/{subdomain}/api/v2/tickets",
            endpoint("freshdesk", "create_ticket", freshdesk_ok, {"id": 1001, "status": 2}),
            methods=["POST"],
        ),
        Route(
            "/twilio/2010-04-01/Accounts/{sid}.json",
            endpoint(
                "twilio",
                "account",
                twilio_ok,
                lambda r: {"sid": r.path_params["sid"], "status": "active"},
            ),
        ),
        Route(
            "/twilio/2010-04-01/Accounts/{sid}/Messages.json",
            endpoint("twilio", "send_sms", twilio_ok, {"sid": "SM0standin", "status": "queued"}),
            methods=["POST"],
        ),
        Route("/custom/me", endpoint("custom", "me", custom_ok, {"ok": True})),
        Route(
            "/paypal/v1/reporting/balances",
            endpoint(
                "paypal",
                "balances",
                bearer("paypal", "access_token"),
                {"balances": [{"currency": "USD", "total_balance": {"value": "42.00"}}]},
            ),
        ),
        Route(
            "/custom/echo", endpoint("custom", "echo", custom_ok, {"ok": True}), methods=["POST"]
        ),
    ]

    async def echo(request: Request) -> Response:
        """A hostile or careless service: answers with everything it was sent (headers,
        query, body, in plain and base64 form) and keeps a copy."""
        blocked = await gate(request, "echo", "echo")
        if blocked is not None:
            return blocked
        body = (await request.body()).decode("utf-8", errors="replace")
        seen = {
            "method": request.method,
            "path": request.url.path,
            "query": str(request.url.query),
            "headers": dict(request.headers),
            "body": body,
        }
        state.captured.append(seen)
        raw = repr(sorted(seen["headers"].items())).encode()
        return JSONResponse({**seen, "headers_base64": base64.b64encode(raw).decode()})

    async def redirect(request: Request) -> Response:
        """Sends the caller wherever `to` says (a redirect to somewhere the caller must
        not be led)."""
        state.calls["redirect"] += 1
        target = request.query_params.get("to", "/")
        return Response(status_code=302, headers={"Location": target})

    async def captured(_request: Request) -> Response:
        return JSONResponse(state.captured)

    routes += [
        Route("/echo/{rest:path}", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/redirect/{rest:path}", redirect, methods=["GET", "POST"]),
    ]

    async def set_credentials(request: Request) -> Response:
        app = request.path_params["app"]
        data = await _json_object(request)
        if data is None or not all(isinstance(v, str) for v in data.values()):
            return JSONResponse({"error": "expected a JSON object of strings"}, status_code=400)
        state.credentials[app] = data
        return JSONResponse({"app": app, "fields": sorted(data)})

    async def set_mode(request: Request) -> Response:
        app = request.path_params["app"]
        data = await _json_object(request)
        mode = (data or {}).get("mode")
        delay = (data or {}).get("seconds", 2.0)
        if mode not in MODES or not isinstance(delay, int | float) or not 0 <= delay <= 60:
            return JSONResponse({"error": f"mode must be one of {MODES}"}, status_code=400)
        state.modes[app] = (mode, float(delay))
        return JSONResponse({"app": app, "mode": mode})

    async def set_usage(request: Request) -> Response:
        """Fix what a model app's answers report: input_tokens, output_tokens (whole
        numbers), model, omit (answer without usage); an empty object goes back to
        counts derived from the prompt."""
        app = request.path_params["app"]
        data = await _json_object(request)
        counts_ok = data is not None and all(
            isinstance(data.get(k), int) and not isinstance(data.get(k), bool) and data[k] >= 0
            for k in ("input_tokens", "output_tokens")
            if k in data
        )
        if not counts_ok or set(data or {}) - {"input_tokens", "output_tokens", "model", "omit"}:
            return JSONResponse({"error": "expected token counts, model, omit"}, status_code=400)
        state.usage_settings[app] = data or {}
        return JSONResponse({"app": app, **(data or {})})

    async def usage_log(_request: Request) -> Response:
        return JSONResponse(state.usage_log)

    async def calls(_request: Request) -> Response:
        return JSONResponse(dict(state.calls))

    async def reset(_request: Request) -> Response:
        state.reset()
        oauth.reset()
        return JSONResponse({"reset": True})

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes += oauth_routes(oauth)
    routes += [
        Route("/_standin/credentials/{app}", set_credentials, methods=["PUT"]),
        Route("/_standin/mode/{app}", set_mode, methods=["PUT"]),
        Route("/_standin/calls", calls),
        Route("/_standin/usage/{app}", set_usage, methods=["PUT"]),
        Route("/_standin/usage", usage_log),
        Route("/_standin/captured", captured),
        Route("/_standin/reset", reset, methods=["POST"]),
        Route("/_standin/health", health),
    ]
    application = Starlette(routes=routes)
    application.state.standin = state
    application.state.oauth = oauth
    return application


def _openai_usage(entry: dict[str, Any]) -> dict[str, Any]:
    """A chat completion's `model` and `usage`, as OpenAI reports them."""
    if entry["omit"]:
        return {"model": entry["model"]}
    tokens_in, tokens_out = entry["input_tokens"], entry["output_tokens"]
    return {
        "model": entry["model"],
        "usage": {
            "prompt_tokens": tokens_in,
            "completion_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out,
        },
    }


def _anthropic_usage(entry: dict[str, Any]) -> dict[str, Any]:
    """A message's `model` and `usage`, as Anthropic reports them."""
    if entry["omit"]:
        return {"model": entry["model"]}
    usage = {"input_tokens": entry["input_tokens"], "output_tokens": entry["output_tokens"]}
    return {"model": entry["model"], "usage": usage}


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        data = await request.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
