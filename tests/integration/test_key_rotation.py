"""Online key rotation (F7): the key ring, `rotate-master` / `retire-master`,
`rotate-data-key`, against a real database; every sealed place of the product."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from connections_app import cli
from connections_app.core import key_rotation
from connections_app.core.db import session_scope
from connections_app.core.settings import get_settings, load_settings
from connections_app.core.tenancy import sealed_rows
from connections_app.core.vault import (
    DataKey,
    LocalMasterKey,
    Vault,
    WrongMasterKey,
    generate_master_key,
    open_vault,
    parse_master_key,
    set_vault,
    write_key_file,
)
from tests.conftest import World
from tests.integration.cli_env import use_database
from tests.integration.sealed_world import all_sealed, seal_everything


class Interrupted(Exception):
    pass


def _every_place_opens(db: Session, vault: Vault, expected: dict) -> None:
    rows = {row.place: row for row in all_sealed(db)}
    for place, plaintext in expected.items():
        assert vault.decrypt(db, place=place, sealed=rows[place].sealed) == plaintext


def test_every_sealed_column_is_known_to_the_rotation() -> None:
    """A new sealed column must join `SEALED_TABLES`, or a data-key rotation would destroy
    the key it still needs."""
    import connections_app.core.models  # noqa: F401  (every table)

    sealed_columns = {
        (table.name, column.name)
        for table in SQLModel.metadata.tables.values()
        for column in table.columns
        if column.name.endswith("ciphertext") and table.name != "vault_check"
    }
    known = {(t.model.__tablename__, t.ciphertext) for t in sealed_rows.SEALED_TABLES}
    assert sealed_columns == known


def test_data_key_rotation_reseals_every_place_resumes_and_destroys_the_old_version(
    engine: Engine, vault: Vault, world: World
) -> None:
    def session() -> Session:
        return Session(engine, expire_on_commit=False)

    with session() as db:
        expected = seal_everything(db, vault, world)
        tenants = sealed_rows.tenants_named(db, account_slug=None, workspace_slug=None)
        before = vault.active_versions(db)
    rotated, resumed = key_rotation.start_data_key_rotation(session, vault, tenants)
    assert not resumed and set(rotated) == set(before)

    # a crash after the second batch: both versions open meanwhile
    def crash(done: int, _total: int) -> None:
        if done >= 4:
            raise Interrupted

    with pytest.raises(Interrupted):
        key_rotation.reseal_remaining(session, vault, rotated, batch_size=2, on_progress=crash)
    with session() as db:
        left = sealed_rows.count_under_retired(db)
        assert 0 < left < len(expected)
        _every_place_opens(db, vault, expected)
        # a person re-enters one secret meanwhile: it is sealed under the new version
        place, _old = next(
            (p, v) for p, v in expected.items() if p.owner.startswith("oauth-client:")
        )
        from connections_app.core.oauth import clients

        clients.set_client(
            db, vault=vault, app="github", client_id="drill", client_secret="re-entered-secret-1"
        )
        db.commit()
        expected[place] = "re-entered-secret-1"

    # a second command resumes the unfinished rotation instead of starting another
    again, resumed = key_rotation.start_data_key_rotation(session, vault, tenants)
    assert resumed and set(again) == set(rotated)
    result = key_rotation.reseal_remaining(session, vault, again, batch_size=3)
    assert result.destroyed_keys == len(rotated)
    with session() as db:
        assert sealed_rows.count_under_retired(db) == 0
        assert vault.rotating_tenants(db) == {}
        after = vault.active_versions(db)
        assert {t: after[t] for t in before} == {t: v + 1 for t, v in before.items()}
        for row in all_sealed(db):
            assert row.sealed.key_version == after[row.place.tenant_id]
        old = db.exec(
            select(DataKey).where(DataKey.tenant_id.in_(rotated), DataKey.state == "destroyed")  # type: ignore[attr-defined]
        ).all()
        assert len(old) >= len(rotated) and all(k.wrapped_key is None for k in old)
        _every_place_opens(db, vault, expected)
    # and a process started now (cold data-key cache) opens them too
    with session() as db:
        restarted = Vault(vault._master)
        _every_place_opens(db, restarted, expected)


def run(args: list[str], stdin: str = "") -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(args, out=out, stdin=io.StringIO(stdin))
    return code, out.getvalue()


@pytest.fixture
def file_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A database whose master key lives in a key file (the default deployment)."""
    from tests.conftest import migrate

    url = f"sqlite:///{tmp_path / 'rot.db'}"
    migrate(url)
    monkeypatch.delenv("CONNECTIONS_MASTER_KEY", raising=False)
    monkeypatch.delenv("CONNECTIONS_PREVIOUS_MASTER_KEY", raising=False)
    use_database(monkeypatch, url, data_dir=str(tmp_path))
    set_vault(None)
    yield tmp_path
    set_vault(None)


