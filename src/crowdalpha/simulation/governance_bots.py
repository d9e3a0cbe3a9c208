"""Bots that govern in their own interest: they propose and vote on payout rules.

Each bot judges a change of its competition's round configuration by one rule: **what it
would have been paid** over its last ``memory`` resolved rounds under the changed rules,
against what the same rounds pay under the rules planned now — its own stored scores and
stakes at risk, each round's total at risk, and the core's own payout function
(:func:`crowdalpha.tournament.settlement.model_payout`). Nothing else is scripted, so the
interests the issue describes emerge from the bots' records: a skilled staker gains from a
wider clip and a larger multiplier on the score it is good at; a losing one (anti, random,
overfit) from a narrower clip, smaller multipliers or a lower payout-factor threshold
(which shrinks burns as much as payouts); a bot whose CORR is positive but whose MMC is not
(a copy of a good model) prefers CORR's multiplier up and MMC's down.

Votes: ``for`` when the change would have paid the bot more, ``against`` when less,
``abstain`` when it makes no difference (or the bot has no resolved round yet); a bot with
no voting power at the snapshot does not vote. Proposals: every ``propose_every`` weeks,
each bot whose wallet holds the deposit finds its best single move among
:data:`MOVES` (one step up or down, within the hard bounds); the bot that would gain the most
proposes it, unless the same change is already being voted on.

Everything goes through :class:`~crowdalpha.governance.Governance`'s public API (propose,
vote, power), as a participant's client would.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from crowdalpha.errors import InvalidParameterError
from crowdalpha.governance import Governance
from crowdalpha.ledger import NMR
from crowdalpha.payouts import payout_factor
from crowdalpha.simulation.bots import Bot
from crowdalpha.tournament import RoundConfig, Tournament
from crowdalpha.tournament.settlement import model_payout

__all__ = ["MOVES", "Electorate", "History", "interest"]

#: The single-parameter moves a bot considers proposing: (setting, step), each tried up and
#: down (steps within the settings' largest move per proposal).
MOVES: tuple[tuple[str, Decimal], ...] = (
    ("clip", Decimal("0.01")),
    ("multiplier.corr", Decimal("0.25")),
    ("multiplier.mmc", Decimal("0.25")),
    ("threshold", Decimal(18_000 * NMR)),
)


@dataclass(frozen=True)
class Resolved:
    """One model's record in one resolved round: what the payout rule reads."""

    round_number: int
    stake_at_risk: int
    scores: Mapping[str, float | None]
    total_at_risk: int


#: model id → its resolved rounds, oldest first.
History = Mapping[int, Sequence[Resolved]]


def interest(
    history: History, model_ids: Sequence[int], base: RoundConfig, changed: RoundConfig
) -> int:
    """What ``model_ids`` would have been paid under ``changed`` minus under ``base`` over
    ``history`` (signed base units; missing scores pay nothing either way)."""
    gain = 0
    for model_id in model_ids:
        for r in history.get(model_id, ()):
            for config, sign in ((changed, 1), (base, -1)):
                factor = payout_factor(config.threshold, r.total_at_risk)
                amount = model_payout(config, r.stake_at_risk, r.scores, factor)
                gain += sign * (amount or 0)
    return gain


def _moves(config: RoundConfig) -> list[dict[str, str]]:
    """Every candidate change of ``config`` that stays within the hard bounds."""
    current = {
        "clip": config.clip,
        "threshold": str(config.threshold),
        **{f"multiplier.{m}": v for m, v in config.multipliers},
    }
    out = []
    for name, step in MOVES:
        if name not in current:
            continue
        for direction in (1, -1):
            value = Decimal(current[name]) + direction * step
            text = str(int(value)) if name == "threshold" else str(value.normalize())
            try:
                config.with_values({name: text})
            except InvalidParameterError:
                continue
            out.append({name: text})
    return out


