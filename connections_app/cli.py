"""`connections-admin`: the operator's command line, thin over the core.

Secrets are read from standard input (or a no-echo prompt), never from argv,
where `ps` and shell history would keep them. Every failure prints one clear
line and exits non-zero: 2 for bad input, 3 for key problems, 1 otherwise.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlmodel import Session

from connections_app.core import audit, egress, key_rotation, migrations, outage
from connections_app.core.catalog import get_catalog
from connections_app.core.connections import service as connections
from connections_app.core.db import get_engine, session_scope
from connections_app.core.errors import DomainError, Invalid
from connections_app.core.identity import account_deletion, workspace_deletion
from connections_app.core.identity import service as identity
from connections_app.core.logging_setup import configure_logging
from connections_app.core.metering import prices as model_prices
from connections_app.core.settings import get_settings
from connections_app.core.tenancy.actor import Actor
from connections_app.core.tenancy.sealed_rows import tenants_named
from connections_app.core.vault import (
    LocalMasterKey,
    VaultError,
    get_vault,
    parse_master_key,
    write_key_file,
)
from connections_app.progress import ProgressBar

EXIT_INPUT = 2
EXIT_KEYS = 3


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_INPUT) -> None:
        super().__init__(message)
        self.code = code


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no passwd entry in some containers
        return "cli:operator"


def _read_password(args: argparse.Namespace, stdin: TextIO) -> str:
    if args.password_stdin or not stdin.isatty():
        line = stdin.readline()
        return line.rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise CliError("The passwords do not match.")
    return first


def _actor(db: Session, account_slug: str, workspace_slug: str | None) -> Actor:
    account = identity.find_account(db, account_slug)
    workspace_id = None
    if workspace_slug:
        workspace_id = identity.find_workspace(db, account_id=account.id, slug=workspace_slug).id
    return Actor.operator(account_id=account.id, workspace_id=workspace_id, label=_operator())


def _parse_fields(pairs: Sequence[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CliError(f"--field takes name=value, got {pair!r}.")
        fields[name.strip()] = value
    return fields


def _read_secrets(secret_names: list[str], stdin: TextIO) -> dict[str, str]:
    if not secret_names:
        return {}
    if stdin.isatty():
        return {name: getpass.getpass(f"{name}: ") for name in secret_names}
    data = stdin.read()
    stripped = data.strip()
    if stripped.startswith("{"):
        try:
            parsed = json.loads(stripped)
        except json.JSONDecodeError:
            raise CliError("Standard input looks like JSON but does not parse.") from None
        if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
            raise CliError("The JSON on standard input must map field names to strings.")
        return parsed
    if len(secret_names) != 1:
        raise CliError(
            "This app has several secret fields: pass a JSON object on standard input, "
            f"with keys {', '.join(secret_names)}."
        )
    if not stripped:
        raise CliError("No secret on standard input.")
    return {secret_names[0]: data.rstrip("\r\n")}


# --- commands -------------------------------------------------------------------------


def cmd_account_create(args: argparse.Namespace, out: TextIO, _in: TextIO) -> None:
    with session_scope() as db:
        account = identity.create_account(
            db, vault=get_vault(), name=args.name, slug=args.slug, by=_operator()
        )
        print(f"created account {account.slug} ({account.id})", file=out)


def _typed_confirmation(
    args: argparse.Namespace, out: TextIO, stdin: TextIO, heading: str, lines: list[str], noun: str
) -> str:
    """Show what a deletion destroys, then the typed name (`--confirm-name` for scripts)."""
    print(heading, file=out)
    for line in lines:
        print(f"  - {line}", file=out)
    print("The audit trail records the deletion. This cannot be undone.", file=out)
    if args.confirm_name is not None:
        return str(args.confirm_name)
    if stdin.isatty():
        return input(f"Type the {noun} name to delete it: ")
    return stdin.readline().rstrip("\r\n")


def cmd_account_delete(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    """Crypto-shred an account: the summary first, then the typed name (or
    `--confirm-name` for scripts), then every key, every row and the account's event."""
    with session_scope() as db:
        actor = _actor(db, args.account, None)
        summary = account_deletion.deletion_summary(db, actor, actor.account_id)
        heading = f"Deleting account “{summary.name}” destroys all its data keys and:"
        typed = _typed_confirmation(args, out, stdin, heading, summary.lines, "account")
        done = account_deletion.delete_account(
            db, actor, actor.account_id, typed, vault=get_vault()
        )
        print(f"deleted account {args.account} ({done.account_id})", file=out)


