"""Fixtures of the chain tests: the contracts on titanoboa's in-process EVM, and a real
anvil node (one per test session, i.e. per xdist worker) with the contracts deployed.

Isolation is explicit (titanoboa's own pytest plugin is off, see pyproject.toml): every
titanoboa test runs inside ``boa.env.anchor()`` (the ``world`` fixture), every Hypothesis
example inside one more, and every anvil test between ``evm_snapshot`` and ``evm_revert``
(the ``chain`` fixture).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.chain.support import (
    CAP,
    CLAIM_PERIOD,
    DAY,
    GRACE,
    NMR,
    ROUND,
    AnvilChain,
    BoaWorld,
    key,
)

from crowdalpha.chain import (
    Anvil,
    AuthorizationSigner,
    NMRToken,
    Sender,
    Staking,
    connect,
    deploy,
)
from crowdalpha.chain.artifacts import contracts_dir


@pytest.fixture(scope="session")
def boa_world() -> BoaWorld:
    import boa

    boa.env.evm.patch.chain_id = 31337
    owner = boa.env.generate_address("owner")
    guardian = boa.env.generate_address("guardian")
    service = boa.env.generate_address("service")
    signer = key("signer")
    stakers = [key(f"staker {i}") for i in range(4)]
    folder = contracts_dir()
    token_deployer = boa.load_partial(str(folder / "nmr.vy"))
    staking_deployer = boa.load_partial(str(folder / "staking.vy"))
    with boa.env.prank(owner):
        token = token_deployer.deploy("Numeraire", "NMR", CAP)
        staking = staking_deployer.deploy(
            token.address,
            signer.address,
            service,
            guardian,
            CLAIM_PERIOD,
            GRACE,
        )
        token.mint(service, 100_000 * NMR)
        for staker in stakers:
            token.mint(staker.address, 1_000 * NMR)
        start = boa.env.timestamp
        staking.open_round(ROUND, 8, start, start + DAY, start + 2 * DAY, 0, 0)
    with boa.env.prank(service):
        token.approve(staking.address, 2**256 - 1)
    for staker in stakers:
        with boa.env.prank(staker.address):
            token.approve(staking.address, 2**256 - 1)
    return BoaWorld(
        boa,
        owner,
        guardian,
        service,
        signer,
        stakers,
        token,
        staking,
        token_deployer,
        staking_deployer,
        start,
    )


@pytest.fixture
def world(boa_world: BoaWorld) -> Iterator[BoaWorld]:
    """The titanoboa world, reset after the test."""
    with boa_world.boa.env.anchor():
        yield boa_world


@pytest.fixture(scope="session")
def anvil_node() -> Iterator[Anvil]:
    with Anvil() as node:
        yield node


@pytest.fixture(scope="session")
def anvil_chain(anvil_node: Anvil) -> AnvilChain:
    w3 = connect(anvil_node.url, chain_id=31337)
    operator_key = key("operator")
    anvil_node.set_balance(operator_key.address, 10**21)
    operator = Sender(w3, operator_key, poll_interval=0.005)
    signer_key = key("signer")
    deployment = deploy(
        operator,
        authorization_signer=signer_key.address,
        claim_period=CLAIM_PERIOD,
        resolution_grace=GRACE,
    )
    token = NMRToken(w3, deployment.token)
    staking = Staking(w3, deployment.staking)
    token.mint(operator, operator.address, 1_000_000 * NMR)
    token.approve(operator, staking.address, 2**256 - 1)  # the service wallet pays rewards
    signer = AuthorizationSigner(
        signer_key,
        chain_id=31337,
        staking_address=deployment.staking,
        nmr_address=deployment.token,
    )
    return AnvilChain(anvil_node, deployment, operator, signer, token, staking)


@pytest.fixture
def chain(anvil_chain: AnvilChain) -> Iterator[AnvilChain]:
    """The anvil chain, reverted to its state before the test afterwards."""
    snapshot = anvil_chain.anvil.snapshot()
    try:
        yield anvil_chain
    finally:
        anvil_chain.anvil.revert(snapshot)
        anvil_chain.operator.reset_nonce()  # the reverted chain forgot the test's txs


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]
