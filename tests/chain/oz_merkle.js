// Reference trees for tests/chain/test_merkle.py, built by OpenZeppelin's own library
// (@openzeppelin/merkle-tree, pinned in package.json). Reads a JSON list of cases
// {encoding, values, pythonDump} on stdin; writes, for each, the root, the proof of every
// value, OpenZeppelin's dump, and whether OpenZeppelin accepts the Python dump.
"use strict";
const { StandardMerkleTree } = require("@openzeppelin/merkle-tree");

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const cases = JSON.parse(input);
  const out = cases.map(({ encoding, values, pythonDump }) => {
    const tree = StandardMerkleTree.of(values, encoding);
    const loaded = StandardMerkleTree.load(pythonDump);
    loaded.validate();
    return {
      root: tree.root,
      proofs: values.map((_, i) => tree.getProof(i)),
      dump: tree.dump(),
      pythonDumpRoot: loaded.root,
      pythonProofsVerify: values.every((v, i) =>
        StandardMerkleTree.verify(loaded.root, encoding, v, loaded.getProof(i)),
      ),
    };
  });
  process.stdout.write(JSON.stringify(out));
});
