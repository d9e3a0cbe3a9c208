"""NMR and staking on an EVM chain: the contracts' Python side (optional; web3 8).

The pieces, each in its own module:

- ``artifacts``: the contracts compiled from ``contracts/*.vy`` (cached per source hash);
- ``settings``: ``CROWDALPHA_CHAIN_*`` (node URL, addresses, keys never shown);
- ``transactions``: connecting, and a :class:`Sender` that signs and sends one key's
  transactions with the contract's revert reason in every refusal;
- ``contracts``: :class:`NMRToken` and :class:`Staking`, typed reads and writes;
- ``deploy``: creating both contracts (:func:`deploy` → :class:`Deployment`);
- ``signing``: EIP-712 stake authorizations (:class:`AuthorizationSigner`) and permits;
- ``merkle``: OpenZeppelin's ``StandardMerkleTree``, byte for byte;
- ``settlement``: per-stake results → leaves, root, totals and claims;
- ``indexer`` and ``view``: the events, confirmed and reorg-safe, and the books they give;
- ``reconcile``: the platform's books against the chain, every difference listed;
- ``v3``: numerapi's ``v3StakeConfig/Auth/Round/Claim`` shapes;
- ``anvil``: a local node for tests, benchmarks and the demo.

The core never imports this package; the server and the CLI do, when the operator turns
the chain on (``CROWDALPHA_CHAIN_URL``).
"""

from crowdalpha.chain.anvil import Anvil, anvil_binary
from crowdalpha.chain.artifacts import Artifact, load_artifact
from crowdalpha.chain.contracts import (
    NMRToken,
    OnChainRound,
    RoundSchedule,
    RoundState,
    Staking,
    StakingConfig,
)
from crowdalpha.chain.deploy import Deployment, deploy
from crowdalpha.chain.encoding import id_to_uint, onchain_round_id, split_round_id
from crowdalpha.chain.indexer import ChainEvent, Indexer, IndexUpdate, MemoryEventStore
from crowdalpha.chain.merkle import StandardMerkleTree
from crowdalpha.chain.reconcile import Difference, ExpectedRound, OffChainView, reconcile
from crowdalpha.chain.settings import ChainSettings
from crowdalpha.chain.settlement import Claim, Settlement, StakeResult, build_settlement
from crowdalpha.chain.signing import (
    AuthorizationSigner,
    Permit,
    SignedAuthorization,
    StakeAuthorization,
    sign_permit,
)
from crowdalpha.chain.transactions import Sender, connect
from crowdalpha.chain.view import ChainView

__all__ = [
    "Anvil",
    "Artifact",
    "AuthorizationSigner",
    "ChainEvent",
    "ChainSettings",
    "ChainView",
    "Claim",
    "Deployment",
    "Difference",
    "ExpectedRound",
    "IndexUpdate",
    "Indexer",
    "MemoryEventStore",
    "NMRToken",
    "OffChainView",
    "OnChainRound",
    "Permit",
    "RoundSchedule",
    "RoundState",
    "Sender",
    "Settlement",
    "SignedAuthorization",
    "StakeAuthorization",
    "StakeResult",
    "Staking",
    "StakingConfig",
    "StandardMerkleTree",
    "anvil_binary",
    "build_settlement",
    "connect",
    "deploy",
    "id_to_uint",
    "load_artifact",
    "onchain_round_id",
    "reconcile",
    "sign_permit",
    "split_round_id",
]
