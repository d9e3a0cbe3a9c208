"""NMR between participants' own wallets and the platform's: links, deposits, withdrawals.

A participant links a wallet by signing :func:`link_message` with it (EIP-191). A transfer
from a linked wallet to the platform's wallet (the staking contract's service wallet),
once indexed, credits the account's SQL wallet once (its ledger key names the transaction
and log). A withdrawal debits the SQL wallet under an idempotency key, then the operator
pays the linked wallet on chain. ``chain_transfers`` keeps every one of them, and
:meth:`Custody.differences` checks each against its ledger entry and its on-chain transfer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import suppress

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_typing import ChecksumAddress
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crowdalpha.chain.contracts import NMRToken, Staking
from crowdalpha.chain.encoding import checksum_address, hex32
from crowdalpha.chain.reconcile import Difference
from crowdalpha.chain.store import SqlEventStore
from crowdalpha.chain.transactions import Sender, SignedTransaction, StaleTransactionError
from crowdalpha.db.chain_tables import ChainTransferRow, ChainWalletLink
from crowdalpha.db.locks import DatabaseLock
from crowdalpha.errors import (
    ChainTransactionError,
    ConflictError,
    InvalidInputError,
    PermissionDeniedError,
)
from crowdalpha.ledger import Entry
from crowdalpha.tournament import Tournament

__all__ = ["Custody", "link_message"]


def _stored(row: ChainTransferRow) -> SignedTransaction | None:
    """The withdrawal's signed transaction while it is not known to be mined, else None."""
    if row.raw_transaction is None or row.tx_hash is None or row.nonce is None:
        return None
    return SignedTransaction(row.raw_transaction, row.tx_hash, row.nonce)


def link_message(username: str, address: str) -> str:
    """The text a wallet signs (EIP-191 ``personal_sign``) to link itself to an account."""
    return f"crowdalpha: link wallet {checksum_address(address)} to account {username}"


