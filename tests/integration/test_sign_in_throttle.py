"""Sign-in throttling on a real database (SQLite, and PostgreSQL with TEST_DB_URL):
growing waits per client and per account, unknown emails treated exactly like known
ones, successes forgiving their own failures, no argon2 work while a key waits, and
an audit trail that notes failures without drowning in them.

The clock is injected: every wait is checked by moving time, never by sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connections_app.core import audit
from connections_app.core.audit import Action, AuditEvent
from connections_app.core.clock import utcnow
from connections_app.core.errors import Invalid
from connections_app.core.identity import service as identity
from connections_app.core.identity import throttle
from connections_app.core.identity.models import SignInThrottle
from tests.conftest import PASSWORD, World
from tests.integration.dbdump import dump, leaks

GENERIC = "Email or password is incorrect."


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = field(default_factory=utcnow)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts real argon2 verifications (the spy calls through to the real one)."""
    calls: list[str] = []
    real = identity._verify_quietly

    def counting(password_hash: str, password: str) -> bool:
        calls.append("dummy" if password_hash == identity._DUMMY_HASH else "user")
        return real(password_hash, password)

    monkeypatch.setattr(identity, "_verify_quietly", counting)
    return calls


_addresses = iter(range(1, 1_000_000))


def fresh_client() -> str:
    """A client address no other test has used (module-scoped databases are shared)."""
    n = next(_addresses)
    return f"198.51.{n // 250}.{n % 250 + 1}"


def fresh_email(tag: str = "nobody") -> str:
    return f"{tag}-{next(_addresses)}@unknown.example"


@pytest.fixture
def person(engine: Engine) -> Iterator[str]:
    """A known account of its own per test (failures against it must not leak across tests)."""
    email = fresh_email("person").replace("unknown.example", "example.test")
    with Session(engine) as db:
        identity.create_user(db, email=email, name="Person", password=PASSWORD)
    yield email


Outcome = tuple[str, int | None]


def attempt(engine: Engine, clock: Clock, *, email: str, password: str, client: str) -> Outcome:
    """One sign-in in its own session, as a request would make it: what came back."""
    with Session(engine) as db:
        try:
            identity.authenticate(db, email=email, password=password, client=client, clock=clock)
        except throttle.TooManyAttempts as err:
            assert str(err) == throttle.retry_message(err.retry_after)
            return ("wait", err.retry_after)
        except Invalid as err:
            assert str(err) == GENERIC
            return ("wrong", None)
    return ("ok", None)


def waits_until_admitted(
    engine: Engine, clock: Clock, *, email: Callable[[], str], password: str, client: str
) -> int:
    """Try (again after each wait) until an attempt is checked; return the wait it met."""
    met = 0
    for _ in range(3):
        outcome = attempt(engine, clock, email=email(), password=password, client=client)
        if outcome[0] != "wait":
            assert outcome == ("wrong", None)
            return met
        assert outcome[1] is not None
        met = outcome[1]
        clock.advance(met)
    raise AssertionError("still waiting after sitting out the announced wait")


# --- per client -------------------------------------------------------------------


def test_one_client_guessing_many_emails_waits_longer_and_longer(
    engine: Engine, clock: Clock
) -> None:
    client = fresh_client()
    for _ in range(throttle.CLIENT.free):
        assert (
            attempt(engine, clock, email=fresh_email(), password="guess-123456", client=client)[0]
            == "wrong"
        )
    # The first failure over the free ones is checked; from then on each waits longer.
    assert attempt(engine, clock, email=fresh_email(), password="guess-123456", client=client) == (
        "wrong",
        None,
    )
    met = []
    for _ in range(12):
        met.append(
            waits_until_admitted(
                engine, clock, email=fresh_email, password="guess-123456", client=client
            )
        )
    assert met == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]
    assert max(met) == throttle.CLIENT.cap_seconds


