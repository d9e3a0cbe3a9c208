"""crowdalpha.chain.merkle against OpenZeppelin's @openzeppelin/merkle-tree (the reference,
run with node) and against the contract's proof check (titanoboa)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdalpha.chain.merkle import StandardMerkleTree, hash_pair, leaf_hash, verify
from crowdalpha.chain.settlement import LEAF_ENCODING
from crowdalpha.errors import InvalidInputError, NotFoundError

SCRIPT = Path(__file__).with_name("oz_merkle.js")


def _random_value(rng: random.Random, abi_type: str) -> Any:
    if abi_type == "address":
        return to_checksum_address(rng.randbytes(20))
    if abi_type == "bytes32":
        return rng.randbytes(32)
    if abi_type == "bool":
        return rng.random() < 0.5
    # Small numbers collide often (ties in the leaf order), huge ones use all 32 bytes.
    return rng.choice([rng.randrange(4), rng.randrange(2**256)])


def _cases() -> list[tuple[list[str], list[list[Any]]]]:
    rng = random.Random(20240613)
    encodings = [list(LEAF_ENCODING), ["address", "uint256"], ["bytes32"], ["uint256", "bool"]]
    cases = []
    for size in (1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 100, 257):
        encoding = encodings[size % len(encodings)]
        values: dict[bytes, list[Any]] = {}
        while len(values) < size:
            value = [_random_value(rng, t) for t in encoding]
            values[leaf_hash(value, encoding)] = value
        cases.append((encoding, list(values.values())))
    return cases


def _json_value(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value


@pytest.fixture(scope="module")
def reference(repo_root: Path) -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None or not (repo_root / "node_modules" / "@openzeppelin" / "merkle-tree").is_dir():
        pytest.fail("node and @openzeppelin/merkle-tree are needed: run `make node-tools`")
    payload = [
        {
            "encoding": encoding,
            "values": [[_json_value(v) for v in value] for value in values],
            "pythonDump": StandardMerkleTree(values, encoding).dump(),
        }
        for encoding, values in _cases()
    ]
    done = subprocess.run(
        [node, str(SCRIPT)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=repo_root,
        timeout=120,
        check=True,
    )
    result: list[dict[str, Any]] = json.loads(done.stdout)
    return result


def test_roots_and_proofs_equal_openzeppelins(reference: list[dict[str, Any]]) -> None:
    for (encoding, values), theirs in zip(_cases(), reference, strict=True):
        tree = StandardMerkleTree(values, encoding)
        assert "0x" + tree.root.hex() == theirs["root"], (encoding, len(values))
        for i in range(len(values)):
            assert ["0x" + p.hex() for p in tree.proof(i)] == theirs["proofs"][i]


def test_dumps_load_both_ways(reference: list[dict[str, Any]]) -> None:
    for (encoding, values), theirs in zip(_cases(), reference, strict=True):
        tree = StandardMerkleTree(values, encoding)
        assert tree.dump() == theirs["dump"]  # the same JSON, field for field
        loaded = StandardMerkleTree.load(theirs["dump"])
        assert loaded.root == tree.root and loaded.proof(len(values) - 1) == tree.proof(
            len(values) - 1
        )
        assert theirs["pythonDumpRoot"] == "0x" + tree.root.hex()
        assert theirs["pythonProofsVerify"] is True


def test_a_tampered_dump_is_refused() -> None:
    tree = StandardMerkleTree([[1], [2], [3]], ["uint256"])
    dump = tree.dump()
    dump["values"][0]["value"] = ["4"]
    with pytest.raises(InvalidInputError, match="does not match its hash"):
        StandardMerkleTree.load(dump)
    dump = tree.dump()
    dump["tree"][0] = "0x" + "00" * 32
    with pytest.raises(InvalidInputError, match="inner node 0"):
        StandardMerkleTree.load(dump)
    with pytest.raises(InvalidInputError, match="standard-v1"):
        StandardMerkleTree.load({**tree.dump(), "format": "simple-v1"})
    with pytest.raises(InvalidInputError, match="shape"):
        StandardMerkleTree.load({**tree.dump(), "tree": tree.dump()["tree"][:-1]})


def test_bad_leaves_and_unknown_proofs_are_clear_errors() -> None:
    with pytest.raises(InvalidInputError, match="at least one leaf"):
        StandardMerkleTree([], ["uint256"])
    with pytest.raises(InvalidInputError, match="cannot be encoded"):
        StandardMerkleTree([["not a number"]], ["uint256"])
    tree = StandardMerkleTree([[1], [2]], ["uint256"])
    with pytest.raises(NotFoundError):
        tree.proof([3])
    with pytest.raises(NotFoundError):
        tree.proof(2)
    assert tree.proof([2]) == tree.proof(1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 2**256 - 1), min_size=1, max_size=70, unique=True))
def test_every_proof_verifies_and_no_other_leaf_does(numbers: list[int]) -> None:
    tree = StandardMerkleTree([[n] for n in numbers], ["uint256"])
    for i, n in enumerate(numbers):
        proof = tree.proof(i)
        assert len(proof) <= len(numbers).bit_length()
        assert verify(tree.root, leaf_hash([n], ["uint256"]), proof)
        # The second-preimage attack fails: an inner node's two children, passed off as
        # a 64-byte leaf, hash to something else, because leaves are hashed twice.
        if proof:
            a, b = sorted((tree.leaf_hash(i), proof[0]))
            assert verify(tree.root, hash_pair(a, b), proof[1:])  # the inner node itself
            assert not verify(tree.root, leaf_hash([a, b], ["bytes32", "bytes32"]), proof[1:])
    outsider = next(v for v in range(len(numbers) + 1) if v not in numbers)
    assert not any(
        verify(tree.root, leaf_hash([outsider], ["uint256"]), tree.proof(i))
        for i in range(len(numbers))
    )
