"""The inline scripts the app's pages run, so the Content-Security-Policy can allow
exactly those (by hash) instead of 'unsafe-inline'.

Two sources: the HTML files of the production build (React Router puts its
bootstrap and hydration scripts inline; they change with every build), and
`rx.script` elements in the page components (react-helmet inserts them into the
document at run time, so they are in no HTML file).
"""

from collections.abc import Callable, Iterable
from pathlib import Path

import reflex as rx
from reflex.utils import prerequisites
from reflex_base import constants
from reflex_base.vars.base import LiteralVar
from reflex_components_core.base.bare import Bare
from reflex_components_core.el.elements.scripts import Script


def built_html_pages() -> list[Path]:
    """The HTML files of the frontend build (empty before the first production build)."""
    static = prerequisites.get_web_dir() / constants.Dirs.STATIC
    return sorted(static.rglob("*.html")) if static.is_dir() else []


def component_scripts(pages: Iterable[Callable[[], rx.Component]]) -> list[str]:
    """Text of every inline `rx.script` in these pages' component trees."""
    found: list[str] = []
    for page in pages:
        pending: list[object] = [page()]
        while pending:
            component = pending.pop()
            if isinstance(component, Script):
                found.extend(_literal_text(child) for child in component.children)
            pending.extend(getattr(component, "children", None) or [])
            for branch in ("comp1", "comp2"):  # rx.cond keeps its branches here
                if isinstance(getattr(component, branch, None), rx.Component):
                    pending.append(getattr(component, branch))
    return [text for text in found if text]


def _literal_text(child: object) -> str:
    if isinstance(child, Bare) and isinstance(child.contents, LiteralVar):
        value = getattr(child.contents, "_var_value", None)
        return value if isinstance(value, str) else ""
    return ""
