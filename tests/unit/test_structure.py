"""Structural invariants that a grep can prove: who decrypts, who queries connections,
and that the core and state classes stay what they claim to be."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "connections_app"


def _modules(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.py") if "__pycache__" not in p.parts]


def _calls(tree: ast.AST, attr: str) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == attr
    ]


def test_only_the_runtime_apply_path_decrypts() -> None:
    # Besides applying a credential to a request, secrets are opened only to talk
    # to the provider on the connection's behalf: the client secret and PKCE
    # verifier at the code exchange, the refresh token at refresh and revoke.
    allowed = {
        PACKAGE / "core" / "vault.py",
        PACKAGE / "core" / "connections" / "runtime.py",
        PACKAGE / "core" / "oauth" / "clients.py",
        PACKAGE / "core" / "oauth" / "flow.py",
        PACKAGE / "core" / "oauth" / "tokens.py",
    }
    offenders = [
        f"{path.relative_to(PACKAGE)}:{line}"
        for path in _modules(PACKAGE)
        if path not in allowed
        for line in _calls(ast.parse(path.read_text()), "decrypt")
    ]
    assert offenders == []


def test_connections_are_queried_only_through_tenancy() -> None:
    offenders = []
    for path in _modules(PACKAGE):
        if path.name == "tenancy.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "select"
                and node.args
            ):
                first = node.args[0]
                name = (
                    first.value.id
                    if isinstance(first, ast.Attribute) and isinstance(first.value, ast.Name)
                    else getattr(first, "id", None)
                )
                if name == "Connection":
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []


def test_core_never_imports_reflex() -> None:
    offenders = []
    for path in _modules(PACKAGE / "core"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "reflex"]
    assert offenders == []


def _is_client_options(keyword: ast.keyword) -> bool:
    value = keyword.value
    return (
        keyword.arg is None
        and isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr == "client_options"
    )


def test_every_outgoing_http_client_goes_through_the_egress_policy() -> None:
    """A request made with a connection leaves only through `egress`: a client built
    any other way would skip the destination check (and honour proxy variables)."""
    offenders = []
    for path in _modules(PACKAGE / "core"):
        if path.name == "egress.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name in {"Client", "AsyncClient", "OAuth2Client", "AsyncOAuth2Client"} and not any(
                _is_client_options(k) for k in node.keywords
            ):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
            if (
                name in {"get", "post", "request", "stream"}
                and getattr(node.func, "value", None) is not None
                and getattr(node.func.value, "id", None) == "httpx"
            ):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} (httpx.{name})")
    assert offenders == []
