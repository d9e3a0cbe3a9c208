"""A whole staking round on a real node (anvil), at the library level.

The platform deploys, opens a round, authorizes stakes and settles with crowdalpha.chain;
the participants hold nothing but a private key, web3 and the published ABIs, and read
the platform's answers as numerapi would return them (the v3 dicts: strings only). One
stakes after ``approve``, one with an EIP-2612 permit signed by eth_account, one lets a
relayer claim for them; afterwards the books, the supply and every balance reconcile.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from tests.chain.support import DAY, NMR, ROUND, AnvilChain, file_hash, key
from web3 import Web3

from crowdalpha.chain import (
    ExpectedRound,
    Indexer,
    MemoryEventStore,
    OffChainView,
    StakeResult,
    build_settlement,
    reconcile,
)
from crowdalpha.chain.artifacts import load_artifact
from crowdalpha.chain.v3 import v3_stake_auth, v3_stake_claim, v3_stake_config, v3_stake_round
from crowdalpha.chain.view import ChainView


class Participant:
    """A participant's own code: a key, web3, the ABIs; nothing from crowdalpha."""

    def __init__(self, url: str, account: LocalAccount, config: dict[str, Any]) -> None:
        self.w3 = Web3(Web3.HTTPProvider(url))
        self.account = account
        self.nmr = self.w3.eth.contract(address=config["nmrAddress"], abi=load_artifact("nmr").abi)
        self.staking = self.w3.eth.contract(
            address=config["address"], abi=load_artifact("staking").abi
        )

    def send(self, call: Any) -> Any:
        tx = call.build_transaction(
            {
                "from": self.account.address,
                "nonce": self.w3.eth.get_transaction_count(self.account.address),
            }
        )
        signed = self.account.sign_transaction(tx)
        receipt = self.w3.eth.wait_for_transaction_receipt(
            self.w3.eth.send_raw_transaction(signed.raw_transaction)
        )
        assert receipt["status"] == 1
        return receipt

    def stake_args(self, auth: dict[str, str], amount: int) -> list[Any]:
        return [
            int(auth["roundId"]),
            int(auth["modelId"]),
            int(auth["submissionId"]),
            auth["submissionHash"],
            amount,
            int(auth["maxAmount"]),
            int(auth["nonce"]),
            int(auth["deadline"]),
            auth["signature"],
        ]

    def approve_and_stake(self, auth: dict[str, str], amount: int) -> Any:
        self.send(self.nmr.functions.approve(auth["stakingAddress"], amount))
        return self.send(self.staking.functions.stake(*self.stake_args(auth, amount)))

    def permit_and_stake(self, auth: dict[str, str], amount: int) -> Any:
        _fields, name, version, chain_id, verifying, _salt, _ext = (
            self.nmr.functions.eip712Domain().call()
        )
        deadline = int(auth["deadline"])
        message = {
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "Permit": [
                    {"name": "owner", "type": "address"},
                    {"name": "spender", "type": "address"},
                    {"name": "value", "type": "uint256"},
                    {"name": "nonce", "type": "uint256"},
                    {"name": "deadline", "type": "uint256"},
                ],
            },
            "primaryType": "Permit",
            "domain": {
                "name": name,
                "version": version,
                "chainId": chain_id,
                "verifyingContract": verifying,
            },
            "message": {
                "owner": self.account.address,
                "spender": auth["stakingAddress"],
                "value": amount,
                "nonce": self.nmr.functions.nonces(self.account.address).call(),
                "deadline": deadline,
            },
        }
        signed = Account.sign_typed_data(self.account.key, full_message=message)
        return self.send(
            self.staking.functions.stake_with_permit(
                *self.stake_args(auth, amount),
                deadline,
                signed.v,
                signed.r.to_bytes(32, "big"),
                signed.s.to_bytes(32, "big"),
            )
        )

    def claim(self, claim: dict[str, Any]) -> Any:
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
        return int(self.nmr.functions.balanceOf(self.account.address).call())