def _settings(**changes: object):
    return dataclasses.replace(load_settings(), **changes)


def test_master_rotation_online_retire_only_when_done_and_both_keys_checked_at_start(
    file_mode: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["account", "create", "--name", "Acme", "--slug", "acme"])[0] == 0
    for ws in ("one", "two", "three"):
        assert run(["workspace", "create", "--account", "acme", "--name", ws, "--slug", ws])[0] == 0
    secret = "sk_live_RotateMeOnline0000000001"
    add = ["connection", "add", "--account", "acme", "--workspace", "one"]
    assert run([*add, "--app", "stripe", "--label", "S"], stdin=secret)[0] == 0
    settings = get_settings()
    old_text = settings.master_key_file.read_text().strip()
    with session_scope() as db:
        running = open_vault(db, settings)  # app processes started before the rotation
        idle = open_vault(db, settings)
        rows = all_sealed(db)
    (stored,) = [r for r in rows if r.place.owner != "oauth-client:github"]

    # the rotation begins: new key registered and installed, one batch done, then a crash
    new_text = generate_master_key()
    new = LocalMasterKey(parse_master_key(new_text))
    rotator = Vault(LocalMasterKey(parse_master_key(old_text)))
    with session_scope() as db:
        rotator.register_master(db, new)
        db.commit()
    write_key_file(settings.previous_master_key_file, old_text)
    write_key_file(settings.master_key_file, new_text)
    rotator.promote(new)
    with session_scope() as db:
        assert rotator.rewrap_batch(db, 2) == 2
        db.commit()

    set_vault(None)
    code, out = run(["keys", "status"])
    assert code == 0
    assert f"{new.kek_id} (active)" in out and "(previous)" in out
    assert "master-key rotation: 2/5 live data keys under the active key (40%)" in out
    code, _ = run(["keys", "retire-master"])
    assert code == cli.EXIT_KEYS
    assert "still wrapped under master key id" in capsys.readouterr().err

    # start-up checks both keys of the ring, and that the ring covers every data key
    with session_scope() as db:
        open_vault(db, _settings())  # new + previous: fine
        with pytest.raises(WrongMasterKey, match="rotation is unfinished"):
            open_vault(db, _settings(previous_master_key_file_setting=file_mode / "none"))
        with pytest.raises(WrongMasterKey, match="rotation is unfinished"):
            open_vault(db, _settings(previous_master_key=generate_master_key()))  # not the old
        with pytest.raises(WrongMasterKey):
            open_vault(db, _settings(master_key=generate_master_key()))

    # a running app opens both generations meanwhile, and its readiness check follows
    with session_scope() as db:
        assert running.verify(db) is False
        for row in rows:
            running.decrypt(db, place=row.place, sealed=row.sealed)
        assert running.decrypt(db, place=stored.place, sealed=stored.sealed) == secret

    set_vault(None)
    code, out = run(["keys", "rotate-master", "--batch-size", "1"])  # resume, no key needed
    assert code == 0 and "3 data keys re-wrapped" in out
    code, out = run(["keys", "rotate-master", "--new-key-file", "-"], stdin=new_text)
    assert code == 0 and "0 data keys re-wrapped" in out  # idempotent
    assert "re-wrap data keys: 0/0" in capsys.readouterr().err
    # an app process that has not unwrapped anything yet learns the new key from the files
    assert idle.kek_id == rotator.previous_kek_ids[0]
    with session_scope() as db:
        assert idle.decrypt(db, place=stored.place, sealed=stored.sealed) == secret
    assert idle.kek_id == new.kek_id
    code, out = run(["keys", "retire-master"])
    assert code == 0 and "retired master key id" in out
    assert not settings.previous_master_key_file.exists()
    set_vault(None)
    with session_scope() as db:
        assert (
            open_vault(db, _settings()).decrypt(db, place=stored.place, sealed=stored.sealed)
            == secret
        )
        with pytest.raises(WrongMasterKey):
            open_vault(db, _settings(master_key=old_text))
    code, out = run(["keys", "status"])
    assert "previous" not in out and "rotation" not in out
    # a process still holding the retired key (its environment) keeps serving: it is ignored
    with session_scope() as db:
        stale = open_vault(db, _settings(previous_master_key=old_text))
        assert stale.previous_kek_ids == []
        assert stale.decrypt(db, place=stored.place, sealed=stored.sealed) == secret


