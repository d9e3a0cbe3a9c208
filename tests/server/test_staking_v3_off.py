"""Without the chain (the default), numerapi's staking v3 queries are answered with a clear
error that says how to turn it on; the rest of the API is unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from tests.server.graphql_support import GraphQLHarness, add_participant

QUERIES = (
    "{ v3StakeConfig { address } }",
    '{ v3StakeRound(roundId: "1") { state } }',
    '{ v3StakeClaim(roundId: "8000001", modelId: "1", staker: "0x0") { proof } }',
    '{ v3StakeAuth(submissionId: "1", staker: "0x0", maxAmount: "1") { signature } }',
)


@pytest.mark.parametrize("query", QUERIES)
def test_staking_v3_needs_the_chain(engine: Engine, tmp_path: Path, query: str) -> None:
    harness = GraphQLHarness(engine, tmp_path)
    who = add_participant(harness.tournament, "alice", ("alpha",))
    message = harness.error_of(query, who=who)
    assert message.startswith("not_supported: chain staking is not enabled")
    assert "CROWDALPHA_CHAIN_URL" in message
    assert harness.data_of("{ rounds { number } }")["rounds"][0]["number"] == 1
