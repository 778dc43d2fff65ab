"""What every backend worker does first, before it serves anything."""

import os

from connections_app.ui.reflex_logging import route_reflex_logs

PRIVATE_UMASK = 0o077


def worker_start() -> None:
    """First lifespan step of every backend worker.

    Files the worker writes — Reflex's `.states/*.pkl`, which hold read-models and the
    handshake headers — are private to the app's user (0600). And granian configures
    its loggers again in each worker process, after the app was imported: route them,
    and Reflex's, through the JSON formatter once more.
    """
    os.umask(PRIVATE_UMASK)
    route_reflex_logs()