def cmd_workspace_create(args: argparse.Namespace, out: TextIO, _in: TextIO) -> None:
    with session_scope() as db:
        account = identity.find_account(db, args.account)
        ws = identity.create_workspace(
            db,
            vault=get_vault(),
            account_id=account.id,
            name=args.name,
            slug=args.slug,
            by=_operator(),
        )
        print(f"created workspace {account.slug}/{ws.slug} ({ws.id})", file=out)


def cmd_workspace_delete(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    """Crypto-shred a workspace: the summary first, then the typed name (or
    `--confirm-name` for scripts), then keys, rows and the account's event."""
    with session_scope() as db:
        actor = _actor(db, args.account, None)
        workspace = identity.find_workspace(db, account_id=actor.account_id, slug=args.workspace)
        summary = workspace_deletion.deletion_summary(db, actor, workspace.id)
        heading = f"Deleting workspace “{summary.name}” destroys its data keys and:"
        typed = _typed_confirmation(args, out, stdin, heading, summary.lines, "workspace")
        done = workspace_deletion.delete_workspace(db, actor, workspace.id, typed, get_vault())
        print(f"deleted workspace {args.account}/{args.workspace} ({done.workspace_id})", file=out)


def cmd_user_create(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    password = _read_password(args, stdin)
    with session_scope() as db:
        user = identity.create_user(db, email=args.email, name=args.name, password=password)
        print(f"created user {user.email}", file=out)


def cmd_user_add_member(args: argparse.Namespace, out: TextIO, _in: TextIO) -> None:
    with session_scope() as db:
        account = identity.find_account(db, args.account)
        user = identity.find_user(db, args.email)
        if args.role == "account-admin":
            identity.make_account_admin(db, account_id=account.id, user_id=user.id, by=_operator())
            print(f"{user.email} is now an admin of account {account.slug}", file=out)
            return
        if not args.workspace:
            raise CliError("--workspace is required for workspace roles.")
        ws = identity.find_workspace(db, account_id=account.id, slug=args.workspace)
        identity.add_member(db, workspace_id=ws.id, user_id=user.id, role=args.role, by=_operator())
        print(f"{user.email} is now {args.role} of {account.slug}/{ws.slug}", file=out)


def cmd_connection_add(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    app = get_catalog().get(args.app)
    method = app.auth_method(args.kind)
    fields = _parse_fields(args.field or [])
    secret_names = [f.name for f in method.secret_fields]
    if set(fields) & set(secret_names):
        raise CliError("Secrets are read from standard input, never from --field.")
    fields.update(_read_secrets(secret_names, stdin))
    with session_scope() as db:
        actor = _actor(db, args.account, args.workspace)
        view = connections.create(
            db,
            actor=actor,
            app=app.key,
            kind=method.kind,
            label=args.label,
            fields=fields,
            stable_key=args.stable_key,
            sharing=args.sharing,
            scope="account" if args.workspace is None else "workspace",
        )
        tail = f"••••{view.masked_tail}" if view.masked_tail else "••••"
        print(f"created connection {view.stable_key} ({view.id}) {tail}", file=out)


def cmd_connection_list(args: argparse.Namespace, out: TextIO, _in: TextIO) -> None:
    with session_scope() as db:
        actor = _actor(db, args.account, args.workspace)
        rows: list[Any] = []
        page = 1
        while True:
            result = connections.list_connections(
                db,
                actor=actor,
                search=args.search,
                app=args.app,
                kind=args.kind,
                status=args.status,
                page=page,
                page_size=100,
                account_scope=args.workspace is None,
            )
            rows.extend(result.items)
            if page >= result.pages:
                break
            page += 1
    if args.json:
        json.dump([r.as_dict() for r in rows], out, indent=2, default=str)
        out.write("\n")
        return
    if not rows:
        print("no connections", file=out)
        return
    for r in rows:
        tail = f"••••{r.masked_tail}" if r.masked_tail else "••••"
        print(
            f"{r.stable_key:<32} {r.app:<16} {r.kind:<8} {r.status:<8} {tail:<10} {r.label}",
            file=out,
        )


def cmd_keys_status(_args: argparse.Namespace, out: TextIO, _in: TextIO) -> None:
    """Counts per master key (KEK) and how far an unfinished rotation has come."""
    vault = get_vault()
    with session_scope() as db:
        status = vault.status(db)
        rotation = key_rotation.status(db, vault)
    print(
        f"master key id {status.kek_id}: {status.tenants} tenants, {status.active_keys} active, "
        f"{status.retired_keys} retired, {status.destroyed_keys} destroyed data keys",
        file=out,
    )
    ring = [f"{rotation.active_kek_id} (active)"]
    ring += [f"{kek} (previous)" for kek in rotation.previous_kek_ids]
    print(f"key ring: {', '.join(ring)}", file=out)
    live_total = under_active = 0
    for kek_id, states in sorted(rotation.kek_counts.items()):
        live = sum(n for state, n in states.items() if state != "destroyed")
        live_total += live
        if kek_id == rotation.active_kek_id:
            under_active = live
            role = "active"
        elif kek_id in rotation.previous_kek_ids:
            role = "previous"
        else:
            role = "not in the ring"
        detail = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
        print(f"  wrapped under {kek_id} ({role}): {detail}", file=out)
    if under_active < live_total or rotation.previous_kek_ids:
        share = under_active / live_total if live_total else 1.0
        print(
            f"master-key rotation: {under_active}/{live_total} live data keys under the active "
            f"key ({share:.0%})"
            + ("; finished: retire the previous key" if under_active == live_total else ""),
            file=out,
        )
    if rotation.rotating_tenants:
        print(
            f"data-key rotation unfinished: {rotation.rotating_tenants} tenants, "
            f"{rotation.fields_under_retired} sealed fields still under an old version",
            file=out,
        )


def _read_new_key(args: argparse.Namespace, stdin: TextIO) -> tuple[LocalMasterKey, str] | None:
    """The new master key from a file or stdin ("-"), never from argv."""
    if args.new_key_file is None:
        return None
    if args.new_key_file == "-":
        text = stdin.read()
    else:
        try:
            text = Path(args.new_key_file).read_text()
        except OSError as err:
            raise CliError(f"Cannot read the new key file: {err.strerror}.") from None
    return LocalMasterKey(parse_master_key(text)), text.strip()


def _rewrap(args: argparse.Namespace, out: TextIO) -> None:
    vault = get_vault()
    bar = ProgressBar("re-wrap data keys", every_update=args.batch_lines)
    done = key_rotation.rewrap_remaining(
        session_scope, vault, batch_size=args.batch_size, on_progress=bar
    )
    bar.finish()
    print(
        f"{done} data keys re-wrapped; every live data key is under master key id "
        f"{vault.kek_id}. When every process runs with the new key (they pick it up on "
        "their own from the key files), retire the old one: connections-admin keys "
        "retire-master",
        file=out,
    )


def cmd_keys_rotate_master(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    """Install a new master key and re-wrap every data key under it, resumably.

    Order matters for crash safety: the new key's check row first (the database then
    knows it), then the previous key file, then the new master key file (each written
    atomically), then the re-wrap batches. Killed anywhere, the same command resumes."""
    settings = get_settings()
    vault = get_vault()
    new = _read_new_key(args, stdin)
    if new is not None and new[0].kek_id != vault.kek_id:
        key, key_text = new
        if key.kek_id in vault.previous_kek_ids:
            raise CliError("That is the previous master key; give a new one.")
        if vault.previous_kek_ids:
            raise CliError(
                f"A previous master key (id {vault.previous_kek_ids[0]}) is still in the key "
                "ring: finish that rotation (keys rotate-master) and retire it "
                "(keys retire-master) first."
            )
        with session_scope() as db:
            vault.register_master(db, key)
            db.commit()
        if settings.master_key or settings.previous_master_key:
            print(
                f"Master key id {key.kek_id} is registered. The key comes from the "
                "environment, so set CONNECTIONS_MASTER_KEY to the new key and "
                "CONNECTIONS_PREVIOUS_MASTER_KEY to the current one on every process, "
                "restart them, then run `connections-admin keys rotate-master` again.",
                file=out,
            )
            return
        current = settings.master_key_file.read_text().strip()
        write_key_file(settings.previous_master_key_file, current)
        write_key_file(settings.master_key_file, key_text)
        vault.promote(key)
        print(
            f"new master key id {key.kek_id} installed in {settings.master_key_file} "
            f"(previous key kept in {settings.previous_master_key_file} until retired)",
            file=out,
        )
    _rewrap(args, out)


def cmd_keys_retire_master(_args: argparse.Namespace, out: TextIO, _in: TextIO) -> None:
    """Drop the previous master key from the ring, only once nothing needs it."""
    settings = get_settings()
    vault = get_vault()
    with session_scope() as db:
        stale = [
            kek
            for kek in vault.kek_counts(db)
            if kek != vault.kek_id and vault.live_keys_under(db, kek)
        ]
        previous = vault.previous_kek_ids
        for kek in sorted(set(previous) | set(stale)):
            left = vault.live_keys_under(db, kek)
            if left:
                raise CliError(
                    f"{left} data keys are still wrapped under master key id {kek}: run "
                    "`connections-admin keys rotate-master` to finish the rotation first.",
                    code=EXIT_KEYS,
                )
    if not previous:
        print("Nothing to retire: the key ring holds only the active master key.", file=out)
        return
    if not settings.previous_master_key:
        settings.previous_master_key_file.unlink(missing_ok=True)
    with session_scope() as db:
        for kek in previous:
            vault.forget_master(db, kek)
        db.commit()
    print(
        f"retired master key id {', '.join(previous)}. Database backups taken before the "
        "rotation still need it: keep its copy with them.",
        file=out,
    )
    if settings.previous_master_key:
        print("Now unset CONNECTIONS_PREVIOUS_MASTER_KEY on every process.", file=out)


def cmd_keys_rotate_data_key(args: argparse.Namespace, out: TextIO, _in: TextIO) -> None:
    """A new data key version per tenant, every sealed field re-sealed, old one destroyed."""
    if args.all == (args.account is not None or args.workspace is not None):
        raise CliError("Name the tenants: --workspace W, --account A, or --all.")
    vault = get_vault()
    with session_scope() as db:
        named = tenants_named(db, account_slug=args.account, workspace_slug=args.workspace)
    tenants, resumed = key_rotation.start_data_key_rotation(session_scope, vault, named)
    if resumed:
        print(f"resuming an unfinished rotation of {len(tenants)} tenants", file=out)
    else:
        print(f"new data key version for {len(tenants)} tenants", file=out)
    bar = ProgressBar("re-seal secrets", every_update=args.batch_lines)
    result = key_rotation.reseal_remaining(
        session_scope, vault, tenants, batch_size=args.batch_size, on_progress=bar
    )
    bar.finish()
    print(
        f"{result.resealed} sealed fields re-sealed ({result.skipped} changed meanwhile), "
        f"{result.destroyed_keys} old data keys destroyed",
        file=out,
    )


def cmd_audit_verify(args: argparse.Namespace, out: TextIO, _in: TextIO) -> None:
    with session_scope() as db:
        if args.account:
            accounts = [identity.find_account(db, args.account)]
        else:
            accounts = identity.list_accounts(db)
        failures = 0
        for account in accounts:
            result = audit.verify(db, account_id=account.id)
            if result.ok:
                print(f"{account.slug}: ok, {result.checked} events", file=out)
            else:
                failures += 1
                print(
                    f"{account.slug}: TAMPERED at event {result.first_bad_seq} ({result.reason})",
                    file=out,
                )
    if failures:
        raise CliError(f"audit chain broken in {failures} account(s)", code=1)


def cmd_db_upgrade(_args: argparse.Namespace, out: TextIO, _in: TextIO) -> None:
    url = get_settings().db_url
    migrations.upgrade(url)
    print(f"database at revision {migrations.head_revision(url)}", file=out)


def cmd_db_status(_args: argparse.Namespace, out: TextIO, _in: TextIO) -> None:
    try:
        migrations.ensure_current(get_engine())
    except migrations.SchemaNotCurrent as err:
        raise CliError(str(err), code=1) from None
    print("database schema is current", file=out)


def cmd_demo_seed(_args: argparse.Namespace, out: TextIO, _in: TextIO) -> None:
    from connections_app.core.demo import seed_demo

    with session_scope() as db:
        summary = seed_demo(db, vault=get_vault())
    print(summary, file=out)


def cmd_oauth_client_set(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    from connections_app.core.oauth import clients

    secret = _read_secrets(["client_secret"], stdin)["client_secret"]
    with session_scope() as db:
        clients.set_client(
            db, vault=get_vault(), app=args.app, client_id=args.client_id, client_secret=secret
        )
        db.commit()
    print(f"OAuth client for {args.app} saved (secret sealed).", file=out)


def cmd_oauth_client_list(_args: argparse.Namespace, out: TextIO, _in: TextIO) -> None:
    from connections_app.core.oauth import clients

    with session_scope() as db:
        apps = sorted(clients.registered_apps(db))
    print("\n".join(apps) if apps else "no OAuth clients registered", file=out)


def cmd_refresher(args: argparse.Namespace, out: TextIO, _in: TextIO) -> None:
    """The background refresher outside the web app; several may run at once (each
    connection's lease makes every refresh happen once). Ctrl-C lets the calls in
    flight finish and gives back the leases not yet used."""
    import secrets as _secrets
    import threading
    import time

    from connections_app.core import ratelimit
    from connections_app.core.connections import tokens
    from connections_app.core.db import get_engine
    from connections_app.core.workflows import runs

    settings = get_settings()
    if args.concurrency is not None and args.concurrency < 1:
        raise CliError("--concurrency must be 1 or more.", EXIT_INPUT)
    if args.per_provider is not None and args.per_provider < 1:
        raise CliError("--per-provider must be 1 or more.", EXIT_INPUT)
    try:
        rates = ratelimit.RateSpec.parse(args.rate) if args.rate else settings.refresh_rate
    except ValueError as err:
        raise CliError(f"--rate: {err}", EXIT_INPUT) from None
    owner = f"cli-{_secrets.token_hex(4)}"
    engine = get_engine()
    vault = get_vault()
    pacer = ratelimit.Pacer(rates)
    stop = threading.Event()
    passes = 0
    while True:
        try:
            counts = tokens.refresh_due(
                lambda: Session(engine),
                vault=vault,
                owner=owner,
                pacer=pacer,
                concurrency=args.concurrency,
                per_provider=args.per_provider,
                stop=stop,
            )
            resumed = runs.resume_ready(lambda: Session(engine))  # parked runs (F22)
        except Exception as err:
            # A database outage is waited out (the next pass reconnects), not fatal:
            # every due refresh and run is still due when the database is back.
            if not outage.is_outage(err):
                raise
            outage.note("the refresher", err)
            stop.clear()  # the pass ended for the outage, not for Ctrl-C: keep refreshing
            counts, resumed = {"database_unavailable": 1}, 0
        if resumed:
            counts = {**counts, "runs_resumed": resumed}
        passes += 1
        if counts or args.verbose:
            print(json.dumps({"pass": passes, **counts}), file=out, flush=True)
        if args.once or (args.until_idle and not counts and not pacer.paused()):
            return  # idle: nothing done, and no provider's pause holding work back
        # A provider's pause that ends before the next pass would: start then.
        time.sleep(min([args.interval, *pacer.paused().values()]))


def _workflow_actor(db: Session, args: argparse.Namespace) -> Actor:
    """With --user, act as that member (their role and sharing apply); else as the operator."""
    if not args.user:
        return _actor(db, args.account, args.workspace)
    from connections_app.core.identity.models import AccountAdmin
    from connections_app.core.tenancy.actor import Role

    account = identity.find_account(db, args.account)
    ws = identity.find_workspace(db, account_id=account.id, slug=args.workspace)
    user = identity.find_user(db, args.user)
    choice = next(
        (c for c in identity.workspaces_for(db, user.id) if c.workspace_id == ws.id), None
    )
    if choice is None or not user.is_active:
        raise CliError(f"{user.email} is not an active member of {account.slug}/{ws.slug}.")
    return Actor(
        user_id=user.id,
        label=user.email,
        account_id=account.id,
        workspace_id=ws.id,
        role=Role(choice.role),
        is_account_admin=db.get(AccountAdmin, (account.id, user.id)) is not None,
    )


def cmd_workflow_export(args: argparse.Namespace, out: TextIO, _in: TextIO) -> None:
    from connections_app.core.workflows import transfer

    with session_scope() as db:
        actor = _workflow_actor(db, args)
        workflow_id = transfer.find_workflow_id(db, actor=actor, name=args.workflow)
        document = transfer.export_workflow(db, actor=actor, workflow_id=workflow_id)
    json.dump(document, out, indent=2, ensure_ascii=False)
    out.write("\n")


def cmd_workflow_import(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    from connections_app.core.workflows import transfer

    limit = transfer.MAX_DOCUMENT_BYTES + 1  # read one more: the core then says "too large"
    data: str | bytes
    if args.file == "-":
        data = stdin.read(limit)
    else:
        try:
            with open(args.file, "rb") as handle:
                data = handle.read(limit)
        except OSError as err:
            raise CliError(f"Cannot read {args.file}: {err.strerror or 'error'}.") from None
    with session_scope() as db:
        actor = _workflow_actor(db, args)
        result = transfer.import_workflow(db, actor=actor, document=data, name=args.name)
    print(
        f"imported workflow “{result.name}”: {len(result.bound)} bound, "
        f"{len(result.unbound)} unbound",
        file=out,
    )
    for node, connection in result.bound:
        print(f"bound    {node} → {connection}", file=out)
    for node, app, key, reason in result.unbound:
        print(f"unbound  {node} ({app}, key {key or '-'}): {reason}", file=out)


# --- parser ---------------------------------------------------------------------------


def cmd_prices_set(args: argparse.Namespace, out: TextIO, _in: TextIO) -> None:
    price_in = model_prices.parse_dollars(args.input, field="--input")
    price_out = model_prices.parse_dollars(args.output, field="--output")
    with session_scope() as db:
        view = model_prices.set_price(
            db,
            actor=_actor(db, args.account, None),
            app=args.app,
            model=args.model,
            input_micros_per_mtok=price_in,
            output_micros_per_mtok=price_out,
        )
        print(
            f"{view.app} {view.model}: {view.input_text} in, {view.output_text} out "
            "per million tokens (this account)",
            file=out,
        )


def cmd_prices_list(args: argparse.Namespace, out: TextIO, _in: TextIO) -> None:
    with session_scope() as db:
        views = model_prices.list_prices(db, actor=_actor(db, args.account, None), app=args.app)
        if args.json:
            rows = [
                {
                    "app": v.app,
                    "model": v.model,
                    "input_micros_per_mtok": v.input_micros_per_mtok,
                    "output_micros_per_mtok": v.output_micros_per_mtok,
                    "source": v.source,
                }
                for v in views
            ]
            print(json.dumps(rows, indent=2), file=out)
            return
        for v in views:
            print(
                f"{v.app:<10} {v.model:<28} {v.input_text:>10} in {v.output_text:>10} out  "
                f"({v.source})",
                file=out,
            )


def cmd_prices_remove(args: argparse.Namespace, out: TextIO, _in: TextIO) -> None:
    with session_scope() as db:
        model_prices.remove_price(
            db, actor=_actor(db, args.account, None), app=args.app, model=args.model
        )
        print(f"{args.app} {args.model}: the catalog's price applies again", file=out)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number") from None
    if not 1 <= value <= 100_000:
        raise argparse.ArgumentTypeError("must be between 1 and 100000")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="connections-admin", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="group", required=True)

    account = sub.add_parser("account", help="accounts").add_subparsers(dest="cmd", required=True)
    p = account.add_parser("create", help="create an account")
    p.add_argument("--name", required=True)
    p.add_argument("--slug", required=True)
    p.set_defaults(func=cmd_account_create)
    p = account.add_parser(
        "delete",
        help="delete an account: every data key (its own and its workspaces') first, then rows",
    )
    p.add_argument("--account", required=True, help="account slug")
    p.add_argument(
        "--confirm-name", default=None, help="the account's name, for scripts (else prompted)"
    )
    p.set_defaults(func=cmd_account_delete)

    workspace = sub.add_parser("workspace", help="workspaces").add_subparsers(
        dest="cmd", required=True
    )
    p = workspace.add_parser("create", help="create a workspace in an account")
    p.add_argument("--account", required=True, help="account slug")
    p.add_argument("--name", required=True)
    p.add_argument("--slug", required=True)
    p.set_defaults(func=cmd_workspace_create)
    p = workspace.add_parser(
        "delete", help="delete a workspace: its data keys are destroyed first, then its rows"
    )
    p.add_argument("--account", required=True, help="account slug")
    p.add_argument("--workspace", required=True, help="workspace slug")
    p.add_argument(
        "--confirm-name", default=None, help="the workspace's name, for scripts (else prompted)"
    )
    p.set_defaults(func=cmd_workspace_delete)

    user = sub.add_parser("user", help="people").add_subparsers(dest="cmd", required=True)
    p = user.add_parser("create", help="create a user (password prompted, or from stdin)")
    p.add_argument("--email", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(func=cmd_user_create)
    p = user.add_parser("add-member", help="give a user a role")
    p.add_argument("--email", required=True)
    p.add_argument("--account", required=True)
    p.add_argument("--workspace", help="workspace slug (not for account-admin)")
    p.add_argument(
        "--role", required=True, choices=["admin", "builder", "viewer", "client", "account-admin"]
    )
    p.set_defaults(func=cmd_user_add_member)

    conn = sub.add_parser("connection", help="connections").add_subparsers(
        dest="cmd", required=True
    )
    p = conn.add_parser("add", help="add a connection; secrets are read from stdin")
    p.add_argument("--account", required=True)
    p.add_argument("--workspace", help="workspace slug; omit for an account-scoped connection")
    p.add_argument("--app", required=True)
    p.add_argument("--kind", help="auth method (default: the app's first)")
    p.add_argument("--label", required=True)
    p.add_argument("--field", action="append", help="non-secret field name=value (repeatable)")
    p.add_argument("--stable-key")
    p.add_argument("--sharing", default="use", choices=["personal", "use", "view", "manage"])
    p.set_defaults(func=cmd_connection_add)
    p = conn.add_parser("list", help="list connections (masked)")
    p.add_argument("--account", required=True)
    p.add_argument("--workspace")
    p.add_argument("--search")
    p.add_argument("--app")
    p.add_argument("--kind")
    p.add_argument("--status")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_connection_list)

    keys = sub.add_parser("keys", help="encryption keys").add_subparsers(dest="cmd", required=True)
    p = keys.add_parser("status", help="key ring, data keys per master key, rotation progress")
    p.set_defaults(func=cmd_keys_status)
    batch_options = argparse.ArgumentParser(add_help=False)
    batch_options.add_argument("--batch-size", type=_positive, default=200)
    batch_options.add_argument(
        "--batch-lines",
        action="store_true",
        help="when not on a terminal, print a progress line after every batch",
    )
    p = keys.add_parser(
        "rotate-master",
        parents=[batch_options],
        help="install a new master key and re-wrap every data key under it (resumable)",
    )
    p.add_argument(
        "--new-key-file",
        help="file holding the new key (base64 of 32 bytes), or - for stdin; "
        "omit to resume an unfinished rotation",
    )
    p.set_defaults(func=cmd_keys_rotate_master)
    p = keys.add_parser(
        "retire-master", help="drop the previous master key once nothing is wrapped under it"
    )
    p.set_defaults(func=cmd_keys_retire_master)
    p = keys.add_parser(
        "rotate-data-key",
        parents=[batch_options],
        help="new data key version per tenant; re-seal every secret; destroy the old one",
    )
    p.add_argument("--workspace", help="workspace slug")
    p.add_argument("--account", help="account slug (with its workspaces)")
    p.add_argument("--all", action="store_true", help="every tenant")
    p.set_defaults(func=cmd_keys_rotate_data_key)

    aud = sub.add_parser("audit", help="audit trail").add_subparsers(dest="cmd", required=True)
    p = aud.add_parser("verify", help="verify the hash chain")
    p.add_argument("--account")
    p.set_defaults(func=cmd_audit_verify)

    dbp = sub.add_parser("db", help="database schema").add_subparsers(dest="cmd", required=True)
    p = dbp.add_parser("upgrade", help="apply migrations up to the newest")
    p.set_defaults(func=cmd_db_upgrade)
    p = dbp.add_parser("status", help="check that the schema is current")
    p.set_defaults(func=cmd_db_status)

    oauth = sub.add_parser("oauth-client", help="OAuth app registrations").add_subparsers(
        dest="cmd", required=True
    )
    p = oauth.add_parser("set", help="register a catalog app's OAuth client (secret on stdin)")
    p.add_argument("--app", required=True)
    p.add_argument("--client-id", required=True)
    p.set_defaults(func=cmd_oauth_client_set)
    p = oauth.add_parser("list", help="apps with a registered OAuth client")
    p.set_defaults(func=cmd_oauth_client_list)

    p = sub.add_parser(
        "refresher", help="refresh OAuth tokens before they expire; resume parked runs"
    )
    p.add_argument("--interval", type=float, default=15.0, help="seconds between passes")
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument("--until-idle", action="store_true", help="exit after a pass with no work")
    p.add_argument("--verbose", action="store_true")
    p.add_argument(
        "--concurrency",
        type=int,
        help="refreshes at once in this process (default CONNECTIONS_REFRESH_CONCURRENCY, 12)",
    )
    p.add_argument(
        "--per-provider",
        type=int,
        help="refreshes at once per provider (default CONNECTIONS_REFRESH_PER_PROVIDER, 8)",
    )
    p.add_argument(
        "--rate",
        help="token requests per second per provider, e.g. 20 or 20,slack=5; 0 = no limit "
        "(default CONNECTIONS_REFRESH_RATE, 0)",
    )
    p.set_defaults(func=cmd_refresher, cmd="run")

    wfp = sub.add_parser("workflow", help="workflows (F29)").add_subparsers(
        dest="cmd", required=True
    )
    for name, helptext, func in (
        ("export", "print a workflow as JSON (no ids, no secrets)", cmd_workflow_export),
        ("import", "create a workflow from an export", cmd_workflow_import),
    ):
        p = wfp.add_parser(name, help=helptext)
        p.add_argument("--account", required=True, help="account slug")
        p.add_argument("--workspace", required=True, help="workspace slug")
        p.add_argument("--user", help="act as this member (default: the operator)")
        p.set_defaults(func=func)
        if name == "export":
            p.add_argument("--workflow", required=True, help="workflow name")
        else:
            p.add_argument("--file", required=True, help="export file, or - for stdin")
            p.add_argument("--name", help="name of the new workflow (default: the file's)")

    prices = sub.add_parser(
        "prices", help="an account's model prices (per million tokens, in dollars)"
    ).add_subparsers(dest="cmd", required=True)
    p = prices.add_parser("set", help="set an account's own price of a model")
    p.add_argument("--account", required=True, help="account slug")
    p.add_argument("--app", required=True, help="model provider (openai, anthropic)")
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True, help="dollars per million input tokens, e.g. 2.50")
    p.add_argument("--output", required=True, help="dollars per million output tokens")
    p.set_defaults(func=cmd_prices_set)
    p = prices.add_parser("list", help="the prices that apply (the account's, then the catalog's)")
    p.add_argument("--account", required=True, help="account slug")
    p.add_argument("--app")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_prices_list)
    p = prices.add_parser("remove", help="drop an account's price: the catalog's applies again")
    p.add_argument("--account", required=True, help="account slug")
    p.add_argument("--app", required=True)
    p.add_argument("--model", required=True)
    p.set_defaults(func=cmd_prices_remove)

    demo = sub.add_parser("demo", help="demo data").add_subparsers(dest="cmd", required=True)
    p = demo.add_parser("seed", help="create the demo account (idempotent)")
    p.set_defaults(func=cmd_demo_seed)
    return parser


def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, stdin: TextIO | None = None
) -> int:
    out = out or sys.stdout
    stdin = stdin or sys.stdin
    settings = get_settings()
    configure_logging(settings.log_level, session_cookie=settings.session_cookie_name)
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace, TextIO, TextIO], None] = args.func
    try:
        if args.group != "db":
            # Open (and check) the vault before any command starts a transaction: on
            # SQLite a second connection could not take the write lock inside one.
            get_vault()
            egress.policy()  # a bad CONNECTIONS_EGRESS_* entry fails here, clearly
        func(args, out, stdin)
    except CliError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.code
    except (DomainError, Invalid) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INPUT
    except VaultError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_KEYS
    except egress.EgressConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INPUT
    except IntegrityError:
        # A concurrent writer won a uniqueness race; the transaction was rolled back.
        print(
            "error: the same rows were changed at the same moment by someone else; "
            "nothing of this step was saved — run the command again.",
            file=sys.stderr,
        )
        return 1
    except (OperationalError, ProgrammingError) as err:
        if "no such table" in str(err) or "does not exist" in str(err):
            print("error: the database is not migrated; run `make migrate`.", file=sys.stderr)
        else:
            print(f"error: database unavailable ({type(err.orig).__name__}).", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
