"""numerapi 3.1.1's staking v3 queries against the shapes crowdalpha.chain.v3 builds.

The field lists come from numerapi's own source (the queries it sends), so a numerapi
release that asks for another field fails here, not in a participant's script."""

from __future__ import annotations

import inspect
import re

import numerapi.base_api
import pytest
from tests.chain.support import DAY, NMR, ROUND, key

from crowdalpha.chain.contracts import OnChainRound, RoundSchedule, RoundState, StakingConfig
from crowdalpha.chain.settlement import StakeResult, build_settlement
from crowdalpha.chain.signing import AuthorizationSigner
from crowdalpha.chain.v3 import v3_stake_auth, v3_stake_claim, v3_stake_config, v3_stake_round


def requested_fields(method: str, query_name: str) -> set[str]:
    source = inspect.getsource(getattr(numerapi.base_api.Api, method))
    body = re.search(query_name + r"(?:\([^)]*\))?\s*\{([^}]*)\}", source)
    assert body is not None, method
    return set(body.group(1).split())


def test_config_and_auth_have_exactly_numerapis_fields() -> None:
    staking, token = key("staking").address, key("token").address
    config = StakingConfig(
        address=staking,
        nmr_address=token,
        authorization_signer=key("signer").address,
        owner=key("owner").address,
        pending_owner=None,
        service_wallet=key("service").address,
        guardian=key("guardian").address,
        paused=False,
        claim_period=DAY,
        resolution_grace=DAY,
    )
    shape = v3_stake_config(config)
    assert set(shape) == requested_fields("v3_stake_config", "v3StakeConfig")
    assert shape["paused"] is False and shape["pendingOwner"] is None
    signer = AuthorizationSigner(
        key("signer"), chain_id=1, staking_address=staking, nmr_address=token
    )
    auth = v3_stake_auth(
        signer.authorize(
            staker=key("staker").address,
            tournament_id=8,
            round_id=ROUND,
            model_id=1,
            submission_id=2,
            submission_hash=b"\x02" * 32,
            max_amount=NMR,
            deadline=10**10,
        )
    )
    assert set(auth) == requested_fields("v3_stake_auth", "v3StakeAuth")
    assert all(isinstance(v, str) for v in auth.values())


def test_round_and_claim_have_exactly_numerapis_fields() -> None:
    settlement = build_settlement(
        ROUND,
        [
            StakeResult(
                staker=key("staker").address,
                model_id=1,
                submission_id=9,
                stake=NMR,
                payout=2 * NMR,
                burn=0,
            )
        ],
    )
    onchain = OnChainRound(
        round_id=ROUND,
        schedule=RoundSchedule(ROUND, 8, 1, 1 + DAY, 1 + 2 * DAY, 0, 40 * NMR),
        state=RoundState.RESOLVED,
        total_staked=100 * NMR,
        cancelled=False,
        merkle_root=settlement.root,
        remaining_payout=2 * NMR,
        remaining_burn=0,
        claim_deadline=5,
        payout_factor=4 * 10**17,
    )
    shape = v3_stake_round(onchain, None)
    assert set(shape) == requested_fields("v3_stake_round", "v3StakeRound")
    assert (shape["state"], shape["payoutFactor"], shape["resolved"]) == ("resolved", "0.4", True)
    assert shape["roundId"] == "8000001" and shape["tournamentId"] == "8"
    claim = v3_stake_claim(settlement.claim(1), tournament_id=8)
    assert set(claim) == requested_fields("v3_stake_claim", "v3StakeClaim")
    assert claim["proof"] == [] and claim["payoutAmountWei"] == str(2 * NMR)
    assert claim["apiModelId"] == claim["modelId"] == "1"


@pytest.mark.parametrize("state", list(RoundState))
def test_every_round_state_has_a_lowercase_label(state: RoundState) -> None:
    assert state.label == state.name.lower()
