"""Every environment variable the application reads, in one typed place.

Reflex only reads `REFLEX_`-prefixed variables, so database and Redis URLs use
Reflex's names (one source of truth for the web app, the CLI and the tests);
everything of our own starts with `CONNECTIONS_`.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from connections_app.core.ratelimit import RateSpec

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None
    if not value >= 0:  # also refuses NaN
        raise SystemExit(f"{name} must be zero or more, got {raw!r}")
    return value


def _rates(name: str) -> RateSpec:
    """Requests per second per provider: "20", or "20,slack=5" (0 = no limit)."""
    try:
        return RateSpec.parse(os.environ.get(name, ""))
    except ValueError as err:
        raise SystemExit(f"{name}: {err}") from None


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(name: str) -> tuple[IPNetwork, ...]:
    """Comma-separated addresses or CIDR ranges; a typo stops start-up, loudly."""
    raw = os.environ.get(name, "")
    networks: list[IPNetwork] = []
    for part in raw.split(","):
        if not part.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError:
            raise SystemExit(
                f"{name} must list IP addresses or CIDR ranges, got {part.strip()!r}"
            ) from None
    return tuple(networks)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    db_url: str
    async_db_url: str | None
    redis_url: str | None
    master_key: str | None = field(repr=False)
    master_key_file: Path
    session_ttl_hours: int
    session_cookie_name: str
    cookie_secure: bool
    app_url: str
    api_url: str
    log_level: str
    env: str
    refresh_lead_seconds: int = 300
    refresh_interval_seconds: int = 15
    # The refresher's pacing (core/ratelimit.py), per refresher process.
    refresh_concurrency: int = 12
    refresh_per_provider: int = 8
    refresh_rate: RateSpec = field(default_factory=RateSpec)
    refresh_backoff_seconds: float = 5.0
    # Egress policy for requests made with connections (see core/egress.py).
    egress_allow: str = ""
    egress_deny: str = ""
    # Reverse proxies whose X-Forwarded-For names the real client (sign-in throttle).
    trusted_proxies: tuple[IPNetwork, ...] = ()
    # The key ring's second key during a master-key rotation (see core/vault.py
    # `load_key_ring`): the KEK being replaced, kept until `keys retire-master`.
    previous_master_key: str | None = field(default=None, repr=False)
    previous_master_key_file_setting: Path | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")

    @property
    def previous_master_key_file(self) -> Path:
        """Next to the master key file unless set: `rotate-master` writes it there."""
        if self.previous_master_key_file_setting is not None:
            return self.previous_master_key_file_setting
        return self.master_key_file.with_name(self.master_key_file.name + ".previous")


def load_settings() -> Settings:
    data_dir = Path(os.environ.get("CONNECTIONS_DATA_DIR", PROJECT_ROOT / "data")).resolve()
    db_url = os.environ.get("REFLEX_DB_URL") or f"sqlite:///{data_dir / 'connections.db'}"
    app_url = os.environ.get("CONNECTIONS_APP_URL", "http://localhost:3000").rstrip("/")
    api_url = os.environ.get("REFLEX_API_URL", "http://localhost:8000").rstrip("/")
    return Settings(
        data_dir=data_dir,
        db_url=db_url,
        async_db_url=os.environ.get("REFLEX_ASYNC_DB_URL") or None,
        redis_url=os.environ.get("REFLEX_REDIS_URL") or None,
        master_key=os.environ.get("CONNECTIONS_MASTER_KEY") or None,
        master_key_file=Path(
            os.environ.get("CONNECTIONS_MASTER_KEY_FILE", data_dir / "master.key")
        ).resolve(),
        session_ttl_hours=_int("CONNECTIONS_SESSION_TTL_HOURS", 12),
        session_cookie_name=os.environ.get("CONNECTIONS_SESSION_COOKIE", "cx_session"),
        cookie_secure=app_url.startswith("https://"),
        app_url=app_url,
        api_url=api_url,
        log_level=os.environ.get("CONNECTIONS_LOG_LEVEL", "INFO").upper(),
        env=os.environ.get("CONNECTIONS_ENV", "dev"),
        refresh_lead_seconds=_int("CONNECTIONS_REFRESH_LEAD_SECONDS", 300),
        refresh_interval_seconds=_int("CONNECTIONS_REFRESH_INTERVAL_SECONDS", 15),
        refresh_concurrency=max(1, _int("CONNECTIONS_REFRESH_CONCURRENCY", 12)),
        refresh_per_provider=max(1, _int("CONNECTIONS_REFRESH_PER_PROVIDER", 8)),
        refresh_rate=_rates("CONNECTIONS_REFRESH_RATE"),
        refresh_backoff_seconds=_float("CONNECTIONS_REFRESH_BACKOFF_SECONDS", 5.0),
        egress_allow=os.environ.get("CONNECTIONS_EGRESS_ALLOW", ""),
        egress_deny=os.environ.get("CONNECTIONS_EGRESS_DENY", ""),
        trusted_proxies=_networks("CONNECTIONS_TRUSTED_PROXIES"),
        previous_master_key=os.environ.get("CONNECTIONS_PREVIOUS_MASTER_KEY") or None,
        previous_master_key_file_setting=(
            Path(os.environ["CONNECTIONS_PREVIOUS_MASTER_KEY_FILE"]).resolve()
            if os.environ.get("CONNECTIONS_PREVIOUS_MASTER_KEY_FILE")
            else None
        ),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings; tests call `get_settings.cache_clear()` after changing env."""
    return load_settings()
