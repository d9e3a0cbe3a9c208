"""Connecting to a node and sending signed transactions from a local key.

:func:`connect` opens a web3 connection (checking the node answers and, if asked, its
chain id). :class:`Sender` signs and sends one account's transactions: it estimates gas
(a call the contract would refuse fails here, with the contract's reason, before
anything is sent), keeps the account's nonce locally, prices the transaction from the
latest base fee, waits for the receipt and turns a failed one into
:class:`~crowdalpha.errors.ChainTransactionError`. Every RPC it makes is one a
participant's own wallet would make too; nothing is sent unsigned to the node.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import requests
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    ProviderConnectionError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import Nonce, TxParams, TxReceipt, Wei

from crowdalpha.errors import (
    ChainConfigurationError,
    ChainTransactionError,
    ChainUnavailableError,
)

__all__ = ["Sender", "SignedTransaction", "StaleTransactionError", "connect", "node_errors"]

_REVERTED = re.compile(r"^execution reverted:?\s*")
#: What nodes (geth, anvil, reth, erigon) answer to a raw transaction they already hold.
_ALREADY_KNOWN = re.compile(r"already known|already imported|known transaction", re.IGNORECASE)
#: ... and to one whose nonce the account has already used.
_NONCE_USED = re.compile(r"nonce too low|nonce has already been used", re.IGNORECASE)


@dataclass(frozen=True)
class SignedTransaction:
    """A transaction signed but perhaps not sent: its exact bytes, hash and nonce. Stored
    before it is broadcast, it lets a retry send the same bytes again instead of signing a
    second transfer: a nonce can be mined once, so at most one of them ever counts."""

    raw: bytes
    tx_hash: str
    nonce: int


class StaleTransactionError(ChainTransactionError):
    """The signed transaction can never be mined: another transaction of the same account
    was mined with its nonce. Nothing it would have done has happened."""


@contextmanager
def node_errors(action: str) -> Iterator[None]:
    """Turn the node's and web3's failures during ``action`` into crowdalpha errors."""
    try:
        yield
    except (ContractLogicError, ContractCustomError) as exc:
        reason = _REVERTED.sub("", str(exc.message or exc)).strip("'\" ") or "no reason given"
        raise ChainTransactionError(
            f"{action} was refused by the contract: {reason}", details={"reason": reason}
        ) from None
    except (requests.exceptions.ConnectionError, ProviderConnectionError, OSError) as exc:
        raise ChainUnavailableError(f"{action}: the chain node cannot be reached ({exc})") from None
    except TimeExhausted as exc:
        raise ChainTransactionError(f"{action}: no receipt in time ({exc})") from None
    except Web3RPCError as exc:
        raise ChainTransactionError(f"{action}: the node refused it ({exc.message})") from None


def connect(url: str, *, chain_id: int | None = None, timeout: float = 30.0) -> Web3:
    """A web3 connection to ``url`` that is known to answer (and to be on ``chain_id``)."""
    if url.startswith(("http://", "https://")):
        provider = Web3.HTTPProvider(
            url, request_kwargs={"timeout": timeout}, cache_allowed_requests=True
        )
    else:
        raise ChainConfigurationError(
            f"the chain URL must start with http:// or https://, got {url.split('://')[0]}://…"
        )
    w3 = Web3(provider)
    with node_errors("connecting to the chain node"):
        actual = w3.eth.chain_id
    if chain_id is not None and actual != chain_id:
        raise ChainConfigurationError(
            f"the node is on chain {actual}, but chain {chain_id} is configured"
        )
    return w3


class Sender:
    """Signs and sends one account's transactions through ``w3``.

    Not safe to share between threads: it keeps the account's next nonce.
    """

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        *,
        max_priority_fee: int = 10**9,
        gas_margin: float = 1.25,
        timeout: float = 120.0,
        poll_interval: float = 0.05,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.max_priority_fee = max_priority_fee
        self.gas_margin = gas_margin
        self.timeout = timeout
        self.poll_interval = poll_interval
        self._nonce: int | None = None
        self._chain_id: int | None = None

    def __repr__(self) -> str:
        return f"Sender(address={self.address})"

    @property
    def address(self) -> ChecksumAddress:
        return self.account.address

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            with node_errors("reading the chain id"):
                self._chain_id = self.w3.eth.chain_id
        return self._chain_id

    def _params(self) -> TxParams:
        """Sender, chain and fees: twice the latest base fee plus the tip."""
        with node_errors("reading the base fee"):
            base = self.w3.eth.get_block("latest").get("baseFeePerGas", 0)
        return {
            "from": self.address,
            "chainId": self.chain_id,
            "maxPriorityFeePerGas": Wei(self.max_priority_fee),
            "maxFeePerGas": Wei(2 * int(base) + self.max_priority_fee),
        }

    def reset_nonce(self) -> None:
        """Forget the cached nonce (after the chain was reset, or another process sent
        from the same key); the next transaction reads it from the node."""
        self._nonce = None

    def _next_nonce(self) -> int:
        if self._nonce is None:
            with node_errors("reading the account's nonce"):
                self._nonce = self.w3.eth.get_transaction_count(self.address, "pending")
        return self._nonce

    def _build(
        self,
        call: ContractFunction | ContractConstructor,
        *,
        gas: int | None,
        nonce: int | None = None,
    ) -> tuple[TxParams, str]:
        name = getattr(call, "fn_name", None) or "deploying a contract"
        params = self._params()
        if gas is None:
            with node_errors(name):
                estimate = call.estimate_gas({"from": self.address})
            gas = int(estimate * self.gas_margin)
        params["gas"] = gas
        params["nonce"] = Nonce(self._next_nonce() if nonce is None else nonce)
        with node_errors(name):
            tx = call.build_transaction(params)
        return tx, name

    def send(
        self, call: ContractFunction | ContractConstructor, *, gas: int | None = None
    ) -> TxReceipt:
        """Sign, send and wait for ``call`` (a bound contract function or constructor);
        the receipt of a successful transaction, else ChainTransactionError."""
        tx, name = self._build(call, gas=gas)
        return self.send_transaction(tx, what=name)

    def sign(
        self,
        call: ContractFunction | ContractConstructor,
        *,
        gas: int | None = None,
        min_nonce: int = 0,
    ) -> SignedTransaction:
        """Sign ``call`` without sending it, reserving its nonce: the next one the node
        gives this account, or ``min_nonce`` if that is higher (nonces reserved by
        transactions stored but not broadcast yet, which the node cannot know)."""
        nonce = max(self.pending_nonce(), min_nonce)  # another process may have sent too
        tx, _ = self._build(call, gas=gas, nonce=nonce)
        signed = self.account.sign_transaction(dict(tx))  # type: ignore[arg-type]
        self._nonce = nonce + 1
        return SignedTransaction(
            raw=bytes(signed.raw_transaction),
            tx_hash=HexBytes(signed.hash).to_0x_hex(),
            nonce=nonce,
        )

    def broadcast(self, signed: SignedTransaction, *, what: str = "a transaction") -> TxReceipt:
        """Send ``signed`` (again, if it was sent before) and wait for its receipt.

        Idempotent: a transaction already mined returns its receipt, one the node already
        holds is waited for. One that can never be mined (its nonce was used by another
        transaction of the account) raises :class:`StaleTransactionError`."""
        receipt = self.receipt(signed.tx_hash)
        if receipt is None:
            receipt = self.submit(signed, what=what)
        if receipt is None:
            return self.wait(HexBytes(signed.tx_hash), what=what)
        return self._succeeded(receipt, signed.tx_hash, what)

    def submit(self, signed: SignedTransaction, *, what: str = "a transaction") -> TxReceipt | None:
        """Hand ``signed`` to the node without waiting for it; its receipt if it turns out
        to be mined already, else None (the node holds it now). Raises
        :class:`StaleTransactionError` if it can never be mined."""
        try:
            self.w3.eth.send_raw_transaction(signed.raw)
        except Web3RPCError as exc:
            message = str(exc.message or exc)
            if _NONCE_USED.search(message):
                receipt = self.receipt(signed.tx_hash)  # mined in the meantime?
                if receipt is not None:
                    return receipt
                raise StaleTransactionError(
                    f"{what}: its nonce {signed.nonce} was used by another transaction; "
                    f"this one ({signed.tx_hash}) can never be mined",
                    details={"tx_hash": signed.tx_hash, "nonce": signed.nonce},
                ) from None
            if not _ALREADY_KNOWN.search(message):
                with node_errors(what):
                    raise
        except (requests.exceptions.ConnectionError, ProviderConnectionError, OSError):
            with node_errors(what):
                raise
        return None

    def pending_nonce(self) -> int:
        """The next nonce the node would give this account (its pending transactions
        counted)."""
        self.reset_nonce()
        return self._next_nonce()

    def receipt(self, tx_hash: str) -> TxReceipt | None:
        """The receipt of ``tx_hash`` if it is mined, else None."""
        with node_errors("reading a transaction receipt"):
            try:
                return self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
            except TransactionNotFound:
                return None

    @staticmethod
    def _succeeded(receipt: TxReceipt, tx_hash: str, what: str) -> TxReceipt:
        if receipt["status"] != 1:
            raise ChainTransactionError(
                f"{what} failed on chain (transaction {tx_hash})", details={"tx_hash": tx_hash}
            )
        return receipt

    def send_transaction(self, tx: TxParams, *, what: str = "a transaction") -> TxReceipt:
        """Sign and send a fully built transaction (gas, fees and nonce included)."""
        signed = self.account.sign_transaction(dict(tx))  # type: ignore[arg-type]
        try:
            with node_errors(what):
                tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except Exception:
            self._nonce = None  # unknown whether the node took it: re-read next time
            raise
        self._nonce = int(tx["nonce"]) + 1
        return self.wait(tx_hash, what=what)

    def wait(self, tx_hash: HexBytes | bytes, *, what: str = "a transaction") -> TxReceipt:
        with node_errors(what):
            receipt = self.w3.eth.wait_for_transaction_receipt(
                HexBytes(tx_hash), timeout=self.timeout, poll_latency=self.poll_interval
            )
        return self._succeeded(receipt, HexBytes(tx_hash).to_0x_hex(), what)

    def transfer_ether(self, to: str, wei: int) -> TxReceipt:
        """Send ``wei`` of the chain's gas currency (for funding keys on test chains)."""
        tx = self._params()
        tx["to"] = Web3.to_checksum_address(to)
        tx["value"] = Wei(wei)
        tx["gas"] = 21_000
        tx["nonce"] = Nonce(self._next_nonce())
        return self.send_transaction(tx, what="an ether transfer")
