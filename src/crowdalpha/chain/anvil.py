"""A local anvil node (Foundry's development chain) for the tests, the benchmarks and the
on-chain demo.

The binary comes from the npm registry (``@foundry-rs/anvil-linux-amd64``, pinned in
package.json and installed by ``make node-tools``) into ``node_modules/.bin/anvil``;
``$CROWDALPHA_ANVIL`` points elsewhere. :class:`Anvil` starts it on a free port of
127.0.0.1, waits until it answers, and stops exactly the process it started (by its
PID). Keys are made by the caller and funded with ``anvil_setBalance``: nothing relies on
anvil's well-known development mnemonic.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from crowdalpha.errors import ChainConfigurationError, ChainUnavailableError

__all__ = ["Anvil", "anvil_binary"]


def anvil_binary() -> Path:
    """Where anvil is: ``$CROWDALPHA_ANVIL``, the checkout's node_modules, or the PATH."""
    configured = os.environ.get("CROWDALPHA_ANVIL")
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise ChainConfigurationError(f"CROWDALPHA_ANVIL={configured} is not a file")
        return path
    for parent in (Path.cwd(), *Path(__file__).resolve().parents):
        candidate = parent / "node_modules" / ".bin" / "anvil"
        if candidate.is_file():
            return candidate
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise ChainConfigurationError(
        "anvil is not installed: run `make node-tools` (npm ci installs it from package.json)"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Anvil:
    """One anvil process on 127.0.0.1 (a context manager: started on enter, stopped on
    exit)."""

    def __init__(
        self,
        *,
        chain_id: int = 31337,
        block_time: float | None = None,
        extra_args: tuple[str, ...] = (),
        startup_timeout: float = 20.0,
    ) -> None:
        self.chain_id = chain_id
        self.block_time = block_time
        self.extra_args = extra_args
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise ChainUnavailableError("anvil is not running")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> Anvil:
        binary = anvil_binary()
        for _attempt in range(3):  # another process may take the free port first
            self.port = _free_port()
            args = [
                str(binary),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--chain-id",
                str(self.chain_id),
                "--accounts",
                "1",
                "--silent",
                # keep no old states in memory: anvil slows down as blocks pile up
                "--prune-history",
                *self.extra_args,
            ]
            if self.block_time is not None:
                args += ["--block-time", str(self.block_time)]
            self._process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            if self._wait_ready(self._process):
                return self
            self.stop()
        raise ChainUnavailableError("anvil did not start (three tries on free ports)")

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            try:
                self.rpc("eth_chainId")
                return True
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.02)
        return False

    def stop(self) -> None:
        """Stop the process this object started (and only it)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr is not None:
            process.stderr.close()

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- JSON-RPC helpers (anvil's test methods) ------------------------------------------

    def rpc(self, method: str, *params: Any) -> Any:
        """Call a JSON-RPC method directly (no web3)."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        request = urllib.request.Request(
            self.url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            reply = json.loads(response.read())
        if "error" in reply:
            raise ChainUnavailableError(f"anvil {method}: {reply['error'].get('message')}")
        return reply.get("result")

    def set_balance(self, address: str, wei: int) -> None:
        self.rpc("anvil_setBalance", address, hex(wei))

    def snapshot(self) -> str:
        return str(self.rpc("evm_snapshot"))

    def revert(self, snapshot_id: str) -> None:
        if self.rpc("evm_revert", snapshot_id) is not True:
            raise ChainUnavailableError(f"anvil could not revert to snapshot {snapshot_id}")

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", hex(blocks))

    def increase_time(self, seconds: int) -> None:
        """Move the chain's clock forward (takes effect with the next block)."""
        self.rpc("evm_increaseTime", hex(seconds))

    def set_next_timestamp(self, timestamp: int) -> None:
        self.rpc("evm_setNextBlockTimestamp", hex(timestamp))

    def catch_up(self, timestamp: int) -> None:
        """Mine a block at ``timestamp`` when the chain's clock is behind it (a test's or
        the demo's simulated clock moving the chain along; never backwards)."""
        if timestamp > self.timestamp():
            self.set_next_timestamp(timestamp)
            self.mine()

    def timestamp(self) -> int:
        block = self.rpc("eth_getBlockByNumber", "latest", False)
        return int(block["timestamp"], 16)
