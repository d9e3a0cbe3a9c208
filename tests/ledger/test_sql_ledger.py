"""The database ledger: balanced entries, refusals that change nothing, idempotency,
supply, the check, and concurrent spenders — on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from tests.conftest import fresh_engine

from crowdalpha.db import session_factory, transact, unit_of_work
from crowdalpha.errors import (
    IdempotencyKeyReusedError,
    InsufficientFundsError,
    InvalidAmountError,
    InvalidInputError,
    LedgerInvariantError,
    LimitExceededError,
    UnbalancedEntryError,
)
from crowdalpha.ledger import (
    BURNED,
    EXTERNAL,
    MINTED,
    TREASURY,
    Posting,
    SqlLedger,
    check_ledger,
    nmr,
    stake,
    wallet,
)
from crowdalpha.ledger.models import LedgerBalance


def run(engine: Engine, fn, **kw):  # type: ignore[no-untyped-def]
    return transact(session_factory(engine), lambda s: fn(SqlLedger(s, **kw)))


def balances(engine: Engine, *accounts: str) -> dict[str, int]:
    return run(engine, lambda led: led.balances(accounts))


def test_a_life_of_nmr_balances_to_the_base_unit(engine: Engine) -> None:
    run(engine, lambda led: led.mint(TREASURY, nmr(1000)))
    run(engine, lambda led: led.transfer(TREASURY, wallet(1), nmr("100.5"), kind="grant"))
    run(engine, lambda led: led.deposit(wallet(1), nmr("0.000000000000000001")))
    run(engine, lambda led: led.transfer(wallet(1), stake(7), nmr(60), kind="stake"))
    run(engine, lambda led: led.burn(stake(7), nmr("1.25")))
    run(engine, lambda led: led.withdraw(wallet(1), nmr("40.5")))
    got = balances(engine, TREASURY, wallet(1), stake(7), BURNED, MINTED, EXTERNAL)
    assert got == {
        TREASURY: nmr("899.5"),
        wallet(1): 1,
        stake(7): nmr("58.75"),
        BURNED: nmr("1.25"),
        MINTED: -nmr(1000),
        EXTERNAL: nmr("40.5") - 1,
    }
    supply = run(engine, lambda led: led.supply())
    assert supply.minted == nmr(1000) and supply.burned == nmr("1.25")
    assert supply.net_deposits == 1 - nmr("40.5")
    assert supply.circulating == nmr(1000) - nmr("1.25") + 1 - nmr("40.5")
    with unit_of_work(session_factory(engine)) as session:
        report = check_ledger(session)
    assert report.ok, report.problems
    assert report.entries == 6 and report.postings == 12
    history = run(engine, lambda led: led.history(wallet(1)))
    assert [e.kind for e in history] == ["withdraw", "stake", "deposit", "grant"]
    assert history[0].amount_for(wallet(1)) == -nmr("40.5")


def test_refusals_change_nothing(engine: Engine) -> None:
    run(engine, lambda led: led.mint(TREASURY, nmr(10)))
    run(engine, lambda led: led.transfer(TREASURY, wallet(1), nmr(5)))
    before = balances(engine, TREASURY, wallet(1), stake(1), BURNED, MINTED)
    cases = [
        (InsufficientFundsError, lambda led: led.transfer(wallet(1), stake(1), nmr(5) + 1)),
        (InvalidAmountError, lambda led: led.transfer(wallet(1), stake(1), 0)),
        (InvalidAmountError, lambda led: led.transfer(wallet(1), stake(1), -5)),
        (InvalidAmountError, lambda led: led.transfer(wallet(1), stake(1), 1.0)),
        (
            UnbalancedEntryError,
            lambda led: led.post([Posting(wallet(1), -2), Posting(stake(1), 1)], kind="x"),
        ),
        (UnbalancedEntryError, lambda led: led.post([], kind="x")),
        (UnbalancedEntryError, lambda led: led.transfer(BURNED, wallet(1), 1)),
        (UnbalancedEntryError, lambda led: led.transfer(TREASURY, MINTED, nmr(11))),
        (InvalidInputError, lambda led: led.transfer(wallet(1), "bank:1", 1)),
        (InvalidInputError, lambda led: led.transfer(wallet(1), "wallet:x", 1)),
        # the first leg succeeds on its own; the second must roll it back with it
        (
            InsufficientFundsError,
            lambda led: (
                led.transfer(wallet(1), stake(1), nmr(5)),
                led.transfer(TREASURY, stake(1), nmr(6)),
            ),
        ),
    ]
    for error, op in cases:
        with pytest.raises(error):
            run(engine, op)
    assert balances(engine, TREASURY, wallet(1), stake(1), BURNED, MINTED) == before


def test_idempotency_keys_make_retries_harmless(engine: Engine) -> None:
    run(engine, lambda led: led.mint(TREASURY, nmr(10)))
    first = run(engine, lambda led: led.transfer(TREASURY, wallet(1), nmr(3), key="grant-1"))
    again = run(engine, lambda led: led.transfer(TREASURY, wallet(1), nmr(3), key="grant-1"))
    assert again == first
    assert balances(engine, wallet(1)) == {wallet(1): nmr(3)}
    with pytest.raises(IdempotencyKeyReusedError, match="grant-1"):
        run(engine, lambda led: led.transfer(TREASURY, wallet(1), nmr(4), key="grant-1"))
    assert run(engine, lambda led: led.entry_for_key("grant-1")) == first
    assert balances(engine, wallet(1)) == {wallet(1): nmr(3)}


def test_the_mint_cap_holds(engine: Engine) -> None:
    run(engine, lambda led: led.mint(TREASURY, nmr(60)), mint_cap=nmr(100))
    with pytest.raises(LimitExceededError, match="above the cap of 100 NMR"):
        run(engine, lambda led: led.mint(TREASURY, nmr(41)), mint_cap=nmr(100))
    run(engine, lambda led: led.mint(TREASURY, nmr(40)), mint_cap=nmr(100))
    # burning does not give minting room back: the cap bounds what was ever minted
    run(engine, lambda led: led.burn(TREASURY, nmr(50)), mint_cap=nmr(100))
    with pytest.raises(LimitExceededError):
        run(engine, lambda led: led.mint(TREASURY, 1), mint_cap=nmr(100))


def test_the_check_finds_books_edited_behind_the_ledgers_back(engine: Engine) -> None:
    run(engine, lambda led: led.mint(TREASURY, nmr(10)))
    run(engine, lambda led: led.transfer(TREASURY, wallet(1), nmr(3)))
    factory = session_factory(engine)
    with unit_of_work(factory) as session:
        assert check_ledger(session).ok
        session.execute(
            update(LedgerBalance).where(LedgerBalance.account == wallet(1)).values(balance=nmr(4))
        )
    with unit_of_work(factory) as session:
        report = check_ledger(session)
    assert not report.ok
    assert any("wallet:1: stored balance" in p for p in report.problems)
    with pytest.raises(LedgerInvariantError, match="1 problem"):
        report.raise_for_problems()


def _race(engine: Engine, workers: int, op) -> tuple[int, list[BaseException]]:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []
    done = 0
    lock = threading.Lock()

    def worker(i: int) -> None:
        nonlocal done
        barrier.wait()
        try:
            run(engine, lambda led: op(led, i))
            with lock:
                done += 1
        except BaseException as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done, errors


def test_concurrent_stakes_never_spend_the_same_nmr(engine: Engine) -> None:
    run(engine, lambda led: led.mint(TREASURY, nmr(100)))
    run(engine, lambda led: led.transfer(TREASURY, wallet(1), nmr(10)))
    # eight simultaneous stakes of 3 NMR each from a 10 NMR wallet: exactly three succeed
    done, errors = _race(engine, 8, lambda led, i: led.transfer(wallet(1), stake(i), nmr(3)))
    assert done == 3
    assert len(errors) == 5 and all(isinstance(e, InsufficientFundsError) for e in errors)
    stakes = balances(engine, *(stake(i) for i in range(8)))
    assert sum(stakes.values()) == nmr(9)
    assert balances(engine, wallet(1)) == {wallet(1): nmr(1)}
    with unit_of_work(session_factory(engine)) as session:
        assert check_ledger(session).ok


def test_concurrent_retries_of_one_key_move_nmr_once(engine: Engine) -> None:
    run(engine, lambda led: led.mint(TREASURY, nmr(100)))
    done, errors = _race(
        engine, 6, lambda led, i: led.transfer(TREASURY, wallet(1), nmr(7), key="same")
    )
    assert (done, errors) == (6, [])
    assert balances(engine, wallet(1)) == {wallet(1): nmr(7)}


def test_postgresql_row_locks_serialise_spenders(db_kind: str, tmp_path: Path) -> None:
    """A wallet locked by an open transaction blocks a second spender until it commits."""
    if db_kind != "postgresql":
        pytest.skip("row locks are a PostgreSQL matter; SQLite runs one writer at a time")
    engine = fresh_engine(db_kind, tmp_path)
    run(engine, lambda led: led.mint(TREASURY, nmr(5)))
    run(engine, lambda led: led.transfer(TREASURY, wallet(1), nmr(5)))
    factory = session_factory(engine)
    second_done = threading.Event()
    outcome: list[object] = []

    def second() -> None:
        try:
            run(engine, lambda led: led.transfer(wallet(1), stake(2), nmr(3)))
            outcome.append("ok")
        except InsufficientFundsError as exc:
            outcome.append(exc)
        second_done.set()

    with unit_of_work(factory) as session:
        SqlLedger(session).transfer(wallet(1), stake(1), nmr(3))
        thread = threading.Thread(target=second)
        thread.start()
        assert not second_done.wait(0.5), "the second spender did not wait for the lock"
    thread.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], InsufficientFundsError)
    engine.dispose()


def test_balances_as_of_a_snapshot_ignore_later_entries(engine: Engine) -> None:
    from crowdalpha.ledger import AccountKind, escrow

    with session_factory(engine).begin() as session:
        ledger = SqlLedger(session)
        assert ledger.snapshot() == 0
        ledger.mint(TREASURY, nmr(10))
        ledger.transfer(TREASURY, wallet(1), nmr(4))
        ledger.transfer(wallet(1), stake(7), nmr(1))
        snap = ledger.snapshot()
        ledger.transfer(wallet(1), escrow(3), nmr(2))
        ledger.transfer(TREASURY, wallet(2), nmr(5))
        assert snap < ledger.snapshot()
        assert ledger.balances_at([wallet(1), wallet(2), stake(7)], snap) == {
            wallet(1): nmr(3),
            wallet(2): 0,
            stake(7): nmr(1),
        }
        assert ledger.holdings_at([AccountKind.WALLET, AccountKind.STAKE], snap) == {
            wallet(1): nmr(3),
            stake(7): nmr(1),
        }
        assert ledger.balances([escrow(3)]) == {escrow(3): nmr(2)}
        assert check_ledger(session).ok
