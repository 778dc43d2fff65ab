"""The catalog overrides that point each app at a stand-in listening on `base_url`.

The stand-in owns its URL layout, so it also says how to reach it; the Makefile
and the tests take these variables rather than repeating the layout.
"""

from __future__ import annotations

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
    return env


def custom_base_url(base_url: str) -> str:
    """The base URL a "Custom API key" connection uses to reach the stand-in."""
    return base_url.rstrip("/") + "/custom"
