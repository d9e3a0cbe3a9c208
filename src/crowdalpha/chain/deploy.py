"""Deploying the NMR token and the staking contract (``crowdalpha chain deploy``).

:func:`deploy` creates both contracts from the compiled artifacts, owned by the sender,
and returns a :class:`Deployment`: the addresses, the chain and the block to index from,
which the operator puts into ``CROWDALPHA_CHAIN_*`` (or keeps as JSON). An existing token
can be reused (``token=``), e.g. on a chain where NMR already exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_typing import ChecksumAddress

from crowdalpha.chain.artifacts import load_artifact
from crowdalpha.chain.contracts import NMRToken, Staking
from crowdalpha.chain.encoding import checksum_address
from crowdalpha.chain.transactions import Sender, node_errors
from crowdalpha.errors import ChainTransactionError, InvalidInputError

__all__ = [
    "DEFAULT_CLAIM_PERIOD",
    "DEFAULT_RESOLUTION_GRACE",
    "DEFAULT_SUPPLY_CAP",
    "Deployment",
    "deploy",
]

DEFAULT_SUPPLY_CAP = 11_000_000 * 10**18  # NMR's cap since NMR 2.0
DEFAULT_CLAIM_PERIOD = 180 * 86_400  # claims stay open half a year after resolution
DEFAULT_RESOLUTION_GRACE = 30 * 86_400  # a round unresolved 30 days after its resolve time
# refunds its stakes


@dataclass(frozen=True)
class Deployment:
    """Where crowdalpha's contracts live."""

    chain_id: int
    token: ChecksumAddress
    staking: ChecksumAddress
    block: int  # the staking contract's deployment block: where indexing starts

    def to_json(self) -> dict[str, Any]:
        return {
            "chainId": self.chain_id,
            "token": self.token,
            "staking": self.staking,
            "block": self.block,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deployment:
        return cls(
            chain_id=int(data["chainId"]),
            token=checksum_address(data["token"], name="token"),
            staking=checksum_address(data["staking"], name="staking"),
            block=int(data["block"]),
        )

    def environment(self) -> dict[str, str]:
        """The ``CROWDALPHA_CHAIN_*`` variables that point crowdalpha at this deployment."""
        return {
            "CROWDALPHA_CHAIN_CHAIN_ID": str(self.chain_id),
            "CROWDALPHA_CHAIN_TOKEN_ADDRESS": self.token,
            "CROWDALPHA_CHAIN_STAKING_ADDRESS": self.staking,
            "CROWDALPHA_CHAIN_START_BLOCK": str(self.block),
        }


def _deploy(sender: Sender, name: str, *args: Any) -> tuple[ChecksumAddress, int]:
    artifact = load_artifact(name)
    factory = sender.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = sender.send(factory.constructor(*args))
    address = receipt.get("contractAddress")
    if address is None:  # pragma: no cover - a node that breaks the receipt format
        raise ChainTransactionError(f"deploying {name}: the receipt has no contract address")
    with node_errors(f"checking {name}'s code"):
        code = bytes(sender.w3.eth.get_code(address))
    # Vyper appends the immutables after the runtime code it compiled.
    if not code.startswith(artifact.bytecode_runtime):
        raise ChainTransactionError(
            f"deploying {name}: the code at {address} is not the compiled contract"
        )
    return checksum_address(address), int(receipt["blockNumber"])


def deploy(
    sender: Sender,
    *,
    authorization_signer: str,
    service_wallet: str | None = None,
    guardian: str | None = None,
    token: str | None = None,
    supply_cap: int = DEFAULT_SUPPLY_CAP,
    token_name: str = "Numeraire",
    token_symbol: str = "NMR",
    claim_period: int = DEFAULT_CLAIM_PERIOD,
    resolution_grace: int = DEFAULT_RESOLUTION_GRACE,
) -> Deployment:
    """Deploy the token (unless ``token`` is given) and the staking contract, both owned
    by ``sender``. The service wallet and the guardian default to the sender. The
    service wallet must later ``approve`` the staking contract for the rewards it pays."""
    if supply_cap <= 0:
        raise InvalidInputError("the supply cap must be positive")
    if len(token_name) > 25 or not 0 < len(token_symbol) <= 5:
        raise InvalidInputError("the token's name has at most 25 characters, its symbol 1 to 5")
    signer = checksum_address(authorization_signer, name="authorization signer")
    wallet = checksum_address(service_wallet or sender.address, name="service wallet")
    guard = checksum_address(guardian or sender.address, name="guardian")
    if token is None:
        token_address, _ = _deploy(sender, "nmr", token_name, token_symbol, supply_cap)
    else:
        token_address = checksum_address(token, name="token")
    staking_address, block = _deploy(
        sender,
        "staking",
        token_address,
        signer,
        wallet,
        guard,
        claim_period,
        resolution_grace,
    )
    deployment = Deployment(
        chain_id=sender.chain_id, token=token_address, staking=staking_address, block=block
    )
    # Read back what the chain holds, so a wrong constructor argument shows up here.
    config = Staking(sender.w3, staking_address).config()
    if config.nmr_address != token_address or config.authorization_signer != signer:
        raise ChainTransactionError("the deployed staking contract's configuration is wrong")
    if token is None and NMRToken(sender.w3, token_address).supply_cap() != supply_cap:
        raise ChainTransactionError("the deployed token's supply cap is wrong")
    return deployment
