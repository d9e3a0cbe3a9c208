"""``crowdalpha demo --chain``: the demo tournament with NMR and staking on a local anvil.

:class:`ChainDemo` starts anvil at the demo's simulated time (its state kept in the demo's
folder, so a reopened demo finds its chain again), deploys both contracts, and follows the
demo's clock: after every tick the chain catches up with the simulated time and the
platform indexes, opens and settles (:meth:`ChainPlatform.after_tick`); after the bots
submit, each bot also stakes on chain on its models' submissions (its own wallet, funded
by the operator; authorized by the platform's signer exactly as numerapi's
``v3StakeAuth`` would be) and claims what its settled rounds pay. At the end,
:meth:`ChainPlatform.check` must find no difference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from crowdalpha.chain.anvil import Anvil
from crowdalpha.chain.contracts import NMRToken
from crowdalpha.chain.deploy import Deployment, deploy
from crowdalpha.chain.platform import ChainPlatform
from crowdalpha.chain.settings import ChainSettings
from crowdalpha.chain.transactions import Sender, connect
from crowdalpha.tournament import ManualClock, TickReport, Tournament

__all__ = ["ChainDemo"]

NMR = 10**18
DEPLOYMENT_FILE = "chain.json"
STATE_FILE = "anvil-state.json"
BOT_STAKE = 5 * NMR  # each bot model's on-chain stake per round
BOT_FUNDS = 200 * NMR


def demo_key(name: str) -> LocalAccount:
    """A deterministic key of the demo (never use such keys on a real chain)."""
    account: LocalAccount = Account.from_key(keccak(text=f"crowdalpha demo key {name}"))
    return account


@dataclass
class ChainDemo:
    """anvil, the deployment and the platform of one demo."""

    anvil: Anvil
    platform: ChainPlatform
    clock: ManualClock
    funded: set[str]

    @classmethod
    def start(cls, home: Path, tournament: Tournament, clock: ManualClock) -> ChainDemo:
        """Start (or restart, from its saved state) the demo's chain."""
        state = home / STATE_FILE
        saved = home / DEPLOYMENT_FILE
        start = int(clock.now().timestamp()) - 3600
        args = ["--state", str(state), "--state-interval", "5"]
        if not saved.exists():
            args += ["--timestamp", str(start)]
        anvil = Anvil(extra_args=tuple(args)).start()
        try:
            if saved.exists():  # a reloaded anvil would mine at the wall clock's time
                anvil.rpc("evm_setTime", hex(max(anvil.timestamp(), start)))
            w3 = connect(anvil.url, chain_id=anvil.chain_id)
            operator_key, signer_key = demo_key("operator"), demo_key("signer")
            anvil.set_balance(operator_key.address, 10**22)
            operator = Sender(w3, operator_key, poll_interval=0.005)
            if saved.exists():
                deployment = Deployment.from_json(json.loads(saved.read_text()))
            else:
                deployment = deploy(operator, authorization_signer=signer_key.address)
                token = NMRToken(w3, deployment.token)
                token.approve(operator, deployment.staking, 2**256 - 1)
                token.mint(operator, operator.address, 1_000_000 * NMR)
                saved.write_text(json.dumps(deployment.to_json(), indent=1))
            settings = ChainSettings(
                url=anvil.url,
                token_address=deployment.token,
                staking_address=deployment.staking,
                start_block=deployment.block,
                confirmations=0,
            )
            platform = ChainPlatform(
                tournament, settings, w3=w3, operator=operator, signer=signer_key
            )
        except BaseException:
            anvil.stop()
            raise
        return cls(anvil, platform, clock, set())

    def stop(self) -> None:
        self.anvil.stop()

    @property
    def url(self) -> str:
        return self.anvil.url

    def ticked(self, _report: TickReport | None = None) -> None:
        """After the tournament's tick: the chain catches up with the simulated time, then
        the platform indexes, opens rounds and settles."""
        self.anvil.catch_up(int(self.clock.now().timestamp()))
        self.platform.after_tick()

    def played(self, bots: list[tuple[str, dict[str, int]]]) -> None:
        """After the bots submitted: each bot (name, its models' ids) stakes on chain on
        its models' submissions in the open round, and claims its settled payouts."""
        t = self.platform.tournament
        current = t.current_round()
        for name, models in bots:
            wallet = demo_key(f"bot {name}")
            sender = Sender(self.platform.w3, wallet, poll_interval=0.005)
            if wallet.address not in self.funded:
                self.anvil.set_balance(wallet.address, 10**20)
                with self.platform._lock:
                    self.platform.token.transfer(self.platform.operator, wallet.address, BOT_FUNDS)
                self.platform.token.approve(sender, self.platform.staking.address, 2**256 - 1)
                self.funded.add(wallet.address)
            for model_id in models.values():
                self._claim_settled(sender, model_id)
                if current is None:
                    continue
                submissions = t.submissions(model_id=model_id, round_number=current.number)
                if not submissions or self.platform.token.balance_of(wallet.address) < BOT_STAKE:
                    continue
                signed = self.platform.authorize(submissions[-1].id, wallet.address, BOT_STAKE)
                self.platform.staking.stake(sender, signed, BOT_STAKE)

    def _claim_settled(self, sender: Sender, model_id: int) -> None:
        view = self.platform.view()
        for round_id, record in view.rounds.items():
            if record.resolution is None or (round_id, model_id) in view.claims:
                continue
            stake = view.stakes.get((round_id, model_id))
            if stake is None or stake.staker != sender.address:
                continue
            self.platform.staking.claim(sender, self.platform.claim(round_id, model_id))