def test_rotate_master_refuses_bad_input_without_writing(
    file_mode: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["account", "create", "--name", "Acme", "--slug", "acme"])[0] == 0
    key_file = get_settings().master_key_file
    before = key_file.read_text()
    capsys.readouterr()
    for args, stdin in [
        (["keys", "rotate-master", "--new-key-file", "-"], "not a key"),
        (["keys", "rotate-master", "--new-key-file", str(file_mode / "missing.key")], ""),
        (["keys", "rotate-data-key"], ""),
        (["keys", "rotate-data-key", "--all", "--workspace", "x"], ""),
        (["keys", "rotate-data-key", "--workspace", "nope"], ""),
    ]:
        set_vault(None)
        code, _ = run(args, stdin)
        err = capsys.readouterr().err
        assert code in (cli.EXIT_INPUT, cli.EXIT_KEYS), args
        assert err.startswith("error: ") and "Traceback" not in err, args
    assert key_file.read_text() == before
    assert not get_settings().previous_master_key_file.exists()
    code, out = run(["keys", "retire-master"])
    assert code == 0 and "Nothing to retire" in out


def test_a_value_that_does_not_open_stops_the_data_key_rotation_clearly_and_resumably(
    engine: Engine, vault: Vault, world: World
) -> None:
    from sqlalchemy import update

    from connections_app.core.connections.models import ConnectionSecret
    from connections_app.core.vault import DecryptionFailed
    from tests.integration.dbdump import dump

    def session() -> Session:
        return Session(engine, expire_on_commit=False)

    with session() as db:
        seal_everything(db, vault, world, per_workspace=1)
        (victim,) = db.exec(
            select(ConnectionSecret).where(ConnectionSecret.tenant_id == world.ws2).limit(1)
        ).all()
        original = victim.ciphertext
        db.execute(
            update(ConnectionSecret)
            .where(ConnectionSecret.id == victim.id)
            .values(ciphertext=bytes([original[0] ^ 1]) + original[1:])
        )
        db.commit()
    rotated, _ = key_rotation.start_data_key_rotation(session, vault, [world.ws2])
    before = dump(engine)
    with pytest.raises(DecryptionFailed, match=f"connection secrets \\(row {victim.id}\\)"):
        key_rotation.reseal_remaining(session, vault, rotated, batch_size=500)
    assert dump(engine) == before  # nothing of the batch was written
    with session() as db:
        db.execute(
            update(ConnectionSecret)
            .where(ConnectionSecret.id == victim.id)
            .values(ciphertext=original)
        )
        db.commit()
    result = key_rotation.reseal_remaining(session, vault, rotated, batch_size=500)
    assert result.destroyed_keys == 1
    with session() as db:
        assert sealed_rows.count_under_retired(db) == 0
