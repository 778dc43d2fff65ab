"""`connections-admin` round trip: account → workspace → connection from stdin → masked list."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from connections_app import cli
from connections_app.core.vault import generate_master_key, set_vault
from tests.conftest import migrate
from tests.integration.cli_env import use_database

SECRET = "sk_live_CliRoundTripSecret9f8e7d"


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    migrate(url)
    use_database(monkeypatch, url, master_key=generate_master_key(), data_dir=str(tmp_path))
    set_vault(None)
    yield url
    set_vault(None)


def run(args: list[str], stdin: str = "") -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(args, out=out, stdin=io.StringIO(stdin))
    return code, out.getvalue()


def test_round_trip_shows_only_the_masked_tail(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["account", "create", "--name", "Northstar", "--slug", "northstar"])[0] == 0
    assert (
        run(["workspace", "create", "--account", "northstar", "--name", "Acme", "--slug", "acme"])[
            0
        ]
        == 0
    )
    assert (
        run(
            ["user", "create", "--email", "wes@example.test", "--name", "Wes", "--password-stdin"],
            stdin="a-long-password\n",
        )[0]
        == 0
    )
    assert (
        run(
            [
                "user",
                "add-member",
                "--email",
                "wes@example.test",
                "--account",
                "northstar",
                "--workspace",
                "acme",
                "--role",
                "admin",
            ]
        )[0]
        == 0
    )
    code, out = run(
        [
            "connection",
            "add",
            "--account",
            "northstar",
            "--workspace",
            "acme",
            "--app",
            "stripe",
            "--label",
            "Stripe (prod)",
        ],
        stdin=SECRET + "\n",
    )
    assert code == 0 and "••••7d" not in out and f"••••{SECRET[-4:]}" in out
    code, out = run(
        ["connection", "list", "--account", "northstar", "--workspace", "acme", "--json"]
    )
    assert code == 0
    rows = json.loads(out)
    assert [(r["label"], r["masked_tail"], r["status"]) for r in rows] == [
        ("Stripe (prod)", SECRET[-4:], "active")
    ]
    code, out = run(["connection", "list", "--account", "northstar", "--workspace", "acme"])
    assert "Stripe (prod)" in out
    assert SECRET not in out + capsys.readouterr().err
    assert run(["audit", "verify"])[0] == 0
    code, out = run(["keys", "status"])
    # the account, its workspace and the installation (OAuth clients): each made with its key
    assert code == 0 and "3 tenants" in out


def test_multi_secret_apps_take_json_on_stdin(cli_db: str) -> None:
    run(["account", "create", "--name", "N", "--slug", "n"])
    run(["workspace", "create", "--account", "n", "--name", "W", "--slug", "w"])
    code, out = run(
        [
            "connection",
            "add",
            "--account",
            "n",
            "--workspace",
            "w",
            "--app",
            "twilio",
            "--label",
            "SMS",
            "--field",
            "account_sid=AC0123456789abcdef0123456789abcdef",
        ],
        stdin=json.dumps({"auth_token": "fedcba9876543210fedcba9876543210"}),
    )
    assert code == 0, out


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            [
                "connection",
                "add",
                "--account",
                "ghost",
                "--workspace",
                "w",
                "--app",
                "stripe",
                "--label",
                "x",
            ],
            SECRET,
            "No account",
        ),
        (
            [
                "connection",
                "add",
                "--account",
                "n",
                "--workspace",
                "w",
                "--app",
                "nope",
                "--label",
                "x",
            ],
            SECRET,
            "Unknown app",
        ),
        (
            [
                "connection",
                "add",
                "--account",
                "n",
                "--workspace",
                "w",
                "--app",
                "stripe",
                "--label",
                "x",
                "--field",
                f"secret_key={SECRET}",
            ],
            "",
            "never from --field",
        ),
        (
            [
                "connection",
                "add",
                "--account",
                "n",
                "--workspace",
                "w",
                "--app",
                "stripe",
                "--label",
                "x",
            ],
            "",
            "No secret",
        ),
        (
            [
                "connection",
                "add",
                "--account",
                "n",
                "--workspace",
                "w",
                "--app",
                "stripe",
                "--label",
                "x",
            ],
            "not-a-key",
            "expected format",
        ),
        (
            ["user", "create", "--email", "bad", "--name", "x", "--password-stdin"],
            "long-enough-pass",
            "valid email",
        ),
        (
            ["workspace", "create", "--account", "n", "--name", "W", "--slug", "Bad Slug"],
            "",
            "Slugs",
        ),
        (
            ["refresher", "--once", "--rate", "fast"],
            "",
            "--rate: a rate is a number of requests per second",
        ),
        (["refresher", "--once", "--rate", "slack=-1"], "", "--rate: a rate is zero"),
        (["refresher", "--once", "--concurrency", "0"], "", "--concurrency must be 1 or more"),
        (["refresher", "--once", "--per-provider", "0"], "", "--per-provider must be 1 or more"),
    ],
)
def test_bad_input_is_one_clear_line(
    cli_db: str, capsys: pytest.CaptureFixture[str], args: list[str], stdin: str, message: str
) -> None:
    run(["account", "create", "--name", "N", "--slug", "n"])
    run(["workspace", "create", "--account", "n", "--name", "W", "--slug", "w"])
    capsys.readouterr()
    code, _ = run(args, stdin)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
    assert SECRET not in err


def test_unmigrated_database_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_database(
        monkeypatch, f"sqlite:///{tmp_path / 'empty.db'}", master_key=generate_master_key()
    )
    set_vault(None)
    code, _ = run(["keys", "status"])
    assert code == 1
    assert "make migrate" in capsys.readouterr().err
    set_vault(None)


def test_console_script_is_installed_and_reads_stdin(cli_db: str, tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "connections-admin"
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "connection" in result.stdout


def test_each_command_in_its_own_process(cli_db: str, tmp_path: Path) -> None:
    """How operators really run it: one process per command, the vault opened cold each
    time (a command that first touches the vault inside a transaction used to deadlock
    on SQLite's write lock)."""
    import os

    exe = str(Path(sys.executable).parent / "connections-admin")
    env = dict(os.environ)

    def admin(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run(
            [exe, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60
        )

    steps = [
        (["account", "create", "--name", "Solo", "--slug", "solo"], ""),
        (["workspace", "create", "--account", "solo", "--name", "One", "--slug", "one"], ""),
        (
            [
                *("connection", "add", "--account", "solo", "--workspace", "one"),
                *("--app", "stripe", "--label", "Stripe"),
            ],
            SECRET,
        ),
    ]
    for args, stdin in steps:
        result = admin(*args, stdin=stdin)
        assert result.returncode == 0, (args, result.stderr)
    listed = admin("connection", "list", "--account", "solo", "--workspace", "one", "--json")
    assert listed.returncode == 0, listed.stderr
    assert SECRET not in listed.stdout and SECRET[-4:] in listed.stdout


@pytest.mark.parametrize("variable", ["CONNECTIONS_EGRESS_ALLOW", "CONNECTIONS_EGRESS_DENY"])
def test_an_unreadable_egress_entry_is_a_clear_error(
    cli_db: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
) -> None:
    from connections_app.core.settings import get_settings

    monkeypatch.setenv(variable, "10.0.0.0/8 not-a-host!")
    get_settings.cache_clear()
    code, _ = run(["keys", "status"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{variable}: cannot read 'not-a-host!'" in err and "Traceback" not in err


def test_prices_set_list_remove_with_clear_errors(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["account", "create", "--name", "Northstar", "--slug", "northstar"])[0] == 0
    base = ["--account", "northstar", "--app", "openai", "--model", "gpt-4o"]
    one = ["--input", "1", "--output", "1"]
    code, out = run(["prices", "set", *base, "--input", "2.00", "--output", "$8"])
    assert code == 0 and "openai gpt-4o: $2.00 in, $8.00 out per million tokens" in out
    code, out = run(["prices", "list", "--account", "northstar", "--app", "openai", "--json"])
    rows = {r["model"]: r for r in json.loads(out)}
    assert code == 0 and rows["gpt-4o"]["input_micros_per_mtok"] == 2_000_000
    assert rows["gpt-4o"]["source"] == "account" and rows["gpt-4o-mini"]["source"] == "catalog"
    code, out = run(["prices", "list", "--account", "northstar"])
    assert code == 0 and "claude-3-5-haiku" in out and "(account)" in out
    capsys.readouterr()
    for args, message in (
        (["prices", "set", *base, "--input", "two", "--output", "1"], "--input must be dollars"),
        (["prices", "set", *base, "--input", "1", "--output", "-1"], "--output must be dollars"),
        (
            ["prices", "set", "--account", "northstar", "--app", "stripe", "--model", "x", *one],
            "Prices are set for model providers only",
        ),
        (
            ["prices", "set", "--account", "nowhere", "--app", "openai", "--model", "x", *one],
            "ccount",
        ),
        (["prices", "remove", *base[:4], "--model", "gpt-5"], "no own price"),
    ):
        assert run(args)[0] == 2, args
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and "Traceback" not in err, err
    code, out = run(["prices", "remove", *base])
    assert code == 0 and "the catalog's price applies again" in out
    code, out = run(["prices", "list", "--account", "northstar", "--app", "openai", "--json"])
    assert {r["source"] for r in json.loads(out)} == {"catalog"}
