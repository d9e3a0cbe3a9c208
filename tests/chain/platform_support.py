"""A tournament wired to the session's anvil: the pieces test_platform*.py share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine
from tests.chain.support import NMR, AnvilChain, key
from web3 import Web3

from crowdalpha.chain.artifacts import load_artifact
from crowdalpha.chain.platform import ChainPlatform, ChainTickReport, link_message
from crowdalpha.chain.settings import ChainSettings
from crowdalpha.ledger import TREASURY, nmr
from crowdalpha.storage import LocalFileStore
from crowdalpha.tournament import (
    ManualClock,
    Schedule,
    SyntheticRoundData,
    Tournament,
    TournamentConfig,
)

ROWS = 300


def skilled_csv(t: Tournament, data: SyntheticRoundData, number: int, skill: float) -> bytes:
    """A prediction file for round ``number``: the hidden signal times ``skill`` plus noise."""
    ids = t.live_ids(number)
    signal = data.skill_signal(number).reindex(ids).to_numpy()
    rng = np.random.default_rng(abs(int(skill * 100)) * 1000 + number)
    raw = skill * signal + rng.normal(size=len(ids))
    ranks = (pd.Series(raw).rank().to_numpy() - 0.5) / len(raw)
    return pd.DataFrame({"id": ids, "prediction": ranks}).to_csv(index=False).encode()


@dataclass
class Wallet:
    """A participant's own wallet: a key, web3 and the published ABIs only."""

    account: LocalAccount
    w3: Web3
    nmr: Any
    staking: Any

    @classmethod
    def of(cls, chain: AnvilChain, name: str) -> Wallet:
        account = key(name)
        chain.anvil.set_balance(account.address, 10**18)
        w3 = Web3(Web3.HTTPProvider(chain.anvil.url))
        return cls(
            account,
            w3,
            w3.eth.contract(address=chain.token.address, abi=load_artifact("nmr").abi),
            w3.eth.contract(address=chain.staking.address, abi=load_artifact("staking").abi),
        )

    @property
    def address(self) -> str:
        return str(self.account.address)

    def send(self, call: Any) -> Any:
        tx = call.build_transaction(
            {"from": self.address, "nonce": self.w3.eth.get_transaction_count(self.address)}
        )
        signed = self.account.sign_transaction(tx)
        receipt = self.w3.eth.wait_for_transaction_receipt(
            self.w3.eth.send_raw_transaction(signed.raw_transaction)
        )
        assert receipt["status"] == 1
        return receipt

    def sign_link(self, username: str) -> str:
        message = encode_defunct(text=link_message(username, self.address))
        return "0x" + bytes(self.account.sign_message(message).signature).hex()

    def stake(self, auth: dict[str, str], amount: int) -> Any:
        """``approve`` then ``stake`` with numerapi's ``v3_stake_auth`` answer."""
        self.send(self.nmr.functions.approve(auth["stakingAddress"], amount))
        return self.send(
            self.staking.functions.stake(
                int(auth["roundId"]),
                int(auth["modelId"]),
                int(auth["submissionId"]),
                auth["submissionHash"],
                amount,
                int(auth["maxAmount"]),
                int(auth["nonce"]),
                int(auth["deadline"]),
                auth["signature"],
            )
        )

    def claim(self, claim: dict[str, Any]) -> Any:
        """``claim`` with numerapi's ``v3_stake_claim`` answer."""
        return self.send(
            self.staking.functions.claim(
                int(claim["roundId"]),
                claim["staker"],
                int(claim["modelId"]),
                int(claim["submissionId"]),
                int(claim["payoutAmountWei"]),
                int(claim["burnAmountWei"]),
                claim["proof"],
            )
        )

    def balance(self) -> int:
        return int(self.nmr.functions.balanceOf(self.address).call())


class ChainTournament:
    """A tournament whose clock starts at the chain's time, the chain following it, and
    the chain integration over both (confirmations 0: anvil mines each transaction)."""

    def __init__(self, chain: AnvilChain, engine: Engine, home: Path) -> None:
        self.chain = chain
        start = datetime.fromtimestamp(chain.anvil.timestamp() + 120, tz=UTC).replace(microsecond=0)
        schedule = Schedule(anchor=start)
        self.clock = ManualClock(start + timedelta(minutes=1))
        self.data = SyntheticRoundData(
            seed=5, rows=ROWS, resolution_delay=schedule.resolution_delay
        )
        self.tournament = Tournament(
            engine,
            LocalFileStore(home / "files"),
            self.data,
            config=TournamentConfig(schedule=schedule),
            clock=self.clock,
        )
        self.tournament.mint(nmr(1_000_000), to=TREASURY)
        self.settings = ChainSettings(
            url=chain.anvil.url,
            token_address=chain.token.address,
            staking_address=chain.staking.address,
            start_block=chain.deployment.block,
            confirmations=0,
        )
        chain.operator.reset_nonce()
        self.platform = ChainPlatform(
            self.tournament,
            self.settings,
            w3=chain.w3,
            operator=chain.operator,
            signer=key("signer"),
        )

    def tick(self) -> ChainTickReport:
        """The chain catches up with the clock, then the tournament and the chain tick."""
        self.chain.anvil.catch_up(int(self.clock.now().timestamp()))
        report = self.tournament.tick()
        return self.platform.after_tick(report)

    def advance(self, delta: timedelta) -> ChainTickReport:
        self.clock.advance(delta)
        return self.tick()

    def fund(self, wallet: Wallet, amount: int) -> None:
        self.chain.token.transfer(self.chain.operator, wallet.address, amount)


__all__ = ["NMR", "ChainTournament", "Wallet", "skilled_csv"]