def test_a_throttled_attempt_is_answered_without_any_argon2_work(
    engine: Engine, clock: Clock, verifications: list[str], person: str
) -> None:
    client = fresh_client()
    for _ in range(throttle.CLIENT.free + 1):
        attempt(engine, clock, email=fresh_email(), password="guess-123456", client=client)
    assert len(verifications) == throttle.CLIENT.free + 1  # one each, dummy hash included
    before = len(verifications)
    for email, password in [(fresh_email(), "guess-123456"), (person, PASSWORD)] * 10:
        outcome = attempt(engine, clock, email=email, password=password, client=client)
        assert outcome == ("wait", 1)  # even the right password is not looked at
    assert len(verifications) == before
    clock.advance(1)
    assert attempt(engine, clock, email=person, password=PASSWORD, client=client) == ("ok", None)
    assert len(verifications) == before + 1


def test_a_person_who_mistypes_twice_is_not_bothered(
    engine: Engine, clock: Clock, person: str
) -> None:
    client = fresh_client()
    assert attempt(engine, clock, email=person, password="typo-password", client=client)[0] == (
        "wrong"
    )
    assert attempt(engine, clock, email=person, password="typo-passw0rd", client=client)[0] == (
        "wrong"
    )
    assert attempt(engine, clock, email=person, password=PASSWORD, client=client) == ("ok", None)
    with Session(engine) as db:
        keys = throttle.Keys.of(client=client, email=person)
        assert db.get(SignInThrottle, keys.pair) is None  # forgiven, gone
        for key in (keys.client, keys.account):
            row = db.get(SignInThrottle, key)
            assert row is not None and row.failures == 0 and row.blocked_until is None


def test_success_forgives_only_this_clients_failures_for_that_account(
    engine: Engine, clock: Clock, person: str
) -> None:
    # Two typos on one's own account, three failures elsewhere: the success takes back
    # the two typos, not the three (signing in to one's own account must not reset
    # a sprayer's count).
    client = fresh_client()
    for _ in range(2):
        attempt(engine, clock, email=person, password="typo-password", client=client)
    for _ in range(3):
        attempt(engine, clock, email=fresh_email(), password="guess-123456", client=client)
    assert attempt(engine, clock, email=person, password=PASSWORD, client=client) == ("ok", None)
    with Session(engine) as db:
        keys = throttle.Keys.of(client=client, email=person)
        assert db.get(SignInThrottle, keys.client).failures == 3
    # So exactly two more failures are free, and the one after that starts the waits.
    for _ in range(2):
        attempt(engine, clock, email=fresh_email(), password="guess-123456", client=client)
    assert attempt(engine, clock, email=fresh_email(), password="x" * 12, client=client) == (
        "wrong",
        None,
    )
    assert attempt(engine, clock, email=fresh_email(), password="x" * 12, client=client) == (
        "wait",
        1,
    )


def test_a_sprayer_gains_nothing_by_signing_in_to_its_own_account(
    engine: Engine, clock: Clock, person: str
) -> None:
    client = fresh_client()
    for _ in range(throttle.CLIENT.free):
        attempt(engine, clock, email=fresh_email(), password="guess-123456", client=client)
    assert attempt(engine, clock, email=person, password=PASSWORD, client=client) == ("ok", None)
    attempt(engine, clock, email=fresh_email(), password="guess-123456", client=client)
    assert attempt(engine, clock, email=fresh_email(), password="guess-123456", client=client) == (
        "wait",
        1,
    )


def test_counts_start_again_after_a_quiet_period(engine: Engine, clock: Clock) -> None:
    client = fresh_client()
    for _ in range(throttle.CLIENT.free + 3):
        waits_until_admitted(
            engine, clock, email=fresh_email, password="guess-123456", client=client
        )
    assert attempt(engine, clock, email=fresh_email(), password="guess-123456", client=client) == (
        "wait",
        4,
    )
    clock.advance(throttle.CLIENT.quiet.total_seconds())
    for _ in range(throttle.CLIENT.free + 1):
        assert (
            attempt(engine, clock, email=fresh_email(), password="guess-1", client=client)[0]
            == "wrong"
        )


