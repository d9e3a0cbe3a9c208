"""numerapi's staking v3 shapes, built from this package's records.

numerapi 3.1.1 asks for ``v3StakeConfig``, ``v3StakeAuth``, ``v3StakeRound`` and
``v3StakeClaim``; each function here returns exactly the fields it asks for, with the
types it documents (numbers as decimal strings: base units for amounts, unix seconds for
times; hashes and signatures as 0x-hex; ``paused`` and ``resolved`` as booleans). The
GraphQL layer only has to name the types and pass these dicts through.
"""

from __future__ import annotations

from decimal import Decimal

from crowdalpha.chain.contracts import OnChainRound, StakingConfig
from crowdalpha.chain.encoding import hex32
from crowdalpha.chain.settlement import Claim
from crowdalpha.chain.signing import SignedAuthorization
from crowdalpha.chain.view import Resolution

__all__ = ["v3_stake_auth", "v3_stake_claim", "v3_stake_config", "v3_stake_round"]


def v3_stake_config(config: StakingConfig) -> dict[str, object]:
    """``v3StakeConfig { address authorizationSigner nmrAddress owner paused pendingOwner
    serviceWallet }``."""
    return {
        "address": config.address,
        "authorizationSigner": config.authorization_signer,
        "nmrAddress": config.nmr_address,
        "owner": config.owner,
        "paused": config.paused,
        "pendingOwner": config.pending_owner,
        "serviceWallet": config.service_wallet,
    }


def v3_stake_auth(signed: SignedAuthorization) -> dict[str, str]:
    """``v3StakeAuth { authorizationSigner authorizationDigest chainId deadline maxAmount
    modelId nmrAddress nonce roundId signature staker stakingAddress submissionId
    submissionHash tournamentId }``."""
    return signed.describe()


def v3_stake_round(round_: OnChainRound, resolution: Resolution | None) -> dict[str, object]:
    """``v3StakeRound { closeTime merkleRoot openTime payoutFactor remainingBurn
    remainingPayout resolveTime resolved roundId stakeCap stakeThreshold state totalPayout
    totalStaked tournamentId }``; ``resolution`` is the round's ``RoundResolved`` event
    (from the indexer), None before it."""
    schedule = round_.schedule
    return {
        "closeTime": str(schedule.close_time),
        "merkleRoot": None if round_.merkle_root is None else hex32(round_.merkle_root),
        "openTime": str(schedule.open_time),
        "payoutFactor": str(Decimal(round_.payout_factor).scaleb(-18).normalize()),
        "remainingBurn": str(round_.remaining_burn),
        "remainingPayout": str(round_.remaining_payout),
        "resolveTime": str(schedule.resolve_time),
        "resolved": round_.resolved,
        "roundId": str(round_.round_id),
        "stakeCap": str(schedule.stake_cap),
        "stakeThreshold": str(schedule.stake_threshold),
        "state": round_.state.label,
        "totalPayout": str(resolution.total_payout if resolution else 0),
        "totalStaked": str(round_.total_staked),
        "tournamentId": str(schedule.tournament_id),
    }


def v3_stake_claim(
    claim: Claim, *, tournament_id: int, api_model_id: str | None = None
) -> dict[str, object]:
    """``v3StakeClaim { apiModelId burnAmountWei merkleRoot modelId payoutAmountWei proof
    roundId staker submissionId tournamentId }``; ``api_model_id`` is the model's id in the
    platform's API when it is not the on-chain number itself (a UUID, say)."""
    return {
        "apiModelId": api_model_id if api_model_id is not None else str(claim.model_id),
        "burnAmountWei": str(claim.burn),
        "merkleRoot": hex32(claim.merkle_root),
        "modelId": str(claim.model_id),
        "payoutAmountWei": str(claim.payout),
        "proof": [hex32(node) for node in claim.proof],
        "roundId": str(claim.round_id),
        "staker": claim.staker,
        "submissionId": str(claim.submission_id),
        "tournamentId": str(tournament_id),
    }
