"""Security headers for the pages Vite's dev server serves (`make run`, port 3000).

In production (`reflex run --env prod`) the backend serves the built pages and the
edge guard (`http/security.py`) sets every header. In development, Vite serves the
pages itself; Reflex lets a plugin patch the generated `vite.config.js`, so this
one adds a dev-server middleware with the same frame, sniffing and referrer rules.
The dev CSP stops at `frame-ancestors`/`object-src`/`base-uri`: Vite injects inline
module scripts (React Refresh preamble, HMR client) whose text it generates per
request, so a script policy there would need per-response hashes for a server
that only ever runs on a developer's machine.

Kept free of the app's states: `rxconfig.py` imports it before the app.
"""

import json

from reflex_base import constants
from reflex_base.plugins import Plugin

DEV_HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'none'; object-src 'none'; base-uri 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
_DEFINE_ANCHOR = "export default defineConfig"
_PLUGINS_ANCHOR = "alwaysUseReactDomServerNode(),"
_PLUGIN = """
function connectionsSecurityHeaders(headers) {
  return {
    name: "connections-security-headers",
    apply: "serve",
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
        next();
      });
    },
  };
}
"""


def add_dev_headers(config: str) -> str:
    """Patch Reflex's generated vite.config.js (idempotent); fail loudly if the template
    changed so that the headers cannot be added."""
    if "connectionsSecurityHeaders" in config:
        return config
    if _DEFINE_ANCHOR not in config or _PLUGINS_ANCHOR not in config:
        msg = "cannot add the dev-server security headers: vite.config.js template changed"
        raise RuntimeError(msg)
    call = f"connectionsSecurityHeaders({json.dumps(DEV_HEADERS)}),\n    "
    return config.replace(_DEFINE_ANCHOR, _PLUGIN + "\n" + _DEFINE_ANCHOR, 1).replace(
        _PLUGINS_ANCHOR, call + _PLUGINS_ANCHOR, 1
    )


class DevServerHeaders(Plugin):
    """Registered in rxconfig.py."""

    def pre_compile(self, **context):  # type: ignore[no-untyped-def]
        context["add_modify_task"](constants.ReactRouter.VITE_CONFIG_FILE, add_dev_headers)
