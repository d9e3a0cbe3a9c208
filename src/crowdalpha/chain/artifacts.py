"""The compiled contracts: ABI and bytecode, built from ``contracts/*.vy`` on this machine.

Nothing is downloaded and nothing compiled is committed: the first use of a contract
compiles its source with the pinned Vyper compiler (``vyper==0.4.3``, the pinned
``snekmate`` modules found on ``sys.path``) and keeps the result in a cache folder, keyed
by the source's hash and both versions, so a changed source or compiler recompiles.
``make contracts`` warms the cache ahead of the tests and the demo.

The cache folder is ``$CROWDALPHA_CONTRACTS_CACHE``, else ``$XDG_CACHE_HOME/crowdalpha/
contracts``, else ``~/.cache/crowdalpha/contracts``. Writes are atomic (a temporary file
renamed into place), so parallel test workers may compile at the same time.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from crowdalpha.errors import ChainConfigurationError

__all__ = ["CONTRACTS", "Artifact", "cache_dir", "compile_all", "contracts_dir", "load_artifact"]

CONTRACTS = ("nmr", "staking")
"""The contracts crowdalpha deploys: the NMR token and the staking contract."""


@dataclass(frozen=True)
class Artifact:
    """One compiled contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes  # initcode (deployment)
    bytecode_runtime: bytes  # the code the chain keeps
    compiler: str  # "vyper 0.4.3 + snekmate 0.1.2"
    source_sha256: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "abi": self.abi,
            "bytecode": "0x" + self.bytecode.hex(),
            "bytecode_runtime": "0x" + self.bytecode_runtime.hex(),
            "compiler": self.compiler,
            "source_sha256": self.source_sha256,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Artifact:
        return cls(
            name=data["name"],
            abi=data["abi"],
            bytecode=bytes.fromhex(data["bytecode"].removeprefix("0x")),
            bytecode_runtime=bytes.fromhex(data["bytecode_runtime"].removeprefix("0x")),
            compiler=data["compiler"],
            source_sha256=data["source_sha256"],
        )


def contracts_dir() -> Path:
    """Where the ``.vy`` sources are: inside the installed package (a wheel) or at the
    root of a source checkout."""
    packaged = Path(__file__).parent / "contracts"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[3] / "contracts"
    if checkout.is_dir():
        return checkout
    raise ChainConfigurationError(  # pragma: no cover - a broken installation
        "the contract sources are missing: neither the package nor the checkout has contracts/"
    )


def cache_dir() -> Path:
    """The folder compiled artifacts are kept in (see the module docstring)."""
    configured = os.environ.get("CROWDALPHA_CONTRACTS_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "crowdalpha" / "contracts"


def _compiler() -> str:
    return f"vyper {importlib.metadata.version('vyper')} + snekmate {_snekmate_version()}"


def _snekmate_version() -> str:
    try:
        return importlib.metadata.version("snekmate")
    except importlib.metadata.PackageNotFoundError:
        raise ChainConfigurationError(
            "the snekmate modules are not installed; install crowdalpha[chain]"
        ) from None


def _source(name: str) -> Path:
    if name not in CONTRACTS:
        raise ChainConfigurationError(f"unknown contract {name!r}; expected one of {CONTRACTS}")
    return contracts_dir() / f"{name}.vy"


def _compile(path: Path) -> dict[str, Any]:
    try:
        from vyper.compiler import compile_from_file_input
        from vyper.compiler.input_bundle import FilesystemInputBundle
    except ImportError:  # pragma: no cover - the chain extra is not installed
        raise ChainConfigurationError(
            "the Vyper compiler is not installed; install crowdalpha[chain]"
        ) from None
    # Lowest precedence first: sys.path (where snekmate is), then the contracts folder.
    search = [Path(p) for p in reversed(sys.path) if p and Path(p).is_dir()]
    bundle = FilesystemInputBundle([*search, path.parent])
    output: dict[str, Any] = compile_from_file_input(
        bundle.load_file(path),
        input_bundle=bundle,
        output_formats=["abi", "bytecode", "bytecode_runtime"],
    )
    return output


@cache
def load_artifact(name: str) -> Artifact:
    """The compiled contract ``name`` (``"nmr"`` or ``"staking"``), compiling it on first
    use; later calls in any process read the cache."""
    path = _source(name)
    source = path.read_bytes()
    compiler = _compiler()
    digest = hashlib.sha256(compiler.encode() + b"\0" + source).hexdigest()
    cached = cache_dir() / f"{name}-{digest[:16]}.json"
    if cached.exists():
        return Artifact.from_json(json.loads(cached.read_text()))
    output = _compile(path)
    artifact = Artifact(
        name=name,
        abi=output["abi"],
        bytecode=bytes.fromhex(output["bytecode"].removeprefix("0x")),
        bytecode_runtime=bytes.fromhex(output["bytecode_runtime"].removeprefix("0x")),
        compiler=compiler,
        source_sha256=hashlib.sha256(source).hexdigest(),
    )
    cached.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cached.parent, prefix=f".{name}-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(artifact.to_json(), fh)
    os.replace(tmp, cached)
    return artifact


def compile_all() -> list[Artifact]:
    """Compile (or read from the cache) every contract crowdalpha deploys."""
    return [load_artifact(name) for name in CONTRACTS]
