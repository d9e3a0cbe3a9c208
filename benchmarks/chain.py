"""Gas and time of crowdalpha's on-chain staking, measured on anvil (receipts' gasUsed).

1. **Gas of every operation** of the token and the staking contract.
2. **Settling a round of 10,000 stakers**: crowdalpha's one ``post_root`` (root + burn +
   reward, a constant number of operator transactions) and what stakers pay to claim, side
   by side with per-stake resolution as Numerai's NumeraiTournamentV3 does it
   (``batchResolveStake``: a transfer and a burn per stake, in operator transactions;
   benchmarks/contracts/per_stake_resolution.vy), on the same 10,000 stakers.
3. **A whole 1,000-staker round** through the library as a deployment would run it
   (every transaction waits for its receipt): fund, stake with permits, resolve, claim,
   index and reconcile, with the wall time of each phase.

    .venv/bin/python benchmarks/chain.py                 # 10,000 / 1,000 stakers, minutes
    .venv/bin/python benchmarks/chain.py --quick         # 300 / 50 stakers, a smoke run

Bulk staking in part 2 turns anvil's automine off, sends the signed transactions without
waiting, and mines them in full blocks; every stake is then checked through the contract's
round total.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from crowdalpha.chain import (
    Anvil,
    AuthorizationSigner,
    ExpectedRound,
    Indexer,
    MemoryEventStore,
    NMRToken,
    OffChainView,
    RoundSchedule,
    Sender,
    StakeResult,
    Staking,
    build_settlement,
    connect,
    reconcile,
)
from crowdalpha.chain.artifacts import load_artifact
from crowdalpha.chain.signing import sign_permit
from crowdalpha.chain.view import ChainView

NMR = 10**18
DAY = 86_400
ROUND = 8_000_001
HERE = Path(__file__).resolve().parent


def key(name: str) -> LocalAccount:
    account: LocalAccount = Account.from_key(keccak(text=f"crowdalpha bench {name}"))
    return account


def table(rows: Iterable[tuple[str, ...]], header: tuple[str, ...]) -> str:
    rows = [header, *rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def gas(receipt: Any) -> int:
    return int(receipt["gasUsed"])


class Platform:
    """Deployed contracts plus the operator and the authorization signer on one anvil."""

    def __init__(self, anvil: Anvil) -> None:
        self.anvil = anvil
        self.w3 = connect(anvil.url, chain_id=31337)
        self.operator = Sender(self.w3, key("operator"), poll_interval=0.002)
        anvil.set_balance(self.operator.address, 10**24)
        self.signer_key = key("signer")
        nmr, staking = load_artifact("nmr"), load_artifact("staking")
        self.gas: dict[str, int] = {}
        receipt = self.operator.send(
            self.w3.eth.contract(abi=nmr.abi, bytecode=nmr.bytecode).constructor(
                "Numeraire", "NMR", 11_000_000 * NMR
            )
        )
        self.gas["deploy NMR token"] = gas(receipt)
        self.token = NMRToken(self.w3, receipt["contractAddress"])
        receipt = self.operator.send(
            self.w3.eth.contract(abi=staking.abi, bytecode=staking.bytecode).constructor(
                self.token.address,
                self.signer_key.address,
                self.operator.address,
                self.operator.address,
                30 * DAY,
                7 * DAY,
            )
        )
        self.gas["deploy staking"] = gas(receipt)
        self.staking = Staking(self.w3, receipt["contractAddress"])
        self.signer = AuthorizationSigner(
            self.signer_key,
            chain_id=31337,
            staking_address=self.staking.address,
            nmr_address=self.token.address,
        )
        self.token.mint(self.operator, self.operator.address, 5_000_000 * NMR)
        self.token.approve(self.operator, self.staking.address, 2**256 - 1)

    def open_round(self, round_id: int) -> Any:
        now = self.anvil.timestamp()
        schedule = RoundSchedule(round_id, 8, now, now + DAY, now + 2 * DAY, 0, 0)
        return self.staking.open_round(self.operator, schedule)

    def authorize(self, staker: str, round_id: int, model_id: int, amount: int) -> Any:
        return self.signer.authorize(
            staker=staker,
            tournament_id=8,
            round_id=round_id,
            model_id=model_id,
            submission_id=model_id,
            submission_hash=keccak(text=f"file {model_id}"),
            max_amount=amount,
            deadline=self.anvil.timestamp() + 30 * DAY,
        )

    def permit(self, account: LocalAccount, amount: int, nonce: int = 0) -> Any:
        return sign_permit(
            account,
            token_name="Numeraire",
            token_address=self.token.address,
            chain_id=31337,
            spender=self.staking.address,
            amount=amount,
            nonce=nonce,
            deadline=self.anvil.timestamp() + 30 * DAY,
        )


# -- 1. gas of every operation -----------------------------------------------------------


def gas_table() -> list[tuple[str, str]]:
    with Anvil() as anvil:
        p = Platform(anvil)
        g = dict(p.gas)
        op, token, staking = p.operator, p.token, p.staking
        people = [Sender(p.w3, key(f"person {i}"), poll_interval=0.002) for i in range(6)]
        for person in people:
            anvil.set_balance(person.address, 10**20)
        g["mint (to a new holder)"] = gas(token.mint(op, people[0].address, 100 * NMR))
        g["mint (to a holder)"] = gas(token.mint(op, people[0].address, 100 * NMR))
        g["transfer (to a new holder)"] = gas(token.transfer(people[0], people[1].address, NMR))
        g["transfer (to a holder)"] = gas(token.transfer(people[0], people[1].address, NMR))
        g["approve"] = gas(token.approve(people[0], staking.address, 10 * NMR))
        permit = p.permit(people[1].account, 5 * NMR)
        g["permit (submitted by anyone)"] = gas(
            op.send(
                token.contract.functions.permit(
                    people[1].address,
                    staking.address,
                    5 * NMR,
                    permit.deadline,
                    permit.v,
                    permit.r,
                    permit.s,
                )
            )
        )
        g["burn"] = gas(token.burn(people[1], NMR))
        g["open_round"] = gas(p.open_round(ROUND))
        for person in people[2:]:
            token.transfer(op, person.address, 100 * NMR)
            token.approve(person, staking.address, 2**256 - 1)
        g["stake (first of the round)"] = gas(
            staking.stake(people[2], p.authorize(people[2].address, ROUND, 1, 50 * NMR), 10 * NMR)
        )
        g["stake (another model)"] = gas(
            staking.stake(people[3], p.authorize(people[3].address, ROUND, 2, 50 * NMR), 10 * NMR)
        )
        g["stake (raising a model's stake)"] = gas(
            staking.stake(people[3], p.authorize(people[3].address, ROUND, 2, 50 * NMR), 5 * NMR)
        )
        token.transfer(op, people[5].address, 0 + NMR)
        fresh = key("permit staker")
        anvil.set_balance(fresh.address, 10**20)
        token.transfer(op, fresh.address, 20 * NMR)
        fresh_sender = Sender(p.w3, fresh, poll_interval=0.002)
        g["stake_with_permit (no approve needed)"] = gas(
            staking.stake_with_permit(
                fresh_sender,
                p.authorize(fresh.address, ROUND, 3, 20 * NMR),
                p.permit(fresh, 20 * NMR),
            )
        )
        anvil.increase_time(DAY)
        anvil.mine()
        settlement = build_settlement(
            ROUND,
            [
                StakeResult.from_change(
                    staker=people[2].address,
                    model_id=1,
                    submission_id=1,
                    stake=10 * NMR,
                    change=2 * NMR,
                ),
                StakeResult.from_change(
                    staker=people[3].address,
                    model_id=2,
                    submission_id=2,
                    stake=15 * NMR,
                    change=-3 * NMR,
                ),
                StakeResult.from_change(
                    staker=fresh.address,
                    model_id=3,
                    submission_id=3,
                    stake=20 * NMR,
                    change=1 * NMR,
                ),
            ],
        )
        g["post_root (root + burn + reward pulled)"] = gas(staking.post_root(op, settlement))
        g["claim (the round's first: opens a bitmap word)"] = gas(
            staking.claim(people[2], settlement.claim(1))
        )
        g["claim (relayed by the operator; a burn leaf)"] = gas(
            staking.claim(op, settlement.claim(2))
        )
        g["claim (staker holding no NMR before)"] = gas(
            staking.claim(fresh_sender, settlement.claim(3))
        )
        anvil.increase_time(30 * DAY + 1)
        anvil.mine()
        # Nothing left to sweep here; a fresh resolved round with an unclaimed payout:
        p.open_round(ROUND + 1)
        staking.stake(people[4], p.authorize(people[4].address, ROUND + 1, 4, 9 * NMR), 9 * NMR)
        anvil.increase_time(DAY)
        anvil.mine()
        unclaimed = build_settlement(
            ROUND + 1,
            [
                StakeResult.from_change(
                    staker=people[4].address, model_id=4, submission_id=4, stake=9 * NMR, change=0
                )
            ],
        )
        staking.post_root(op, unclaimed)
        anvil.increase_time(30 * DAY + 1)
        anvil.mine()
        g["sweep (unclaimed back to the service wallet)"] = gas(staking.sweep(op, ROUND + 1))
        p.open_round(ROUND + 2)
        staking.stake(people[4], p.authorize(people[4].address, ROUND + 2, 5, 9 * NMR), 9 * NMR)
        g["cancel_round"] = gas(staking.cancel_round(op, ROUND + 2))
        g["refund (a cancelled round's stake)"] = gas(staking.refund(op, ROUND + 2, 5))
        g["pause"] = gas(staking.pause(op))
        g["unpause"] = gas(staking.unpause(op))
        g["set_authorization_signer"] = gas(
            staking.set_authorization_signer(op, key("new").address)
        )
        g["transfer_ownership (step 1 of 2)"] = gas(
            staking.transfer_ownership(op, people[0].address)
        )
        g["accept_ownership (step 2 of 2)"] = gas(staking.accept_ownership(people[0]))
    return [(name, f"{value:,}") for name, value in g.items()]


# -- 2. settling 10,000 stakers ----------------------------------------------------------


class Bulk:
    """Signed transactions sent without waiting, mined in full blocks (automine off)."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform
        self.w3 = platform.w3
        # Full blocks raise the base fee 12.5 % a block: bid far above it (test ether).
        self.fees = {"maxFeePerGas": 10**12, "maxPriorityFeePerGas": 10**9}
        self.count = 0

    def send(self, account: LocalAccount, call: Any, nonce: int, gas_limit: int) -> None:
        if self.count % 200 == 199:  # keep anvil's pool small: mine what is waiting
            self.mine_all()
        tx = call.build_transaction(
            {
                "from": account.address,
                "chainId": 31337,
                "nonce": nonce,
                "gas": gas_limit,
                **self.fees,
            }
        )
        self.w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        self.count += 1

    def mine_all(self) -> None:
        while int(self.p.anvil.rpc("txpool_status")["pending"], 16) > 0:
            self.p.anvil.mine()