def test_stake_resolve_claim_on_anvil_reconciles(chain: AnvilChain) -> None:
    supply_before = chain.token.total_supply()
    service_before = chain.token.balance_of(chain.operator.address)
    config = v3_stake_config(chain.staking.config())
    assert config["authorizationSigner"] == chain.signer.address and config["paused"] is False

    schedule = chain.open_round(ROUND)
    keys = [key(f"participant {i}") for i in range(3)]
    people = []
    for account in keys:
        chain.anvil.set_balance(account.address, 10**18)
        chain.token.transfer(chain.operator, account.address, 100 * NMR)
        people.append(Participant(chain.anvil.url, account, config))

    # The platform authorizes; each participant stakes from the v3 answer alone.
    stakes = {1: 40 * NMR, 2: 25 * NMR, 3: 10 * NMR}
    auths = {}
    for model_id, person in zip(stakes, people, strict=True):
        signed = chain.signer.authorize(
            staker=person.account.address,
            tournament_id=8,
            round_id=ROUND,
            model_id=model_id,
            submission_id=500 + model_id,
            submission_hash=file_hash(str(model_id)),
            max_amount=50 * NMR,
            deadline=chain.anvil.timestamp() + 600,
        )
        auths[model_id] = v3_stake_auth(signed)
    people[0].approve_and_stake(auths[1], stakes[1])
    people[1].permit_and_stake(auths[2], stakes[2])
    people[2].approve_and_stake(auths[3], stakes[3])
    opened = v3_stake_round(chain.staking.round(ROUND), None)
    assert (opened["state"], opened["totalStaked"]) == ("open", str(75 * NMR))

    # Resolution: the core's policy said +6, −5 (burned), −10 (burned: all of it).
    chain.advance(DAY)
    changes = {1: 6 * NMR, 2: -5 * NMR, 3: -10 * NMR}
    settlement = build_settlement(
        ROUND,
        [
            StakeResult.from_change(
                staker=people[m - 1].account.address,
                model_id=m,
                submission_id=500 + m,
                stake=stakes[m],
                change=changes[m],
            )
            for m in stakes
        ],
    )
    receipt = chain.staking.post_root(chain.operator, settlement)
    assert receipt["gasUsed"] < 150_000
    indexer = Indexer(
        chain.w3,
        token=chain.deployment.token,
        staking=chain.deployment.staking,
        store=MemoryEventStore(),
        start_block=chain.deployment.block,
        confirmations=0,
    )
    indexer.poll()
    resolution = ChainView.from_events(indexer.events()).rounds[ROUND].resolution
    resolved = v3_stake_round(chain.staking.round(ROUND), resolution)
    assert resolved["state"] == "resolved" and resolved["resolved"] is True
    assert resolved["totalPayout"] == str(75 * NMR + 6 * NMR - 15 * NMR)
    assert resolved["remainingBurn"] == str(15 * NMR)

    # Claims: two by their owners, one relayed by someone else.
    for model_id in (1, 2):
        answer = v3_stake_claim(
            settlement.claim(model_id, people[model_id - 1].account.address),
            tournament_id=schedule.tournament_id,
        )
        people[model_id - 1].claim(answer)
    relayer = Participant(chain.anvil.url, key("relayer"), config)
    chain.anvil.set_balance(relayer.account.address, 10**18)
    relayer.claim(v3_stake_claim(settlement.claim(3), tournament_id=8))

    assert [p.balance() for p in people] == [106 * NMR, 95 * NMR, 90 * NMR]
    assert chain.token.total_supply() == supply_before - 15 * NMR
    assert chain.token.balance_of(chain.operator.address) == service_before - 300 * NMR - 6 * NMR
    assert chain.token.balance_of(chain.staking.address) == 0
    final = chain.staking.round(ROUND)
    assert (final.remaining_payout, final.remaining_burn) == (0, 0)

    # The platform's books against the chain: no difference.
    indexer.poll()
    view = ChainView.from_events(indexer.events())
    expected = OffChainView(
        rounds={
            ROUND: ExpectedRound(
                round_id=ROUND,
                stakes={m: (people[m - 1].account.address, stakes[m]) for m in stakes},
                settlement=settlement,
            )
        },
        total_supply=supply_before - 15 * NMR,
        balances={p.account.address: p.balance() for p in people},
    )
    assert reconcile(expected, view, token=chain.token, staking=chain.staking) == []
    assert view.burned == 15 * NMR  # the only burn since deployment