def test_ipv6_clients_share_a_key_per_64(engine: Engine, clock: Clock) -> None:
    # One host usually owns a whole /64: rotating through it must not buy fresh keys.
    prefix = f"2001:db8:{next(_addresses):x}:1:"
    for n in range(throttle.CLIENT.free + 1):
        client = throttle.client_key(f"{prefix}{n:x}:0:0:1")
        attempt(engine, clock, email=fresh_email(), password="guess-123456", client=client)
    client = throttle.client_key(f"{prefix}ffff:ffff:ffff:ffff")
    assert attempt(engine, clock, email=fresh_email(), password="guess-123456", client=client) == (
        "wait",
        1,
    )


# --- per account ------------------------------------------------------------------


def _fail_from_many_clients(
    engine: Engine, clock: Clock, *, email: str, failures: int
) -> list[Outcome]:
    """`failures` wrong passwords against one account, PAIR_SHARE per client."""
    outcomes: list[Outcome] = []
    client = fresh_client()
    for n in range(failures):
        if n and n % throttle.PAIR_SHARE == 0:
            client = fresh_client()
        outcomes.append(attempt(engine, clock, email=email, password="guess-123456", client=client))
    return outcomes


def test_guessing_one_password_from_many_clients_waits_longer_and_longer_but_briefly(
    engine: Engine, clock: Clock, person: str
) -> None:
    outcomes = _fail_from_many_clients(
        engine, clock, email=person, failures=throttle.ACCOUNT.free + 1
    )
    assert outcomes == [("wrong", None)] * (throttle.ACCOUNT.free + 1)
    met = [
        waits_until_admitted(
            engine, clock, email=lambda: person, password="guess-123456", client=fresh_client()
        )
        for _ in range(8)
    ]
    assert met == [1, 2, 4, 8, 16, 30, 30, 30]
    # The cap is what an attacker can hold the owner off for: tens of seconds, no more.
    assert throttle.ACCOUNT.cap_seconds <= 30
    owner = fresh_client()
    outcome = attempt(engine, clock, email=person, password=PASSWORD, client=owner)
    assert outcome == ("wait", 30)
    clock.advance(30)
    assert attempt(engine, clock, email=person, password=PASSWORD, client=owner) == ("ok", None)
    # The owner's success starts the account's count again.
    assert attempt(
        engine, clock, email=person, password="guess-1234567", client=fresh_client()
    ) == (
        "wrong",
        None,
    )
    assert attempt(engine, clock, email=person, password=PASSWORD, client=owner) == ("ok", None)


def test_one_client_alone_never_keeps_the_owner_out(
    engine: Engine, clock: Clock, person: str
) -> None:
    attacker = fresh_client()
    for _ in range(20):  # far beyond every free count, sitting out each wait
        waits_until_admitted(
            engine, clock, email=lambda: person, password="guess-123456", client=attacker
        )
    assert attempt(engine, clock, email=person, password="guess-123456", client=attacker)[0] == (
        "wait"
    )
    assert attempt(engine, clock, email=person, password=PASSWORD, client=fresh_client()) == (
        "ok",
        None,
    )


def test_unknown_emails_are_throttled_exactly_like_known_ones(
    engine: Engine, clock: Clock, person: str, verifications: list[str]
) -> None:
    unknown = fresh_email("ghost")

    def story(email: str) -> list[Outcome]:
        outcomes = _fail_from_many_clients(
            engine, clock, email=email, failures=throttle.ACCOUNT.free + 1
        )
        outcomes.append(
            attempt(engine, clock, email=email, password=PASSWORD, client=fresh_client())
        )
        clock.advance(1)
        outcomes.append(
            attempt(engine, clock, email=email, password="guess-1", client=fresh_client())
        )
        outcomes.append(
            attempt(engine, clock, email=email, password="guess-1", client=fresh_client())
        )
        return outcomes

    start = clock()
    known_story = story(person)
    known_checks = len(verifications)
    clock.now = start + timedelta(hours=1)
    unknown_story = story(unknown)
    assert unknown_story == known_story
    assert ("wait", 1) in unknown_story and ("wait", 2) in unknown_story
    assert len(verifications) == 2 * known_checks  # the same argon2 work, attempt by attempt
    assert verifications.count("dummy") == known_checks
    with Session(engine) as db:
        for email in (person, unknown):
            row = db.get(SignInThrottle, throttle.Keys.of(client="-", email=email).account)
            assert row is not None and row.kind == "account"
            assert row.failures == throttle.ACCOUNT.free + 2


