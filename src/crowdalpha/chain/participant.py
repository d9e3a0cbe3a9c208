"""A participant's side of on-chain staking: the server's staking v3 answers and a wallet.

:class:`StakingClient` asks a crowdalpha server (or any server speaking Numerai's staking
v3 GraphQL) exactly what numerapi 3.1.1 asks; :class:`ParticipantWallet` sends the
participant's own transactions with their key (``approve`` + ``stake``, ``claim``). The
CLI's ``crowdalpha chain stake|claim|stakes`` are built on them; neither needs the
platform's database or keys.
"""

from __future__ import annotations

from typing import Any

import httpx
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import TxReceipt

from crowdalpha.chain.artifacts import load_artifact
from crowdalpha.chain.contracts import NMRToken, Staking
from crowdalpha.chain.transactions import Sender
from crowdalpha.errors import CrowdAlphaError, InvalidInputError, ServiceUnavailableError

__all__ = ["ParticipantWallet", "StakingClient"]

_CONFIG = """query { v3StakeConfig { address authorizationSigner nmrAddress owner paused
  pendingOwner serviceWallet } }"""
_AUTH = """query($submissionId: ID!, $staker: String!, $maxAmount: String!) {
  v3StakeAuth(submissionId: $submissionId, staker: $staker, maxAmount: $maxAmount) {
    authorizationSigner authorizationDigest chainId deadline maxAmount modelId nmrAddress
    nonce roundId signature staker stakingAddress submissionId submissionHash tournamentId } }"""
_ROUND = """query($roundId: String!) { v3StakeRound(roundId: $roundId) { closeTime merkleRoot
  openTime payoutFactor remainingBurn remainingPayout resolveTime resolved roundId stakeCap
  stakeThreshold state totalPayout totalStaked tournamentId } }"""
_CLAIM = """query($roundId: String!, $modelId: ID!, $staker: String!) {
  v3StakeClaim(roundId: $roundId, modelId: $modelId, staker: $staker) { apiModelId
    burnAmountWei merkleRoot modelId payoutAmountWei proof roundId staker submissionId
    tournamentId } }"""


class _RemoteError(CrowdAlphaError):
    """The server refused (its message says why)."""

    code = "server_refused"


class StakingClient:
    """The staking v3 queries of a server at ``url`` (its ``/graphql``)."""

    def __init__(self, url: str, public_id: str, secret_key: str, *, timeout: float = 30) -> None:
        self.url = url.rstrip("/") + "/graphql"
        self._headers = {"Authorization": f"Token {public_id}${secret_key}"}
        self.timeout = timeout

    def _query(self, query: str, name: str, **variables: str) -> dict[str, Any]:
        try:
            response = httpx.post(
                self.url,
                json={"query": query, "variables": variables},
                headers=self._headers,
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise ServiceUnavailableError(f"cannot reach {self.url}: {exc}") from None
        body = response.json()
        if body.get("errors"):
            raise _RemoteError(str(body["errors"][0].get("message", "refused")))
        data: dict[str, Any] = body["data"][name]
        return data

    def config(self) -> dict[str, Any]:
        return self._query(_CONFIG, "v3StakeConfig")

    def authorize(self, submission_id: str, staker: str, max_amount_nmr: str) -> dict[str, Any]:
        return self._query(
            _AUTH,
            "v3StakeAuth",
            submissionId=submission_id,
            staker=staker,
            maxAmount=max_amount_nmr,
        )

    def round(self, round_id: str) -> dict[str, Any]:
        return self._query(_ROUND, "v3StakeRound", roundId=round_id)

    def claim(self, round_id: str, model_id: str, staker: str) -> dict[str, Any]:
        return self._query(
            _CLAIM, "v3StakeClaim", roundId=round_id, modelId=model_id, staker=staker
        )


class ParticipantWallet:
    """A participant's key on the chain, with the published ABIs."""

    def __init__(self, w3: Web3, account: LocalAccount, config: dict[str, Any]) -> None:
        self.sender = Sender(w3, account)
        self.token = NMRToken(w3, config["nmrAddress"])
        self.staking = Staking(w3, config["address"])
        self._staking_abi = load_artifact("staking").abi

    @property
    def address(self) -> str:
        return str(self.sender.address)

    def balance(self) -> int:
        return self.token.balance_of(self.address)

    def stake(self, auth: dict[str, Any], amount: int) -> TxReceipt:
        """``approve`` (when the allowance is short) and ``stake`` under ``auth``."""
        if amount <= 0 or amount > int(auth["maxAmount"]):
            raise InvalidInputError(
                f"the amount must be more than 0 and at most the authorized {auth['maxAmount']}"
            )
        if auth["staker"] != self.address:
            raise InvalidInputError(f"the authorization is for {auth['staker']}, not this key")
        if self.token.allowance(self.address, self.staking.address) < amount:
            self.token.approve(self.sender, self.staking.address, amount)
        call = self.staking.contract.functions.stake(
            int(auth["roundId"]),
            int(auth["modelId"]),
            int(auth["submissionId"]),
            bytes.fromhex(str(auth["submissionHash"]).removeprefix("0x")),
            amount,
            int(auth["maxAmount"]),
            int(auth["nonce"]),
            int(auth["deadline"]),
            bytes.fromhex(str(auth["signature"]).removeprefix("0x")),
        )
        return self.sender.send(call)

    def claim(self, claim: dict[str, Any]) -> TxReceipt:
        """``claim`` with the server's ``v3StakeClaim`` answer (anyone may send it)."""
        call = self.staking.contract.functions.claim(
            int(claim["roundId"]),
            Web3.to_checksum_address(claim["staker"]),
            int(claim["modelId"]),
            int(claim["submissionId"]),
            int(claim["payoutAmountWei"]),
            int(claim["burnAmountWei"]),
            [bytes.fromhex(p.removeprefix("0x")) for p in claim["proof"]],
        )
        return self.sender.send(call)
