"""Numerai's staking v3 queries (numerapi 3.1.1's ``v3_stake_config``, ``v3_stake_auth``,
``v3_stake_round`` and ``v3_stake_claim``), answered from the chain integration.

They work when the operator turned the chain on (``CROWDALPHA_CHAIN_URL``; the server's
context then holds a :class:`~crowdalpha.chain.platform.ChainPlatform`); otherwise each
answers ``not_supported: chain staking is not enabled …`` with how to turn it on. The
shapes come from :mod:`crowdalpha.chain.v3`: numbers as decimal strings (amounts in base
units, 10^18 per NMR; times in unix seconds), hashes and signatures as 0x-hex.

``v3StakeAuth(submissionId, staker, maxAmount)`` needs a key with the ``stake`` scope and a
submission of the caller's in the open round; ``maxAmount`` is NMR as numerapi takes it
(``"25"``, ``"1.5"``) and comes back in base units, as it is signed. ``v3StakeRound`` takes
the on-chain round id (``8000012``) or the round's number (``12``). The other three are
public (numerapi sends its key anyway).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import strawberry

from crowdalpha.errors import NotSupportedError
from crowdalpha.ledger import to_base_units
from crowdalpha.server.graphql.context import GraphQLContext

if TYPE_CHECKING:
    from crowdalpha.chain.platform import ChainPlatform

__all__ = [
    "V3StakeAuth",
    "V3StakeClaim",
    "V3StakeConfig",
    "V3StakeRound",
    "auth_field",
    "claim_field",
    "config_field",
    "round_field",
]

Info = strawberry.Info[GraphQLContext, None]


@strawberry.type(description="The staking contract's configuration (staking v3).")
class V3StakeConfig:
    address: str
    authorization_signer: str
    nmr_address: str
    owner: str
    paused: bool
    pending_owner: str | None
    service_wallet: str


@strawberry.type(description="A signed authorization to stake on one submission (EIP-712).")
class V3StakeAuth:
    authorization_signer: str
    authorization_digest: str
    chain_id: str
    deadline: str
    max_amount: str
    model_id: str
    nmr_address: str
    nonce: str
    round_id: str
    signature: str
    staker: str
    staking_address: str
    submission_id: str
    submission_hash: str
    tournament_id: str


@strawberry.type(description="A round on the staking contract.")
class V3StakeRound:
    close_time: str
    merkle_root: str | None
    open_time: str
    payout_factor: str
    remaining_burn: str
    remaining_payout: str
    resolve_time: str
    resolved: bool
    round_id: str
    stake_cap: str
    stake_threshold: str
    state: str
    total_payout: str
    total_staked: str
    tournament_id: str


@strawberry.type(description="What staking.claim takes for one model's stake in a round.")
class V3StakeClaim:
    api_model_id: str
    burn_amount_wei: str
    merkle_root: str
    model_id: str
    payout_amount_wei: str
    proof: list[str]
    round_id: str
    staker: str
    submission_id: str
    tournament_id: str


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _snake(shape: dict[str, Any]) -> dict[str, Any]:
    return {_CAMEL.sub("_", name).lower(): value for name, value in shape.items()}


def _platform(info: Info) -> ChainPlatform:
    chain: ChainPlatform | None = info.context.server.chain
    if chain is None:
        raise NotSupportedError(
            "chain staking is not enabled on this server: staking v3 needs the operator to "
            "set CROWDALPHA_CHAIN_URL and the contracts' addresses (napi.stake_increase "
            "stakes without the chain)"
        )
    return chain


def _v3_stake_config(info: Info) -> V3StakeConfig:
    from crowdalpha.chain.v3 import v3_stake_config

    return V3StakeConfig(**_snake(v3_stake_config(_platform(info).staking.config())))


def _v3_stake_auth(
    info: Info, submission_id: strawberry.ID, staker: str, max_amount: str
) -> V3StakeAuth:
    from crowdalpha.chain.v3 import v3_stake_auth

    principal = info.context.require("stake")
    platform = _platform(info)
    signed = platform.authorize(
        str(submission_id),
        staker,
        to_base_units(max_amount),
        account_id=principal.account.id,
    )
    return V3StakeAuth(**_snake(v3_stake_auth(signed)))


def _v3_stake_round(info: Info, round_id: str) -> V3StakeRound:
    from crowdalpha.chain.v3 import v3_stake_round

    platform = _platform(info)
    rid = platform.parse_round(round_id)
    onchain = platform.onchain_round(rid)
    view = platform.view()
    record = view.rounds.get(rid)
    resolution = None if record is None else record.resolution
    return V3StakeRound(**_snake(v3_stake_round(onchain, resolution)))


def _v3_stake_claim(
    info: Info, round_id: str, model_id: strawberry.ID, staker: str
) -> V3StakeClaim:
    from crowdalpha.chain.platform import CLASSIC_TOURNAMENT
    from crowdalpha.chain.v3 import v3_stake_claim

    platform = _platform(info)
    rid = platform.parse_round(round_id)
    claim = platform.claim(rid, str(model_id), staker)
    shape = v3_stake_claim(claim, tournament_id=CLASSIC_TOURNAMENT)
    return V3StakeClaim(**_snake(shape))


# The four query fields; schema.Query declares them.
config_field: Any = strawberry.field(
    resolver=_v3_stake_config,
    name="v3StakeConfig",
    description="The staking contract's configuration (needs the chain turned on).",
)
auth_field: Any = strawberry.field(
    resolver=_v3_stake_auth,
    name="v3StakeAuth",
    description="Sign an authorization to stake up to maxAmount NMR on one of the caller's "
    "submissions in the open round (needs the stake scope).",
)
round_field: Any = strawberry.field(
    resolver=_v3_stake_round,
    name="v3StakeRound",
    description="A round on the staking contract (its on-chain id or its number).",
)
claim_field: Any = strawberry.field(
    resolver=_v3_stake_claim,
    name="v3StakeClaim",
    description="The leaf and proof to claim a model's payout in a settled round.",
)