class Custody:
    """The platform's wallet and the accounts' linked wallets."""

    def __init__(
        self,
        tournament: Tournament,
        *,
        token: NMRToken,
        staking: Staking,
        store: SqlEventStore,
        operator: Callable[[], Sender],
        lock: threading.RLock,
    ) -> None:
        self.tournament = tournament
        self.token = token
        self.staking = staking
        self.store = store
        self._operator = operator
        self._lock = lock
        # nonces of the operator's key, reserved across processes (two servers, one DB)
        self._nonces = DatabaseLock(tournament.engine, "chain-nonce")

    @property
    def operator(self) -> Sender:
        return self._operator()

    def linked_wallet(self, account_id: int) -> ChecksumAddress | None:
        with Session(self.tournament.engine) as session:
            row = session.get(ChainWalletLink, account_id)
            return None if row is None else checksum_address(row.address)

    @property
    def address(self) -> ChecksumAddress:
        """The platform's wallet: where deposits go and withdrawals come from (the
        staking contract's service wallet)."""
        return self.staking.config().service_wallet

    def link_wallet(self, account_id: int, address: str, signature: str) -> ChecksumAddress:
        """Link ``address`` to an account with the wallet's signature of
        :func:`link_message` (EIP-191)."""
        account = self.tournament.account(account_id)
        wanted = checksum_address(address, name="wallet")
        try:
            raw = bytes.fromhex(signature.removeprefix("0x"))
            signer = Account.recover_message(
                encode_defunct(text=link_message(account.username, wanted)), signature=raw
            )
        except (ValueError, TypeError):
            raise InvalidInputError("the signature is not a 65-byte hex signature") from None
        if signer != wanted:
            raise PermissionDeniedError(
                f"the signature is not {wanted}'s signature of the link message "
                f"{link_message(account.username, wanted)!r}"
            )
        with Session(self.tournament.engine) as session, session.begin():
            other = session.scalar(select(ChainWalletLink).where(ChainWalletLink.address == wanted))
            if other is not None and other.account_id != account_id:
                raise ConflictError(f"{wanted} is linked to another account")
            row = session.get(ChainWalletLink, account_id)
            if row is None:
                session.add(
                    ChainWalletLink(
                        account_id=account_id,
                        address=wanted,
                        signature="0x" + raw.hex(),
                        linked_at=self.tournament.clock.now(),
                    )
                )
            else:
                row.address, row.signature = wanted, "0x" + raw.hex()
                row.linked_at = self.tournament.clock.now()
        return wanted

    def _links(self) -> dict[str, int]:
        with Session(self.tournament.engine) as session:
            return {r.address: r.account_id for r in session.scalars(select(ChainWalletLink))}

    def credit_deposits(self) -> list[str]:
        """Credit in the SQL ledger every indexed transfer from a linked wallet to the
        platform's wallet not credited yet; the ledger keys credited."""
        custody = self.address
        links = self._links()
        with Session(self.tournament.engine) as session:
            done = set(
                session.scalars(
                    select(ChainTransferRow.ledger_key).where(ChainTransferRow.kind == "deposit")
                )
            )
        credited = []
        for event in self.store.events():
            if event.contract != "nmr" or event.name != "Transfer":
                continue
            sender, receiver = event.args["sender"], event.args["receiver"]
            if receiver != custody or sender not in links:
                continue
            key = f"chain:deposit:{hex32(event.tx_hash)}:{event.log_index}"
            if key in done:
                continue
            amount = int(event.args["value"])
            self.tournament.deposit(links[sender], amount, key=key)
            with Session(self.tournament.engine) as session, session.begin():
                if session.get(ChainTransferRow, key) is None:
                    session.add(
                        ChainTransferRow(
                            ledger_key=key,
                            kind="deposit",
                            account_id=links[sender],
                            address=sender,
                            amount=amount,
                            created_at=self.tournament.clock.now(),
                            tx_hash=hex32(event.tx_hash),
                        )
                    )
            credited.append(key)
        return credited

    def withdraw(self, account_id: int, amount: int, *, key: str) -> str:
        """Move ``amount`` from the account's SQL wallet to its linked wallet on chain; the
        transaction's hash. ``key`` makes a retry return the first withdrawal.

        The SQL wallet is debited first (under the key), then the transfer is signed and
        stored with its nonce, then broadcast: a retry after a crash at any point sends the
        stored transaction again (a nonce is mined once), so the wallet is paid once."""
        wallet = self.linked_wallet(account_id)
        if wallet is None:
            raise PermissionDeniedError(
                "this account has no linked wallet; link one first (crowdalpha chain link)"
            )
        ledger_key = f"chain:withdrawal:{account_id}:{key}"
        row = self._transfer(ledger_key)
        if row is not None and row.amount != amount:
            raise ConflictError(f"withdrawal {key!r} was for another amount")
        if row is None:
            self.tournament.withdraw(account_id, amount, key=ledger_key)
            signed = self._sign(ledger_key, account_id, wallet, amount)
        elif (stored := _stored(row)) is None:
            if row.tx_hash is not None:
                return row.tx_hash  # mined (or sent by an earlier version, hash only)
            raise ConflictError(
                f"withdrawal {key!r} was interrupted by an earlier version of crowdalpha "
                "after its SQL debit, and whether it was sent is unknown; the operator "
                "must compare the linked wallet's transfers with `crowdalpha chain check` "
                "before anything is sent again",
                details={"ledger_key": ledger_key},
            )
        else:
            signed = stored
        for _ in range(3):
            try:
                with self._lock:
                    self.operator.broadcast(signed, what="a withdrawal")
            except StaleTransactionError:
                # its nonce went to another transaction: it never paid, and never will
                signed = self._sign(ledger_key, account_id, wallet, amount, replacing=signed)
                continue
            self._mined(ledger_key)
            return signed.tx_hash
        raise ChainTransactionError(
            f"withdrawal {key!r}: the operator's nonces keep being taken by other "
            "transactions; retry later",
            details={"ledger_key": ledger_key},
        )

    def send_pending(self) -> list[str]:
        """Hand the node again every withdrawal that was signed and stored but is not
        mined (a crash or a lost connection after its debit), signing again those whose
        nonce went to another transaction: a debited withdrawal is owed, whether or not
        its client retries. The ledger keys handed over; called by the clock's tick."""
        sent = []
        for row in self._in_flight():
            signed = _stored(row)
            if signed is None:
                continue
            with self._lock:
                if self.operator.receipt(signed.tx_hash) is not None:
                    self._mined(row.ledger_key)
                    continue
                try:
                    self.operator.submit(signed, what="a withdrawal")
                except StaleTransactionError:
                    signed = self._sign(
                        row.ledger_key, row.account_id, row.address, row.amount, replacing=signed
                    )
                    self.operator.submit(signed, what="a withdrawal")
            sent.append(row.ledger_key)
        return sent

    def _in_flight(self) -> list[ChainTransferRow]:
        """Withdrawals signed and stored, not yet seen mined (oldest nonce first)."""
        with Session(self.tournament.engine, expire_on_commit=False) as session:
            return list(
                session.scalars(
                    select(ChainTransferRow)
                    .where(
                        ChainTransferRow.kind == "withdrawal",
                        ChainTransferRow.raw_transaction.is_not(None),
                    )
                    .order_by(ChainTransferRow.nonce)
                )
            )

    def _mined(self, ledger_key: str) -> None:
        """The withdrawal's transaction is mined: its bytes are not needed any more (the
        hash and the nonce stay)."""
        with Session(self.tournament.engine) as session, session.begin():
            row = session.get(ChainTransferRow, ledger_key)
            if row is not None:
                row.raw_transaction = None

    def _transfer(self, ledger_key: str) -> ChainTransferRow | None:
        with Session(self.tournament.engine, expire_on_commit=False) as session:
            return session.get(ChainTransferRow, ledger_key)

    def _sign(
        self,
        ledger_key: str,
        account_id: int,
        wallet: str,
        amount: int,
        *,
        replacing: SignedTransaction | None = None,
    ) -> SignedTransaction:
        """Sign the withdrawal's transfer with a nonce no other stored transfer holds, and
        store it before anything is sent (under the lock of every process sending from the
        operator's key). An existing row is kept unless it holds ``replacing``."""
        with self._lock, self._nonces.held(wait=60.0) as got:
            if not got:
                raise ChainTransactionError(
                    "another process kept the operator's nonce lock for a minute; retry"
                )
            # a stored withdrawal the node has not seen (its process died before sending
            # it) goes first, so that the new one does not wait behind a gap in the nonces
            known = self.operator.pending_nonce()
            for waiting in map(_stored, self._in_flight()):
                if waiting is None or waiting.nonce < known or waiting == replacing:
                    continue
                with suppress(StaleTransactionError):  # then send_pending signs it again
                    self.operator.submit(waiting, what="a withdrawal")
            with Session(self.tournament.engine) as session, session.begin():
                row = session.get(ChainTransferRow, ledger_key)
                stored = None if row is None else _stored(row)
                if stored is not None and stored != replacing:
                    return stored
                reserved = session.scalar(select(func.max(ChainTransferRow.nonce)))
                signed = self.operator.sign(
                    self.token.transfer_call(wallet, amount),
                    min_nonce=0 if reserved is None else reserved + 1,
                )
                if row is None:
                    row = ChainTransferRow(
                        ledger_key=ledger_key,
                        kind="withdrawal",
                        account_id=account_id,
                        address=wallet,
                        amount=amount,
                        created_at=self.tournament.clock.now(),
                    )
                    session.add(row)
                row.tx_hash, row.raw_transaction, row.nonce = (
                    signed.tx_hash,
                    signed.raw,
                    signed.nonce,
                )
            return signed

    def _ledger_entry(self, key: str) -> Entry | None:
        uow = self.tournament.uow

        def find(session: Session) -> Entry | None:
            return uow.ledger(session).entry_for_key(key)

        return uow.read(find)

    def differences(self) -> list[Difference]:
        out: list[Difference] = []
        transfers = {
            (hex32(e.tx_hash), e.args["sender"], e.args["receiver"]): int(e.args["value"])
            for e in self.store.events()
            if e.contract == "nmr" and e.name == "Transfer"
        }
        custody = self.address
        with Session(self.tournament.engine) as session:
            rows = list(session.scalars(select(ChainTransferRow)))
        for row in rows:
            subject = f"{row.kind} {row.ledger_key}"
            entry = self._ledger_entry(row.ledger_key)
            if entry is None:
                out.append(Difference("ledger_entry_missing", subject, row.amount, None))
            if row.tx_hash is None:
                out.append(Difference("transfer_not_sent", subject, row.amount, None))
                continue
            pair = (row.address, custody) if row.kind == "deposit" else (custody, row.address)
            on_chain = transfers.get((row.tx_hash, *pair))
            if on_chain is None and row.raw_transaction is not None:
                # signed and stored, not mined (yet): the tick hands it to the node again
                out.append(Difference("transfer_pending", subject, row.amount, None))
                continue
            if on_chain != row.amount:
                out.append(Difference("transfer_amount", subject, row.amount, on_chain))
        return out
