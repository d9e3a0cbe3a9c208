"""The chain settings (``CROWDALPHA_CHAIN_…``): the node, the contracts, and the keys.

Off by default: without ``CROWDALPHA_CHAIN_URL`` crowdalpha keeps NMR in its SQL ledger
only. The keys (the authorization signer's and the operator's) come from the
environment or, better, from a file; they are never shown (``described`` prints
``(set)``), never part of an error message and never in a ``repr``; the node URL is shown
without its path, query or user (hosted nodes put API keys there).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from crowdalpha.chain.encoding import checksum_address
from crowdalpha.errors import ChainConfigurationError
from crowdalpha.settings import SettingValue

if TYPE_CHECKING:  # eth_account takes seconds to import: only when a key is loaded
    from eth_account.signers.local import LocalAccount

__all__ = ["ChainSettings", "load_key"]

_SECRETS = {"signer_key", "operator_key"}


def _public_url(url: str) -> str:
    """``url`` without what may be a credential: a user, a password, or a path or query
    (hosted nodes put the API key there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    hidden = "/…" if (parts.path not in ("", "/") or parts.query) else ""
    return f"{parts.scheme}://{host}{port}{hidden}"


def load_key(secret: SecretStr | None, path: Path | None, *, what: str) -> LocalAccount:
    """The account of a private key given inline or in a file (64 hex digits, ``0x``
    optional, surrounding whitespace ignored). Exactly one of the two must be set."""
    if secret is not None and path is not None:
        raise ChainConfigurationError(
            f"the {what} key is set twice (inline and as a file); keep one"
        )
    if path is not None:
        try:
            text = path.read_text()
        except OSError as exc:
            raise ChainConfigurationError(
                f"cannot read the {what} key file {path}: {exc.strerror}"
            ) from None
    elif secret is not None:
        text = secret.get_secret_value()
    else:
        raise ChainConfigurationError(f"no {what} key is configured")
    from eth_account import Account

    try:
        account: LocalAccount = Account.from_key(text.strip())
    except (ValueError, TypeError):
        # Never echo the value: it may be a key with a typo.
        raise ChainConfigurationError(
            f"the {what} key is not a private key (expected 64 hex digits)"
        ) from None
    return account


class ChainSettings(BaseSettings):
    """``CROWDALPHA_CHAIN_URL``, ``CROWDALPHA_CHAIN_STAKING_ADDRESS``…"""

    model_config = SettingsConfigDict(
        env_prefix="CROWDALPHA_CHAIN_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    url: str | None = Field(
        default=None,
        repr=False,  # may hold an API key
        description="JSON-RPC URL of the EVM node (http:// or https://); unset: NMR stays in "
        "the SQL ledger only.",
    )
    chain_id: int | None = Field(
        default=None,
        ge=1,
        description="The chain id the node must report (a guard against the wrong network); "
        "unset: whatever the node says.",
    )
    token_address: str | None = Field(
        default=None, description="Address of the NMR token contract."
    )
    staking_address: str | None = Field(
        default=None, description="Address of the staking contract."
    )
    start_block: int = Field(
        default=0, ge=0, description="First block the event indexer reads (the deployment's)."
    )
    confirmations: int = Field(
        default=12,
        ge=0,
        description="Blocks an event must be buried under before the indexer takes it.",
    )
    signer_key: SecretStr | None = Field(
        default=None,
        description="Private key that signs stake authorizations (prefer signer_key_file).",
    )
    signer_key_file: Path | None = Field(
        default=None, description="File holding the authorization signer's private key."
    )
    operator_key: SecretStr | None = Field(
        default=None,
        description="Private key of the contracts' owner, which opens and resolves rounds "
        "(prefer operator_key_file).",
    )
    operator_key_file: Path | None = Field(
        default=None, description="File holding the operator's private key."
    )
    authorization_ttl: int = Field(
        default=3600,
        gt=0,
        description="Seconds a stake authorization stays valid after it is issued.",
    )
    max_priority_fee: int = Field(
        default=10**9,
        ge=0,
        description="Priority fee (tip) per gas of the platform's transactions, in wei.",
    )
    tx_timeout: float = Field(
        default=120.0,
        gt=0,
        description="Seconds to wait for a transaction's receipt before giving up.",
    )

    @property
    def enabled(self) -> bool:
        return self.url is not None

    def signer_account(self) -> LocalAccount:
        return load_key(self.signer_key, self.signer_key_file, what="authorization signer")

    def operator_account(self) -> LocalAccount:
        return load_key(self.operator_key, self.operator_key_file, what="operator")

    def addresses(self) -> tuple[str, str]:
        """``(token, staking)``, both required once the chain is used."""
        if self.token_address is None or self.staking_address is None:
            raise ChainConfigurationError(
                "CROWDALPHA_CHAIN_TOKEN_ADDRESS and CROWDALPHA_CHAIN_STAKING_ADDRESS must be "
                "set (run `crowdalpha chain deploy` to create the contracts)"
            )
        return (
            checksum_address(self.token_address, name="token address"),
            checksum_address(self.staking_address, name="staking address"),
        )

    def described(self) -> list[SettingValue]:
        """Every setting with its variable and value; keys are never shown."""
        rows = []
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if name in _SECRETS:
                shown = "(set)" if value is not None else "(unset)"
            elif name == "url" and value is not None:
                shown = _public_url(value)
            else:
                shown = "(unset)" if value is None else str(value)
            rows.append(
                SettingValue(
                    name=name,
                    variable=f"CROWDALPHA_CHAIN_{name.upper()}",
                    value=shown,
                    is_set=name in self.model_fields_set,
                    description=field.description or "",
                )
            )
        return rows