@dataclass
class Electorate:
    """The bots of one simulated tournament as its governance's proposers and voters."""

    tournament: Tournament
    governance: Governance
    bots: Sequence[Bot]
    memory: int = 8
    propose_every: int = 2
    proposals: list[dict[str, Any]] = field(default_factory=list)
    votes: dict[int, dict[str, str]] = field(default_factory=dict)

    def history(self) -> History:
        """Every model's last ``memory`` resolved rounds."""
        t = self.tournament
        resolved = list(t.rounds(states=["resolved"]))
        keep = {r.number: r.total_at_risk or 0 for r in resolved[-self.memory :]}
        if not keep:
            return {}
        scores = {
            (s.round_number, s.model_id): s.values
            for s in t.scores()
            if s.final and s.round_number in keep
        }
        out: dict[int, list[Resolved]] = defaultdict(list)
        for p in t.payouts():
            if p.round_number in keep and (p.round_number, p.model_id) in scores:
                out[p.model_id].append(
                    Resolved(
                        p.round_number,
                        p.stake_at_risk,
                        scores[(p.round_number, p.model_id)],
                        keep[p.round_number],
                    )
                )
        return {m: sorted(v, key=lambda r: r.round_number) for m, v in out.items()}

    def act(self, week: int) -> None:
        """One week of governance: maybe one proposal, then every bot votes on what is
        open (once per proposal: its interest does not change within a week)."""
        history = self.history()
        if not history:
            return
        base = self.governance.planned_config(self.tournament.competition)
        if week % self.propose_every == 0:
            self._propose(week, history, base)
        for p in self.governance.proposals(states=["voting"]):
            if p.kind != "parameters":
                continue
            changed = base.with_values(p.changes)
            cast = self.votes.setdefault(p.id, {})
            for bot in self.bots:
                if bot.name in cast or self.governance.power(p.id, bot.account_id) == 0:
                    continue
                gain = interest(history, list(bot.model_ids.values()), base, changed)
                choice = "for" if gain > 0 else "against" if gain < 0 else "abstain"
                self.governance.vote(p.id, bot.account_id, choice)
                cast[bot.name] = choice

    def _propose(self, week: int, history: History, base: RoundConfig) -> None:
        deposit = self.governance.rules().deposit
        open_changes = [p.changes for p in self.governance.proposals(states=["voting"])]
        best: tuple[int, Bot, dict[str, str]] | None = None
        for bot in self.bots:
            if self.tournament.wallet_balance(bot.account_id) < deposit:
                continue
            models = list(bot.model_ids.values())
            for changes in _moves(base):
                if changes in open_changes:
                    continue
                gain = interest(history, models, base, base.with_values(changes))
                if gain > 0 and (best is None or gain > best[0]):
                    best = (gain, bot, changes)
        if best is None:
            return
        gain, bot, changes = best
        [(name, value)] = changes.items()
        p = self.governance.propose(
            bot.account_id,
            f"{name} → {value}",
            description=f"{bot.name} ({bot.kind}) would have gained {gain} base units",
            competition=self.tournament.competition.slug,
            changes=changes,
        )
        self.proposals.append(
            {"id": p.id, "week": week, "proposer": bot.name, "kind": bot.kind, "gain": str(gain)}
        )

    def record(self, rounds: int) -> dict[str, Any]:
        """What governance did over the run (JSON-ready): every proposal with its outcome,
        the votes by bot kind, and each round's payout settings."""
        t = self.tournament
        kinds = {b.name: b.kind for b in self.bots}
        schedule = t.config.schedule
        made = {p["id"]: p for p in self.proposals}
        proposals = []
        for p in self.governance.proposals():
            effective = None
            if p.state == "executed":
                effective = next(
                    (n for n in range(1, rounds + 1) if schedule.opens(n) >= p.executable_at),
                    None,
                )
            by_kind: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            for name, choice in self.votes.get(p.id, {}).items():
                by_kind[kinds[name]][choice] += 1
            proposals.append(
                {
                    **made.get(p.id, {"id": p.id}),
                    "changes": dict(p.changes),
                    "state": p.state,
                    "votes_for": str(p.tally.votes_for),
                    "votes_against": str(p.tally.votes_against),
                    "votes_abstain": str(p.tally.votes_abstain),
                    "total_power": str(p.total_power),
                    "effective_round": effective,
                    "votes_by_kind": {k: dict(v) for k, v in by_kind.items()},
                }
            )
        configs = []
        for n in range(1, rounds + 1):
            config = t.round(n).config
            configs.append(
                {
                    "round": n,
                    "clip": config.clip,
                    "threshold": str(config.threshold),
                    **{f"multiplier.{m}": v for m, v in config.multipliers},
                }
            )
        return {"proposals": proposals, "round_configs": configs}
