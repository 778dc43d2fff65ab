"""The UI renders the core's answers and never re-decides a rule (issue 11).

Each check is an AST scan of `connections_app/ui`; each check is first run against
planted snippets, so a scanner that silently matches nothing fails here too.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

UI = Path(__file__).resolve().parents[2] / "connections_app" / "ui"
TENANCY = "connections_app.core.tenancy"
# A type to annotate the caller with is fine; the policy (ops, roles, can_*) is not.
TENANCY_NAMES_ALLOWED = {"Actor"}
RULE_FIELDS = {"kind", "status"}


def _ui_modules() -> list[Path]:
    return [p for p in UI.rglob("*.py") if "__pycache__" not in p.parts]


# --- policy helpers ------------------------------------------------------------------


def policy_imports(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == TENANCY or node.module.startswith(TENANCY + "."):
                found += [
                    f"{node.lineno}: {a.name}"
                    for a in node.names
                    if a.name not in TENANCY_NAMES_ALLOWED
                ]
            elif node.module == "connections_app.core":
                found += [f"{node.lineno}: tenancy" for a in node.names if a.name == "tenancy"]
        elif isinstance(node, ast.Import):
            found += [
                f"{node.lineno}: {a.name}"
                for a in node.names
                if a.name == TENANCY or a.name.startswith(TENANCY + ".")
            ]
    return found


# --- kind/status compared with a literal ---------------------------------------------


def _names_rule_field(node: ast.AST) -> bool:
    """`kind`, `x.status`, `row["kind"]`, `d.get("status")`."""
    if isinstance(node, ast.Name):
        return node.id in RULE_FIELDS
    if isinstance(node, ast.Attribute):
        return node.attr in RULE_FIELDS
    if isinstance(node, ast.Subscript):
        key = node.slice
        return isinstance(key, ast.Constant) and key.value in RULE_FIELDS
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        first = node.args[0] if node.args else None
        return (
            node.func.attr == "get"
            and isinstance(first, ast.Constant)
            and first.value in RULE_FIELDS
        )
    return False


def _is_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return bool(node.elts) and all(_is_literal(e) for e in node.elts)
    return False


def rule_comparisons(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_names_rule_field(s) for s in sides) and any(_is_literal(s) for s in sides):
                lines.append(node.lineno)
    return lines


# --- import circles among states -----------------------------------------------------


def _state_imports(path: Path) -> set[str]:
    """Every `connections_app.ui.states.*` module a state imports, at any depth
    (function-level imports too: they hide a circle, they do not break it)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("connections_app.ui.states."):
                found.add(node.module.rsplit(".", 1)[1])
            elif node.module == "connections_app.ui.states":
                found |= {a.name for a in node.names}
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            found.append([*path[path.index(name) :], name])
            return
        if name in done:
            return
        for nxt in sorted(graph.get(name, ())):
            visit(nxt, [*path, name])
        done.add(name)

    for start in sorted(graph):
        visit(start, [])
    return found


# --- the scanners catch what they are meant to catch ---------------------------------

PLANTED_POLICY = [
    "from connections_app.core.tenancy.policy import can_create",
    "from connections_app.core.tenancy.policy import Actor, Op, check",
    "from connections_app.core.tenancy.policy import allowed_ops",
    "from connections_app.core import tenancy",
    "import connections_app.core.tenancy",
]
PLANTED_COMPARISONS = [
    'rx.cond(row["kind"] != "oauth2", a, b)',
    'x = view.kind == "oauth2"',
    'if view.status == "pending": pass',
    'ok = s.status in ("succeeded", "skipped")',
    'ok = self.last_run.get("status", "") == "waiting"',
    'ok = "revoked" != status',
]
CLEAN = [
    "from connections_app.core.tenancy.actor import Actor",
    'rx.cond(row["actions"]["rotate"], a, b)',
    'rx.cond(step["http_status"] != "", a, b)',
    "x = view.via_sign_in",
    'rx.match(row["status"], ("active", a), b)',
]


@pytest.mark.parametrize("snippet", PLANTED_POLICY)
def test_the_policy_scan_finds_a_planted_import(snippet: str) -> None:
    assert policy_imports(ast.parse(snippet))


@pytest.mark.parametrize("snippet", PLANTED_COMPARISONS)
def test_the_comparison_scan_finds_a_planted_check(snippet: str) -> None:
    assert rule_comparisons(ast.parse(snippet))


@pytest.mark.parametrize("snippet", CLEAN)
def test_the_scans_leave_core_answers_alone(snippet: str) -> None:
    tree = ast.parse(snippet)
    assert not policy_imports(tree) and not rule_comparisons(tree)


def test_the_cycle_scan_finds_a_planted_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert not cycles({"a": {"b"}, "b": {"c"}, "d": {"a"}})


# --- the real code ---------------------------------------------------------------------


def _offenders(scan: Callable[[ast.AST], list[Any]]) -> dict[str, list[Any]]:
    """Each UI module where `scan` finds something, with what it found."""
    return {
        str(p.relative_to(UI)): found
        for p in _ui_modules()
        if (found := scan(ast.parse(p.read_text())))
    }


def test_no_ui_module_imports_policy_helpers() -> None:
    offenders = _offenders(policy_imports)
    assert offenders == {}, "ask the core (read-model actions, SessionView) instead"


def test_no_ui_module_compares_kind_or_status_with_a_literal() -> None:
    offenders = _offenders(rule_comparisons)
    assert offenders == {}, "the read-model should carry the answer (e.g. view.actions)"


def test_states_do_not_import_each_other_in_a_circle() -> None:
    states = UI / "states"
    graph = {p.stem: _state_imports(p) for p in states.glob("*.py")}
    assert cycles(graph) == []
