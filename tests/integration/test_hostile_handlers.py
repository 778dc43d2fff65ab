"""Every handler, hostile (issue 15 drill): every Reflex event handler of every state of
the app, found by walking the states (a new handler is covered without editing this
file), called the way a hostile browser can call it — any argument shape, fields forged
through `setvar` — as every role and with no session.

Per handler × role, hypothesis generates the arguments: wrong types, huge and unicode
strings, nested lists and dicts, None, and real ids of workspaces, accounts,
connections, workflows and people the caller has no business with. Asserted:

- nothing escapes a handler (Reflex would log it as an unhandled error), nothing is
  logged at ERROR, and the state still pickles (the state manager stores it so);
- the database is unchanged apart from recorded refusals (and the session's own
  sliding expiry): hostile arguments are refused, never half-applied. The one kind
  of change accepted (`_legitimate`, listed in the figures) is a role that may write
  acting in its own workspace on what its tab had selected, audited as that person
  and touching no hostile id;
- no generated argument value reaches the log or a refusal's audit row.

Handlers run with the raw JSON values (no coercion by the type hints), which is harsher
than the Reflex event path. `setvar` itself is Reflex's; what it lets a browser do (set
any field of a state to anything) is what the forged fields before each call are.
Bounded: HOSTILE_EXAMPLES per handler × role (default 6; `HOSTILE_EXAMPLES=100` for the
full-size run, docs/reliability.md). The figures print at the end of the module."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import reflex as rx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import MetaData, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from connections_app.core.connections import service as connections
from connections_app.core.vault import Vault
from connections_app.core.workflows import service as workflows
from connections_app.ui.states.session import SessionState
from tests.conftest import World
from tests.integration.helpers import make_stripe
from tests.integration.test_ui_handlers import Cookie, _sign_in
from tests.integration.test_ui_handlers import as_browser as as_browser
from tests.unit.test_ui_states import _our_states

EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "6"))
ROLES = ["acct_admin", "admin1", "builder1", "viewer1", "client1", None]
SKIPPED = {"setvar"}  # Reflex's own; used below to forge fields instead


def _handlers() -> list[tuple[type[rx.State], str]]:
    found = []
    for cls in sorted(_our_states(), key=lambda c: c.__name__):
        for name in sorted(cls.event_handlers):
            if name not in SKIPPED:
                found.append((cls, name))
    return found


HANDLERS = _handlers()


@dataclass
class Figures:
    """What the drill tried, for the report and docs/reliability.md."""

    calls: int = 0
    combos: set[tuple[str, str]] = field(default_factory=set)
    payloads: int = 0
    unhandled: list[str] = field(default_factory=list)
    legitimate: list[str] = field(default_factory=list)


FIGURES = Figures()


# --- the hostile values -------------------------------------------------------------

HUGE = "𝔘" * 50_000
SPECIAL = [
    "",
    " ",
    "\x00",
    "\u202e\u200b\ufeff",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "%s%n%x",
    "{{7*7}}",
    "0" * 33,
    "-1",
    "NaN",
    "😀" * 300,
    HUGE,
]
KEYS = ["id", "name", "workspace_id", "account_id", "connection_id", "label", "app", "role"]


def _hostile(ids: list[str]) -> st.SearchStrategy[Any]:
    """JSON a browser can send, biased to what breaks handlers."""
    leaf = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(min_size=8, max_size=40),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=400),
        st.sampled_from(SPECIAL),
        st.sampled_from(ids),
    )
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(
                st.one_of(st.sampled_from(KEYS), st.text(max_size=10)), inner, max_size=4
            ),
        ),
        max_leaves=12,
    )


def _strings(value: Any) -> Iterator[str]:
    """The distinctive strings inside a payload (what must not reach the log)."""
    if isinstance(value, str):
        if len(value.strip()) >= 8 and value not in SPECIAL:
            yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)


# --- the world the hostile calls land in ---------------------------------------------


_TOKENS: dict[tuple[str, str], str] = {}  # (database, user id) -> session token


@dataclass(frozen=True)
class Seeded:
    """Real ids, by who owns them."""

    foreign: list[str]  # the other account: nobody of the agency may touch these
    ws2: list[str]  # the agency's second workspace: only its account admin may


def _things(db: Session, world: World, actor_name: str) -> list[str]:
    actor = world.actors[actor_name]
    conn = make_stripe(db, actor)
    wf = workflows.create_workflow(db, actor=actor, name=f"Hostile {actor_name}")
    params = {"email": "a@example.test"}
    node = workflows.add_node(
        db, actor=actor, workflow_id=wf.id, app="stripe", action="create_customer", params=params
    )
    workflows.set_node_connection(db, actor=actor, node_id=node.id, connection_id=conn.id)
    return [conn.id, wf.id, node.id, actor.user_id, actor.workspace_id or ""]


@pytest.fixture(scope="module")
def seeded(engine: Engine, vault: Vault, world: World) -> Seeded:
    with Session(engine, expire_on_commit=False) as db:
        foreign = [*_things(db, world, "foreign_admin"), world.other_account_id]
        ws2 = [*_things(db, world, "admin2"), world.user_ids["builder2"]]
        _things(db, world, "admin1")  # the callers' own workspace holds something too
        account_conn = connections.create(
            db,
            actor=world.actors["acct_admin"],
            app="openai",
            label="Hostile account key",
            fields={"api_key": "sk-HostileAccountKey000111"},
            scope="account",
        )
        db.commit()
    for role in ROLES:  # signed in up front: their sign-ins are not the handlers' writes
        if role is not None:
            user_id = world.user_ids[role]
            _TOKENS[(str(engine.url), user_id)] = _sign_in(engine, user_id)
    return Seeded(foreign=foreign, ws2=[*ws2, account_conn.id])


def _pool(seeded: Seeded, role: str | None) -> list[str]:
    """Ids the caller has no business with (the account admin owns both workspaces)."""
    if role == "acct_admin":
        return seeded.foreign
    return seeded.foreign + seeded.ws2


# --- what may change -----------------------------------------------------------------

VOLATILE = {("user_sessions", "last_seen_at"), ("user_sessions", "expires_at")}


_TABLES: dict[str, MetaData] = {}


def tables(engine: Engine) -> MetaData:
    """The schema, reflected once per database."""
    key = str(engine.url)
    if key not in _TABLES:
        _TABLES[key] = MetaData()
        _TABLES[key].reflect(bind=engine)
    return _TABLES[key]


def snapshot(engine: Engine, meta: MetaData) -> dict[str, list[tuple]]:
    """Every row of every table, less refusals (and the audit head they move) and the
    session's sliding expiry: what a refused hostile call must leave as it was."""
    out: dict[str, list[tuple]] = {}
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            if table.name == "audit_heads":
                continue
            cols = [c for c in table.columns if (table.name, c.name) not in VOLATILE]
            stmt = select(*cols)
            if table.name == "audit_events":
                stmt = stmt.where(table.c.action != "access_denied")
            out[table.name] = sorted(tuple(map(repr, row)) for row in conn.execute(stmt))
    return out


