"""Chain settings, keys that never show, identifier encodings, and the compiled artifacts."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from tests.chain.support import key

from crowdalpha.chain.artifacts import Artifact, cache_dir, compile_all, load_artifact
from crowdalpha.chain.encoding import (
    bytes32_from_hex,
    checksum_address,
    id_to_uint,
    onchain_round_id,
    split_round_id,
)
from crowdalpha.chain.settings import ChainSettings
from crowdalpha.errors import ChainConfigurationError, InvalidInputError

KEY = key("settings")
SECRET = KEY.key.hex()


def test_the_configuration_docs_list_every_chain_setting(repo_root: Path) -> None:
    docs = (repo_root / "docs" / "configuration.md").read_text()
    for name, field in ChainSettings.model_fields.items():
        row = next(
            (
                line
                for line in docs.splitlines()
                if line.startswith(f"| `CROWDALPHA_CHAIN_{name.upper()}`")
            ),
            "",
        )
        assert field.description and field.description in row, name


def test_settings_come_from_the_environment_and_never_show_keys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env file
    key_file = tmp_path / "signer.key"
    key_file.write_text(f"  0x{SECRET}\n")
    monkeypatch.setenv("CROWDALPHA_CHAIN_URL", "https://user:pw@node.example:8545/v3/APIKEY?x=1")
    monkeypatch.setenv("CROWDALPHA_CHAIN_SIGNER_KEY_FILE", str(key_file))
    monkeypatch.setenv("CROWDALPHA_CHAIN_OPERATOR_KEY", SECRET)
    monkeypatch.setenv("CROWDALPHA_CHAIN_CONFIRMATIONS", "2")
    settings = ChainSettings()
    assert settings.enabled and settings.confirmations == 2
    assert settings.signer_account().address == KEY.address
    assert settings.operator_account().address == KEY.address
    shown = {row.variable: row for row in settings.described()}
    everything = repr(settings) + str(settings) + " ".join(r.value for r in shown.values())
    assert SECRET not in everything and "APIKEY" not in everything and "pw" not in everything
    assert shown["CROWDALPHA_CHAIN_OPERATOR_KEY"].value == "(set)"
    assert shown["CROWDALPHA_CHAIN_URL"].value == "https://node.example:8545/…"
    assert shown["CROWDALPHA_CHAIN_CONFIRMATIONS"].is_set
    assert not shown["CROWDALPHA_CHAIN_TX_TIMEOUT"].is_set


def test_key_problems_are_clear_and_never_echo_the_key(tmp_path: Path) -> None:
    typo = SECRET[:-1] + "g"
    with pytest.raises(ChainConfigurationError, match="not a private key") as caught:
        ChainSettings(signer_key=typo).signer_account()  # type: ignore[arg-type]
    assert typo not in str(caught.value)
    with pytest.raises(ChainConfigurationError, match="set twice"):
        ChainSettings(
            signer_key=SECRET,  # type: ignore[arg-type]
            signer_key_file=tmp_path / "k",
        ).signer_account()
    with pytest.raises(ChainConfigurationError, match="cannot read"):
        ChainSettings(signer_key_file=tmp_path / "missing").signer_account()
    with pytest.raises(ChainConfigurationError, match="no operator key"):
        ChainSettings().operator_account()
    with pytest.raises(ChainConfigurationError, match="STAKING_ADDRESS"):
        ChainSettings().addresses()
    settings = ChainSettings(
        token_address=KEY.address.lower(), staking_address=key("s").address.lower()
    )
    assert settings.addresses() == (KEY.address, key("s").address)
    assert not ChainSettings().enabled


def test_round_and_model_ids_have_one_encoding() -> None:
    assert onchain_round_id(8, 612) == 8_000_612 and split_round_id(8_000_612) == (8, 612)
    assert onchain_round_id(0, 1) == 1
    for bad in ((8, 0), (8, 10**6), (-1, 3)):
        with pytest.raises(InvalidInputError):
            onchain_round_id(*bad)
    with pytest.raises(InvalidInputError):
        split_round_id(8_000_000)
    some = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert id_to_uint(42) == id_to_uint("42") == 42
    assert id_to_uint(some) == id_to_uint(str(some)) == some.int
    for bad_id in ("model-7", -1, 2**256, True):
        with pytest.raises(InvalidInputError):
            id_to_uint(bad_id)  # type: ignore[arg-type]
    assert bytes32_from_hex("ab" * 32) == bytes32_from_hex("0x" + "AB" * 32) == b"\xab" * 32
    with pytest.raises(InvalidInputError, match="64 hex digits"):
        bytes32_from_hex("ab" * 31)


def test_addresses_are_checksummed_and_typos_caught() -> None:
    address = KEY.address
    assert checksum_address(address.lower()) == address
    wrong = address[:2] + address[2:].swapcase()
    if wrong != address.lower() and wrong != address.upper():
        with pytest.raises(InvalidInputError, match="checksum"):
            checksum_address(wrong)
    with pytest.raises(InvalidInputError, match="not an Ethereum address"):
        checksum_address("0x1234")


def test_artifacts_compile_once_and_match_titanoboas_bytecode(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import boa

    from crowdalpha.chain.artifacts import contracts_dir

    nmr, staking = compile_all()
    assert isinstance(nmr, Artifact) and nmr.compiler == "vyper 0.4.3 + snekmate 0.1.2"
    cached = list(cache_dir().glob("staking-*.json"))
    assert cached and Artifact.from_json(Artifact.to_json(staking)) == staking
    assert any(Artifact.from_json(json.loads(p.read_text())) == staking for p in cached)
    reference = boa.load_partial(str(contracts_dir() / "staking.vy"))
    assert reference.compiler_data.bytecode == staking.bytecode
    with pytest.raises(ChainConfigurationError, match="unknown contract"):
        load_artifact("router")
