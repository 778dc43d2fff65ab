"""The catalog overrides that point each app at a stand-in listening on `base_url`.

The stand-in owns its URL layout, so it also says how to reach it; the Makefile
and the tests take these variables rather than repeating the layout.
"""

from __future__ import annotations

from urllib.parse import urlsplit

APP_PATHS = {
    "stripe": "/stripe",
    "openai": "/openai",
    "anthropic": "/anthropic",
    "slack": "/slack",
    "hubspot": "/hubspot",
    "github": "/github",
    "freshdesk": "/freshdesk/{subdomain}/api/v2",
    "twilio": "/twilio/2010-04-01",
    "paypal": "/paypal",
}


OAUTH_CATALOG_APPS = ("slack", "hubspot", "github")


def catalog_env(base_url: str) -> dict[str, str]:
    """Base URLs for every app, and the OAuth endpoints of the OAuth apps."""
    base = base_url.rstrip("/")
    env = {
        f"CONNECTIONS_APP_{app.upper()}_BASE_URL": base + path for app, path in APP_PATHS.items()
    }
    for app in OAUTH_CATALOG_APPS:
        prefix = f"CONNECTIONS_APP_{app.upper()}"
        env[f"{prefix}_AUTHORIZE_URL"] = f"{base}/oauth/{app}/authorize"
        env[f"{prefix}_TOKEN_URL"] = f"{base}/oauth/{app}/token"
        env[f"{prefix}_REVOKE_URL"] = f"{base}/oauth/{app}/revoke"
        env[f"{prefix}_IDENTITY_URL"] = f"{base}/oauth/{app}/userinfo"
    env["CONNECTIONS_APP_PAYPAL_TOKEN_URL"] = f"{base}/oauth/paypal/token"  # client credentials
    # The stand-in listens on loopback, which the egress policy refuses by default:
    # allow exactly its address and port (another port on loopback stays refused).
    env["CONNECTIONS_EGRESS_ALLOW"] = egress_allow_entry(base)
    return env


def egress_allow_entry(base_url: str) -> str:
    """`host:port` of the stand-in, as CONNECTIONS_EGRESS_ALLOW takes it."""
    parts = urlsplit(base_url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def custom_base_url(base_url: str) -> str:
    """The base URL a "Custom API key" connection uses to reach the stand-in."""
    return base_url.rstrip("/") + "/custom"
