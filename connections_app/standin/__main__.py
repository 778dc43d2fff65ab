"""`python -m connections_app.standin --port 8765`: serve the stand-in on loopback only."""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys

import uvicorn

from connections_app.standin.app import create_app
from connections_app.standin.oauth import client_id_for, client_secret_for
from connections_app.standin.overrides import OAUTH_CATALOG_APPS, catalog_env


def _is_loopback(host: str) -> bool:
    try:
        return all(
            ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None)
        )
    except (socket.gaierror, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connections_app.standin")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--print-env", action="store_true", help="print the catalog overrides for this address"
    )
    parser.add_argument(
        "--print-oauth-clients",
        action="store_true",
        help="print 'app client_id client_secret' for each OAuth app (demo values)",
    )
    args = parser.parse_args(argv)
    if args.print_oauth_clients:
        for app in OAUTH_CATALOG_APPS:
            print(app, client_id_for(app), client_secret_for(app))
        return 0
    if args.print_env:
        for name, value in catalog_env(f"http://{args.host}:{args.port}").items():
            print(f"{name}={value}")
        return 0
    if not _is_loopback(args.host):
        print("error: the stand-in provider only listens on loopback", file=sys.stderr)
        return 2
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
