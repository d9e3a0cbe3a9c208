"""Withdrawals pay the linked wallet once, whatever the moment a crash strikes: the transfer
is signed and stored before it is broadcast, and a retry (or the next tick) sends the same
bytes again; two processes sending from the operator's key never share a nonce."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.chain.platform_support import ChainTournament, Wallet
from tests.chain.support import NMR, AnvilChain, key
from tests.conftest import fresh_engine

from crowdalpha.chain.platform import ChainPlatform
from crowdalpha.chain.transactions import Sender
from crowdalpha.db.chain_tables import ChainTransferRow


class Crash(BaseException):
    """A process dying at this instant: nothing after it runs (not even ``except
    Exception`` handlers)."""


@pytest.fixture
def ct(chain: AnvilChain, db_kind: str, tmp_path: Path) -> Iterator[ChainTournament]:
    engine = fresh_engine(db_kind, tmp_path)
    yield ChainTournament(chain, engine, tmp_path / "home")
    engine.dispose()


def linked(ct: ChainTournament, name: str, funds: int = 10 * NMR) -> tuple[int, Wallet]:
    """An account with ``funds`` in its SQL wallet and a linked wallet on chain."""
    t = ct.tournament
    account = t.create_account(name, f"{name}@example.org")
    t.grant(account.id, funds)
    wallet = Wallet.of(ct.chain, f"{name} wallet")
    ct.platform.link_wallet(account.id, wallet.address, wallet.sign_link(name))
    return account.id, wallet


def crash_once(monkeypatch: pytest.MonkeyPatch, method: str) -> list[int]:
    """Make ``Sender.<method>`` die on its first call (``wait``: after the transaction went
    out; ``submit``: before it leaves); the list counts the crashes."""
    real = getattr(Sender, method)
    crashed: list[int] = []

    def dying(self: Sender, *args: object, **kwargs: object) -> object:
        if not crashed:
            crashed.append(1)
            raise Crash
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Sender, method, dying)
    return crashed


def test_a_crash_after_the_broadcast_pays_once_on_retry(
    ct: ChainTournament, monkeypatch: pytest.MonkeyPatch
) -> None:
    ct.tick()
    account, wallet = linked(ct, "alice")
    before = wallet.balance()
    crashed = crash_once(monkeypatch, "wait")
    with pytest.raises(Crash):
        ct.platform.withdraw(account, 2 * NMR, key="w1")
    assert crashed == [1]
    assert wallet.balance() == before + 2 * NMR  # it was sent (anvil mined it at once)
    # the client retries with its key: the stored transaction, not a second transfer
    tx = ct.platform.withdraw(account, 2 * NMR, key="w1")
    assert ct.platform.withdraw(account, 2 * NMR, key="w1") == tx
    assert wallet.balance() == before + 2 * NMR
    assert ct.tournament.wallet_balance(account) == 8 * NMR
    ct.tick()
    assert ct.platform.check() == []
    assert ct.tournament.check_ledger().ok


def test_a_crash_before_the_broadcast_is_paid_by_the_next_tick(
    ct: ChainTournament, monkeypatch: pytest.MonkeyPatch
) -> None:
    ct.tick()
    account, wallet = linked(ct, "bob")
    before = wallet.balance()
    crash_once(monkeypatch, "submit")
    with pytest.raises(Crash):
        ct.platform.withdraw(account, 3 * NMR, key="w1")
    assert wallet.balance() == before  # debited in SQL, stored, never sent
    assert [d.kind for d in ct.platform.check()] == ["transfer_pending"]
    # nobody retries: the clock's tick hands the stored transfer to the node
    report = ct.tick()
    assert report.resent == [f"chain:withdrawal:{account}:w1"]
    assert wallet.balance() == before + 3 * NMR
    assert ct.tick().resent == []
    # a late retry finds it paid
    ct.platform.withdraw(account, 3 * NMR, key="w1")
    assert wallet.balance() == before + 3 * NMR
    ct.tick()
    assert ct.platform.check() == []
    assert ct.tournament.check_ledger().ok


def test_a_stored_transfer_whose_nonce_was_taken_is_signed_again_and_paid_once(
    ct: ChainTournament, monkeypatch: pytest.MonkeyPatch
) -> None:
    ct.tick()
    account, wallet = linked(ct, "carol")
    before = wallet.balance()
    crash_once(monkeypatch, "submit")
    with pytest.raises(Crash):
        ct.platform.withdraw(account, NMR, key="w1")
    # another operator transaction takes the stored transfer's nonce
    ct.chain.operator.reset_nonce()
    ct.chain.token.transfer(ct.chain.operator, ct.chain.operator.address, 1)
    ct.platform.withdraw(account, NMR, key="w1")
    assert wallet.balance() == before + NMR
    ct.tick()
    assert ct.platform.check() == []


def test_two_processes_withdrawing_at_once_use_distinct_nonces_and_pay_each_once(
    ct: ChainTournament,
) -> None:
    ct.tick()
    chain = ct.chain
    # a second server process: its own platform and its own Sender for the operator's key
    other = ChainPlatform(
        ct.tournament,
        ct.settings,
        w3=chain.w3,
        operator=Sender(chain.w3, chain.operator.account),
        signer=key("signer"),
    )
    people = [linked(ct, f"payee{i}") for i in range(6)]
    before = {wallet.address: wallet.balance() for _, wallet in people}
    errors: list[BaseException] = []

    def withdraw(platform: ChainPlatform, account: int) -> None:
        try:
            platform.withdraw(account, NMR, key="w")
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=withdraw, args=(ct.platform if i % 2 else other, account))
        for i, (account, _) in enumerate(people)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    for _, wallet in people:
        assert wallet.balance() == before[wallet.address] + NMR
    with Session(ct.tournament.engine) as session:
        nonces = list(session.scalars(select(ChainTransferRow.nonce)))
    assert len(nonces) == len(people) and len(set(nonces)) == len(people)
    ct.tick()
    assert ct.platform.check() == []
