"""A Merkle tree identical to OpenZeppelin's ``StandardMerkleTree`` (@openzeppelin/merkle-tree).

Same leaves, same layout, same root and proofs, same JSON dump (``"standard-v1"``), so a
tree built here can be checked with OpenZeppelin's JavaScript library and verified by
OpenZeppelin's ``MerkleProof`` or snekmate's ``merkle_proof_verification`` on chain:

- a leaf is ``keccak256(keccak256(abi.encode(values…)))`` (the double hash keeps a
  64-byte leaf from posing as an inner node);
- inner nodes are ``keccak256(min(a, b) ‖ max(a, b))``;
- the tree is a flat array of ``2n − 1`` nodes, the root first, ``tree[i]`` the parent of
  ``tree[2i+1]`` and ``tree[2i+2]``, and the (by default sorted) leaf hashes at the end
  in reverse order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi.abi import encode
from eth_abi.exceptions import EncodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from crowdalpha.errors import InvalidInputError, NotFoundError

__all__ = ["StandardMerkleTree", "hash_pair", "leaf_hash", "process_proof", "verify"]

FORMAT = "standard-v1"


def leaf_hash(value: Sequence[Any], encoding: Sequence[str]) -> bytes:
    """The standard leaf hash of ``value`` ABI-encoded as ``encoding``."""
    try:
        return keccak(keccak(encode(list(encoding), list(value))))
    except (EncodingError, TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"leaf {list(value)!r} cannot be encoded as {list(encoding)}: {exc}"
        ) from None


def hash_pair(a: bytes, b: bytes) -> bytes:
    """An inner node: the two children hashed in ascending order."""
    return keccak(a + b) if a < b else keccak(b + a)


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from ``leaf``."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node


def verify(root: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
    """Whether ``proof`` proves ``leaf`` under ``root`` (what the contract checks)."""
    return process_proof(leaf, proof) == root


def _jsonable(value: Any) -> Any:
    """A leaf value as OpenZeppelin's dump holds it: integers as decimal strings (they
    outgrow JavaScript numbers), bytes as 0x-hex, addresses as written."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _from_json(value: Any, abi_type: str) -> Any:
    if abi_type.endswith("]"):
        inner = abi_type[: abi_type.rindex("[")]
        return [_from_json(v, inner) for v in value]
    if abi_type.startswith(("uint", "int")):
        return int(value)
    if abi_type.startswith("bytes"):
        return bytes.fromhex(str(value).removeprefix("0x"))
    if abi_type == "address":
        return to_checksum_address(value)
    return value


class StandardMerkleTree:
    """OpenZeppelin's ``StandardMerkleTree.of(values, encoding)`` in Python.

    ``values`` are the leaves' fields in ``encoding``'s ABI types (``["address",
    "uint256"]``…); their order only matters with ``sort_leaves=False``. Proofs are
    looked up by the value's position in ``values`` or by the value itself.
    """

    def __init__(
        self,
        values: Sequence[Sequence[Any]],
        encoding: Sequence[str],
        *,
        sort_leaves: bool = True,
    ) -> None:
        if not values:
            raise InvalidInputError("a Merkle tree needs at least one leaf")
        hashed = [(leaf_hash(v, encoding), i) for i, v in enumerate(values)]
        if sort_leaves:
            hashed.sort(key=lambda item: item[0])
        n = len(hashed)
        tree: list[bytes] = [b""] * (2 * n - 1)
        positions = [0] * n
        for k, (digest, value_index) in enumerate(hashed):
            tree[len(tree) - 1 - k] = digest
            positions[value_index] = len(tree) - 1 - k
        for i in range(len(tree) - 1 - n, -1, -1):
            tree[i] = hash_pair(tree[2 * i + 1], tree[2 * i + 2])
        self._set(encoding, values, tree, positions)

    def _set(
        self,
        encoding: Sequence[str],
        values: Sequence[Sequence[Any]],
        tree: Sequence[bytes],
        positions: Sequence[int],
    ) -> None:
        self.encoding: tuple[str, ...] = tuple(encoding)
        self.values: tuple[tuple[Any, ...], ...] = tuple(tuple(v) for v in values)
        self.tree: tuple[bytes, ...] = tuple(tree)
        self._positions = tuple(positions)
        self._lookup = {self.tree[p]: i for i, p in enumerate(self._positions)}

    @property
    def root(self) -> bytes:
        return self.tree[0]

    def __len__(self) -> int:
        return len(self.values)

    def index_of(self, value: Sequence[Any]) -> int:
        """The position of ``value`` in ``values``."""
        found = self._lookup.get(leaf_hash(value, self.encoding))
        if found is None:
            raise NotFoundError(f"leaf {list(value)!r} is not in this tree")
        return found

    def leaf_hash(self, index: int) -> bytes:
        """The hash of leaf ``index`` (its position in ``values``)."""
        return self.tree[self._positions[index]]

    def proof(self, leaf: int | Sequence[Any]) -> list[bytes]:
        """The sibling hashes from the leaf (by index or value) up to the root."""
        index = leaf if isinstance(leaf, int) else self.index_of(leaf)
        if not 0 <= index < len(self.values):
            raise NotFoundError(f"there is no leaf {index} in a tree of {len(self.values)}")
        node = self._positions[index]
        proof = []
        while node > 0:
            proof.append(self.tree[node - 1 if node % 2 == 0 else node + 1])
            node = (node - 1) // 2
        return proof

    def dump(self) -> dict[str, Any]:
        """OpenZeppelin's ``tree.dump()``: loadable by ``StandardMerkleTree.load`` there
        and here."""
        return {
            "format": FORMAT,
            "tree": ["0x" + node.hex() for node in self.tree],
            "values": [
                {"value": _jsonable(list(value)), "treeIndex": position}
                for value, position in zip(self.values, self._positions, strict=True)
            ],
            "leafEncoding": list(self.encoding),
        }

    @classmethod
    def load(cls, data: dict[str, Any]) -> StandardMerkleTree:
        """A tree from a dump (ours or OpenZeppelin's), checked node for node."""
        if data.get("format") != FORMAT:
            raise InvalidInputError(f"not a {FORMAT} Merkle tree dump: {data.get('format')!r}")
        try:
            encoding = [str(t) for t in data["leafEncoding"]]
            values = [
                [_from_json(v, t) for v, t in zip(e["value"], encoding, strict=True)]
                for e in data["values"]
            ]
            positions = [int(e["treeIndex"]) for e in data["values"]]
            tree = [bytes.fromhex(str(node).removeprefix("0x")) for node in data["tree"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"a malformed Merkle tree dump: {exc}") from None
        n = len(values)
        if n == 0 or len(tree) != 2 * n - 1 or sorted(positions) != list(range(n - 1, 2 * n - 1)):
            raise InvalidInputError("the Merkle tree dump's shape does not match its values")
        for value, position in zip(values, positions, strict=True):
            if tree[position] != leaf_hash(value, encoding):
                raise InvalidInputError(f"leaf {value!r} does not match its hash in the dump")
        for i in range(n - 1):
            if tree[i] != hash_pair(tree[2 * i + 1], tree[2 * i + 2]):
                raise InvalidInputError(f"inner node {i} of the Merkle tree dump is wrong")
        loaded = cls.__new__(cls)
        loaded._set(encoding, values, tree, positions)
        return loaded
