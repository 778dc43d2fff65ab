"""Reflex configuration. Database and URLs come from `connections_app.core.settings`,
which reads the `REFLEX_`/`CONNECTIONS_` environment, so the web app, the CLI and the
tests agree on one database."""

import reflex as rx

from connections_app.core.settings import get_settings
from connections_app.ui.dev_headers import DevServerHeaders

_settings = get_settings()
_origins = sorted({_settings.app_url, _settings.api_url})

config = rx.Config(
    app_name="connections_app",
    db_url=_settings.db_url,
    async_db_url=_settings.async_db_url,
    redis_url=_settings.redis_url,
    api_url=_settings.api_url,
    deploy_url=_settings.app_url,
    cors_allowed_origins=_origins,
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(accent_color="indigo", gray_color="slate", radius="medium")
        ),
        DevServerHeaders(),  # `make run`'s Vite dev server; prod: http/security.py
    ],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