WRITERS = {"acct_admin", "admin1", "builder1"}


def _legitimate(
    changed: dict[str, Any], role: str | None, user: str | None, pool: list[str], world: World
) -> bool:
    """A change a hostile call may cause: a role that may write, acting on its own
    workspace (a zero-argument handler acting on what the tab itself selected, e.g.
    confirming a delete of the open workflow), audited as that person; never touching
    an id of the pool (other workspaces and accounts)."""
    if role not in WRITERS:
        return False
    rows = [row for part in changed.values() for key in ("gone", "new") for row in part[key]]
    if any(repr(i) in row for i in pool for row in rows):
        return False
    events = changed.get("audit_events", {"new": []})["new"]
    return bool(events) and all(repr(user) in e and repr(world.ws1) in e for e in events)


def refusal_rows(engine: Engine, meta: MetaData) -> list[str]:
    table = meta.tables["audit_events"]
    stmt = select(table.c.target_id, table.c.detail).where(table.c.action == "access_denied")
    with engine.connect() as conn:
        return [repr(tuple(row)) for row in conn.execute(stmt)]


def diff(before: dict[str, list[tuple]], after: dict[str, list[tuple]]) -> dict[str, Any]:
    changed = {}
    for name in before:
        gone = set(before[name]) - set(after[name])
        new = set(after[name]) - set(before[name])
        if gone or new:
            changed[name] = {"gone": sorted(gone), "new": sorted(new)}
    return changed


# --- calling a handler ---------------------------------------------------------------


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        parts = []
        for record in self.records:
            parts.append(record.getMessage())
            if record.exc_info:
                parts.append(logging.Formatter().formatException(record.exc_info))
        return "\n".join(parts)


async def _call(state: rx.State, name: str, args: list[Any]) -> None:
    """The handler's function on the state, as Reflex runs it (background ones too)."""
    result = type(state).event_handlers[name].fn(state, *args)
    if inspect.isasyncgen(result):
        async for _ in result:
            pass
    elif inspect.isgenerator(result):
        for _ in result:
            pass
    elif inspect.isawaitable(result):
        await result


def _forgeable(cls: type[rx.State]) -> list[str]:
    """The fields a browser can set with `setvar` (frontend vars, not computed)."""
    return sorted(n for n in cls.base_vars if not n.startswith("_") and n != "router")


def _root(state: rx.State) -> rx.State:
    while state.parent_state is not None:
        state = state.parent_state
    return state