def settle_big(n: int, claims_sample: int) -> dict[str, Any]:
    out: dict[str, Any] = {"stakers": n}
    with Anvil() as anvil:
        p = Platform(anvil)
        p.open_round(ROUND)
        stakers = [key(f"staker {i}") for i in range(n)]
        amounts = [(1 + i % 50) * NMR for i in range(n)]
        # Half keep 1 NMR after staking (a claim then updates a non-zero balance), half
        # stake everything (a claim writes a zero balance: the costlier case).
        held = [a + (NMR if i % 2 else 0) for i, a in enumerate(amounts)]
        started = time.perf_counter()
        for s in stakers:
            anvil.set_balance(s.address, 10**20)
        anvil.rpc("evm_setAutomine", False)
        bulk = Bulk(p)
        nonce = p.w3.eth.get_transaction_count(p.operator.address)
        for i, s in enumerate(stakers):
            bulk.send(
                p.operator.account,
                p.token.contract.functions.transfer(s.address, held[i]),
                nonce + i,
                80_000,
            )
        bulk.mine_all()
        for i, s in enumerate(stakers):
            signed = p.authorize(s.address, ROUND, i + 1, amounts[i])
            permit = p.permit(s, amounts[i])
            call = p.staking.contract.functions.stake_with_permit(
                *signed.stake_args(amounts[i]), permit.deadline, permit.v, permit.r, permit.s
            )
            bulk.send(s, call, 0, 300_000)
        bulk.mine_all()
        anvil.rpc("evm_setAutomine", True)
        p.operator.reset_nonce()
        out["staking wall s"] = time.perf_counter() - started
        total = p.staking.round(ROUND).total_staked
        if total != sum(amounts):
            raise SystemExit(f"bulk staking lost stakes: {total} != {sum(amounts)}")
        anvil.increase_time(DAY)
        anvil.mine()

        started = time.perf_counter()
        outcomes = [(i * 7919) % 21 - 10 for i in range(n)]  # −10 … +10 % of the stake
        settlement = build_settlement(
            ROUND,
            [
                StakeResult.from_change(
                    staker=stakers[i].address,
                    model_id=i + 1,
                    submission_id=i + 1,
                    stake=amounts[i],
                    change=amounts[i] * outcomes[i] // 100,
                )
                for i in range(n)
            ],
        )
        out["tree build s"] = time.perf_counter() - started
        out["proof length"] = len(settlement.claim(1).proof)
        receipt = p.staking.post_root(p.operator, settlement)
        out["post_root gas"] = gas(receipt)
        out["operator txs"] = 2  # open_round + post_root (+ one sweep after the deadline)
        # Claims: a sample spread over the bitmap words, by their own stakers.
        step = max(1, n // claims_sample)
        sample = list(range(0, n, step))[:claims_sample]
        costs: dict[str, list[int]] = {"holder": [], "empty": [], "new word": []}
        for i in sample:
            sender = Sender(p.w3, stakers[i], poll_interval=0.002)
            used = gas(p.staking.claim(sender, settlement.claim(i + 1)))
            model_id = i + 1
            first_in_word = all((j + 1) >> 8 != model_id >> 8 for j in sample if j < i)
            costs["new word" if first_in_word else ("holder" if i % 2 else "empty")].append(used)
        out["claims"] = {k: v for k, v in costs.items() if v}

        # The same 10,000 stakes resolved per stake by the operator (NumeraiTournamentV3).
        from vyper import compile_code

        compiled = compile_code(
            (HERE / "contracts" / "per_stake_resolution.vy").read_text(),
            output_formats=["abi", "bytecode"],
        )
        receipt = p.operator.send(
            p.w3.eth.contract(abi=compiled["abi"], bytecode=compiled["bytecode"]).constructor(
                p.token.address
            )
        )
        per_stake = p.w3.eth.contract(address=receipt["contractAddress"], abi=compiled["abi"])
        p.token.transfer(p.operator, per_stake.address, sum(amounts))
        addresses = [s.address for s in stakers]
        for start in range(0, n, 500):
            p.operator.send(
                per_stake.functions.seed(addresses[start : start + 500], 10 * NMR), gas=15_000_000
            )
        batch, batch_gas = 250, []
        burns = [10 * NMR * max(-o, 0) // 100 for o in outcomes]
        started = time.perf_counter()
        for start in range(0, n, batch):
            r = p.operator.send(
                per_stake.functions.batch_resolve(
                    addresses[start : start + batch], burns[start : start + batch]
                ),
                gas=29_000_000,
            )
            batch_gas.append(gas(r))
        out["per-stake txs"] = len(batch_gas)
        out["per-stake gas"] = sum(batch_gas)
        out["per-stake max tx gas"] = max(batch_gas)
        out["per-stake wall s"] = time.perf_counter() - started
    return out


# -- 3. a whole 1,000-staker round -------------------------------------------------------


def whole_round(n: int) -> list[tuple[str, str]]:
    phases: list[tuple[str, float, int]] = []

    def phase(name: str, txs: int, action: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = action()
        phases.append((name, time.perf_counter() - started, txs))
        return result

    with Anvil() as anvil:
        p = phase("deploy both contracts, fund the service wallet", 4, lambda: Platform(anvil))
        p.open_round(ROUND)
        stakers = [Sender(p.w3, key(f"round staker {i}"), poll_interval=0.002) for i in range(n)]
        amounts = [(5 + i % 20) * NMR for i in range(n)]

        def fund() -> None:
            for s, amount in zip(stakers, amounts, strict=True):
                anvil.set_balance(s.address, 10**18)
                p.token.transfer(p.operator, s.address, amount)

        phase("fund stakers (NMR transfer each)", n, fund)

        def stake() -> None:
            for i, s in enumerate(stakers):
                signed = p.authorize(s.address, ROUND, i + 1, amounts[i])
                p.staking.stake_with_permit(
                    s,
                    signed,
                    p.token.sign_permit(
                        s, p.staking.address, amounts[i], signed.authorization.deadline
                    ),
                )

        phase("authorize + stake_with_permit each", n, stake)
        anvil.increase_time(DAY)
        anvil.mine()
        results = [
            StakeResult.from_change(
                staker=s.address,
                model_id=i + 1,
                submission_id=i + 1,
                stake=amounts[i],
                change=amounts[i] * ((i * 31) % 11 - 5) // 100,
            )
            for i, s in enumerate(stakers)
        ]
        settlement = phase("build the tree", 0, lambda: build_settlement(ROUND, results))
        phase("post_root", 1, lambda: p.staking.post_root(p.operator, settlement))

        def claim() -> None:
            for i, s in enumerate(stakers):
                p.staking.claim(s, settlement.claim(i + 1))

        phase("claim each", n, claim)

        def check() -> list[Any]:
            indexer = Indexer(
                p.w3,
                token=p.token.address,
                staking=p.staking.address,
                store=MemoryEventStore(),
                confirmations=0,
            )
            indexer.poll()
            view = ChainView.from_events(indexer.events())
            expected = OffChainView(
                rounds={
                    ROUND: ExpectedRound(
                        ROUND,
                        {i + 1: (s.address, amounts[i]) for i, s in enumerate(stakers)},
                        settlement,
                    )
                },
                total_supply=5_000_000 * NMR - settlement.total_burn,
            )
            return reconcile(expected, view, token=p.token, staking=p.staking)

        differences = phase("index all events + reconcile", 0, check)
        if differences:
            raise SystemExit(f"reconciliation found differences: {differences[:5]}")
    total = sum(t for _, t, _ in phases)
    rows = [
        (name, f"{t:.1f}", f"{txs:,}", f"{1000 * t / txs:.1f}" if txs else "")
        for name, t, txs in phases
    ]
    rows.append(("whole round", f"{total:.1f}", f"{sum(x for *_, x in phases):,}", ""))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--settle", type=int, default=10_000, help="stakers of the settlement comparison"
    )
    parser.add_argument("--round", type=int, default=1_000, help="stakers of the whole round")
    parser.add_argument("--claims", type=int, default=300, help="claims measured in the big round")
    parser.add_argument("--quick", action="store_true", help="300 / 50 stakers, 60 claims")
    parser.add_argument("--only", choices=["gas", "settle", "round"], help="one part only")
    args = parser.parse_args()
    if args.quick:
        args.settle, args.round, args.claims = 300, 50, 60
    import subprocess

    import web3

    from crowdalpha.chain import anvil_binary

    version = subprocess.run(
        [str(anvil_binary()), "--version"], capture_output=True, text=True, check=True
    ).stdout.splitlines()[0]
    print(f"{version}, web3 {web3.__version__}, {load_artifact('staking').compiler}")
    if args.only in (None, "gas"):
        print("\n## 1. Gas of every operation (anvil receipts)\n")
        print(table(gas_table(), ("operation", "gas")))
    if args.only in (None, "settle"):
        print(f"\n## 2. Settling {args.settle:,} stakers\n")
        big = settle_big(args.settle, args.claims)
        claims = big["claims"]
        rows = [
            ("crowdalpha: operator transactions per round", "2 (open_round, post_root) + 1 sweep"),
            ("crowdalpha: post_root gas (root + burn + reward)", f"{big['post_root gas']:,}"),
            ("crowdalpha: proof length (hashes)", str(big["proof length"])),
            ("crowdalpha: tree build (Python)", f"{big['tree build s']:.2f} s"),
        ]
        for kind, label in (
            ("holder", "claim, staker holds NMR"),
            ("empty", "claim, staker held none"),
            ("new word", "claim, first of its 256-model bitmap word"),
        ):
            if kind in claims:
                v = claims[kind]
                rows.append(
                    (
                        f"crowdalpha: {label} (n={len(v)})",
                        f"median {statistics.median(v):,.0f}, max {max(v):,}",
                    )
                )
        rows += [
            (
                "per-stake (V3-style): operator transactions",
                f"{big['per-stake txs']} (250 stakes each)",
            ),
            ("per-stake: operator gas in all", f"{big['per-stake gas']:,}"),
            ("per-stake: gas per stake", f"{big['per-stake gas'] // args.settle:,}"),
            ("per-stake: largest transaction", f"{big['per-stake max tx gas']:,}"),
            ("bulk staking (setup, pipelined)", f"{big['staking wall s']:.0f} s"),
        ]
        print(table(rows, ("measure", "value")))
    if args.only in (None, "round"):
        print(f"\n## 3. A whole {args.round:,}-staker round, library calls waiting for receipts\n")
        print(table(whole_round(args.round), ("phase", "wall s", "txs", "ms per tx")))


if __name__ == "__main__":
    main()
