"""`make run` serves pages from Vite's dev server: the plugin must find its anchors in
the vite.config.js that this Reflex version generates, and add the headers once."""

from __future__ import annotations

import json

import pytest
from reflex_base.compiler.templates import vite_config_template

from connections_app.ui.dev_headers import DEV_HEADERS, add_dev_headers


def _config() -> str:
    return vite_config_template(
        base="/", hmr=True, force_full_reload=False, experimental_hmr=False, sourcemap=False
    )


def test_the_generated_vite_config_gets_the_header_middleware_once() -> None:
    patched = add_dev_headers(_config())
    assert patched.count("function connectionsSecurityHeaders") == 1
    assert f"connectionsSecurityHeaders({json.dumps(DEV_HEADERS)})," in patched
    assert 'apply: "serve"' in patched  # the dev server only; the prod build is untouched
    assert add_dev_headers(patched) == patched
    assert "frame-ancestors 'none'" in DEV_HEADERS["Content-Security-Policy"]
    assert DEV_HEADERS["X-Frame-Options"] == "DENY"


def test_a_changed_template_fails_loudly() -> None:
    with pytest.raises(RuntimeError, match="template changed"):
        add_dev_headers("export default {}")