async def _fresh_state(engine: Engine, role_user: str | None, cls: type[rx.State]) -> rx.State:
    """A new tab of this person (their one session, signed in by `seeded`)."""
    Cookie.value = _TOKENS[(str(engine.url), role_user)] if role_user else None
    root = rx.State(_reflex_internal_init=True)
    state = await root.get_state(cls)
    await (await state.get_state(SessionState)).load_session()
    return state


@pytest.fixture(scope="module")
def figures() -> Iterator[Figures]:
    yield FIGURES
    print(
        f"\nhostile handlers: {len(HANDLERS)} handlers × {len(ROLES)} roles "
        f"({len(FIGURES.combos)} handler×role pairs), {FIGURES.payloads} payloads, "
        f"{FIGURES.calls} calls, {len(FIGURES.unhandled)} unhandled errors, "
        f"{len(FIGURES.legitimate)} legitimate changes {FIGURES.legitimate}"
    )


@dataclass
class Attempt:
    """One handler × role: the tab, what to send, what was sent and what went wrong."""

    loop: asyncio.AbstractEventLoop
    state: rx.State
    name: str
    where: str
    sent: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def forge(self, forged: dict[str, Any]) -> None:
        """What `setvar` lets a browser do; Reflex refusing a value is fine."""
        for field_name, value in forged.items():
            with contextlib.suppress(Exception):
                self.state.setvar(field_name, value)  # type: ignore[operator]

    def send(self, args: list[Any], forged: dict[str, Any]) -> None:
        FIGURES.payloads += 1
        FIGURES.calls += 1
        self.sent.extend(_strings(args))
        self.sent.extend(_strings(list(forged.values())))  # the names are the state's own
        self.forge(forged)
        try:
            self.loop.run_until_complete(_call(self.state, self.name, args))
            pickle.dumps(_root(self.state))
        except Exception as err:
            what = f"{self.where}: {type(err).__name__}: {err!s:.200}"
            FIGURES.unhandled.append(what)
            self.problems.append(what)

    def run(self, arity: int, forgeable: list[str], hostile: st.SearchStrategy[Any]) -> None:
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            args=st.lists(hostile, min_size=arity, max_size=arity),
            forged=st.dictionaries(st.sampled_from(forgeable or ["-"]), hostile, max_size=3),
        )
        def attempt(args: list[Any], forged: dict[str, Any]) -> None:
            self.send(args, forged)

        attempt()


@pytest.mark.parametrize(("cls", "name"), HANDLERS, ids=[f"{c.__name__}.{n}" for c, n in HANDLERS])
def test_handler_refuses_hostile_arguments(
    as_browser: type[Cookie],
    engine: Engine,
    world: World,
    seeded: Seeded,
    figures: Figures,
    cls: type[rx.State],
    name: str,
) -> None:
    meta = tables(engine)
    arity = len(inspect.signature(cls.event_handlers[name].fn).parameters) - 1
    forgeable = _forgeable(cls)
    captured = Captured()
    root_logger = logging.getLogger()
    root_logger.addHandler(captured)
    previous_level = root_logger.level
    root_logger.setLevel(logging.DEBUG)
    loop = asyncio.new_event_loop()
    problems: list[str] = []
    after: dict[str, list[tuple]] | None = None
    try:
        for role in ROLES:
            user = world.user_ids[role] if role else None
            pool = _pool(seeded, role)
            where = f"{cls.__name__}.{name} as {role}"
            state = loop.run_until_complete(_fresh_state(engine, user, cls))
            before = after if after is not None else snapshot(engine, meta)
            refusals_before = len(refusal_rows(engine, meta))
            attempt = Attempt(loop, state, name, where)
            attempt.run(arity, forgeable, _hostile(pool))
            problems += attempt.problems
            FIGURES.combos.add((f"{cls.__name__}.{name}", str(role)))
            after = snapshot(engine, meta)
            changed = diff(before, after)
            if changed and not _legitimate(changed, role, user, pool, world):
                problems.append(f"{where} changed {str(changed)[:1500]}")
            elif changed:
                FIGURES.legitimate.append(where)
            logged = captured.text()
            audited = "\n".join(refusal_rows(engine, meta)[refusals_before:])
            leaked = sorted({s[:40] for s in attempt.sent if s in logged or s in audited})
            if leaked:
                problems.append(f"{where} logged/audited {leaked[:3]}")
            errors = [r.getMessage()[:200] for r in captured.records if r.levelno >= logging.ERROR]
            if errors:
                problems.append(f"{where} logged errors {errors[:3]}")
            captured.records.clear()
    finally:
        root_logger.removeHandler(captured)
        root_logger.setLevel(previous_level)
        loop.close()
    assert not problems, "\n".join(problems[:20])