# --- several workers, one database ---------------------------------------------------


def test_parallel_attempts_cannot_slip_through_the_free_slots(
    engine: Engine, clock: Clock, verifications: list[str]
) -> None:
    """Each attempt counts before its password is checked, under a row lock: a burst of
    parallel requests (several workers) gets exactly the free attempts plus one."""
    client = fresh_client()
    outcomes: list[Outcome] = []
    start = threading.Barrier(16)
    lock = threading.Lock()

    def one() -> None:
        start.wait()
        outcome = attempt(
            engine, clock, email=fresh_email(), password="guess-123456", client=client
        )
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(outcomes) == 16
    assert outcomes.count(("wrong", None)) == throttle.CLIENT.free + 1
    assert outcomes.count(("wait", 1)) == 16 - throttle.CLIENT.free - 1
    assert len(verifications) == throttle.CLIENT.free + 1


# --- what is stored and audited --------------------------------------------------------


def test_nothing_typed_is_stored_in_plain_text(engine: Engine, clock: Clock, person: str) -> None:
    unknown = fresh_email("never-stored")
    guesses = ["Unknown-Guess-1", "Known-Guess-2"]
    client = fresh_client()
    attempt(engine, clock, email=unknown, password=guesses[0], client=client)
    attempt(engine, clock, email=person, password=guesses[1], client=client)
    everything = dump(engine)
    for text in [unknown, unknown.split("@")[0], *guesses]:
        assert leaks(everything, text) == [], text
    with Session(engine) as db:
        rows = db.exec(select(SignInThrottle)).all()
        assert rows and all(len(r.key) == 64 and int(r.key, 16) >= 0 for r in rows)


def test_failed_sign_ins_of_a_member_are_audited_at_most_once_a_minute(
    engine: Engine, clock: Clock, world: World
) -> None:
    email = world.actors["viewer2"].label
    user_id = world.user_ids["viewer2"]

    def events() -> list[AuditEvent]:
        with Session(engine) as db:
            return list(
                db.exec(
                    select(AuditEvent).where(
                        AuditEvent.action == Action.SIGN_IN_FAILED, AuditEvent.target_id == user_id
                    )
                ).all()
            )

    outcomes = _fail_from_many_clients(engine, clock, email=email, failures=9)
    assert outcomes == [("wrong", None)] * 9
    flood = events()
    assert len(flood) == 1
    event = flood[0]
    assert event.outcome == "failure" and event.actor_id is None
    assert event.workspace_id == world.ws2
    assert set(event.detail) == {"email", "client", "recent_failures"}
    assert event.detail["email"] == email  # a known member, named for the admins who read it
    assert "guess-123456" not in str(event.model_dump())
    clock.advance(61)
    attempt(engine, clock, email=email, password="guess-123456", client=fresh_client())
    assert len(events()) == 2
    # Unknown emails have no account to write to: nothing is recorded for them.
    with Session(engine) as db:
        before = len(db.exec(select(AuditEvent)).all())
    _fail_from_many_clients(engine, clock, email=fresh_email(), failures=4)
    with Session(engine) as db:
        assert len(db.exec(select(AuditEvent)).all()) == before
        assert audit.verify(db, account_id=world.account_id).ok


# --- housekeeping ------------------------------------------------------------------------


def test_quiet_keys_are_purged_and_waiting_ones_kept(engine: Engine, clock: Clock) -> None:
    quiet_client, busy_client = fresh_client(), fresh_client()
    attempt(engine, clock, email=fresh_email(), password="guess-123456", client=quiet_client)
    clock.advance(throttle.FORGET_AFTER.total_seconds() + 1)
    for _ in range(throttle.CLIENT.free + 1):
        attempt(engine, clock, email=fresh_email(), password="guess-123456", client=busy_client)
    with Session(engine) as db:
        assert throttle.purge(db, now=clock()) >= 3
        quiet = throttle.Keys.of(client=quiet_client, email="-").client
        busy = throttle.Keys.of(client=busy_client, email="-").client
        assert db.get(SignInThrottle, quiet) is None
        assert db.get(SignInThrottle, busy) is not None
