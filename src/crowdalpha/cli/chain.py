"""``crowdalpha chain``: NMR and staking on an EVM chain (optional; see docs/chain.md).

Operator commands read ``CROWDALPHA_CHAIN_*`` (the node, the contracts, the keys) and the
tournament's settings: ``deploy``, ``status``, ``sync``, ``check``, ``round``, ``link``,
``withdraw``. Participant commands need only a key file, the server (the saved login) and
a node URL: ``stake``, ``claim``, ``link-message``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from crowdalpha.cli.operator import DatabaseOption, HomeOption, settings_from
from crowdalpha.errors import ChainConfigurationError, InvalidInputError
from crowdalpha.units import format_nmr

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from crowdalpha.chain.participant import ParticipantWallet, StakingClient
    from crowdalpha.chain.platform import ChainPlatform
    from crowdalpha.chain.settings import ChainSettings
    from crowdalpha.tournament import Tournament

console = Console()
chain_app = typer.Typer(
    help="NMR and staking on an EVM chain: deploy, follow, settle, check; stake and claim.",
    no_args_is_help=True,
)

KeyFileOption = Annotated[
    Path, typer.Option("--key-file", help="File holding your wallet's private key (hex).")
]
NodeOption = Annotated[
    str | None,
    typer.Option("--node", help="The chain's JSON-RPC URL (default $CROWDALPHA_CHAIN_URL)."),
]


def _chain_settings() -> ChainSettings:
    from crowdalpha.chain.settings import ChainSettings

    settings = ChainSettings()
    if not settings.enabled:
        raise ChainConfigurationError(
            "the chain is off: set CROWDALPHA_CHAIN_URL (and the contracts' addresses, which "
            "`crowdalpha chain deploy` prints)"
        )
    return settings


def _open(home: Path | None, database_url: str | None) -> tuple[Tournament, ChainPlatform]:
    from crowdalpha.chain.platform import ChainPlatform
    from crowdalpha.runtime import open_tournament

    tournament = open_tournament(settings_from(home, database_url))
    return tournament, ChainPlatform(tournament, _chain_settings())


def _key(path: Path) -> LocalAccount:
    from crowdalpha.chain.settings import load_key

    return load_key(None, path, what="wallet")


@chain_app.command("deploy")
def deploy(
    mint: Annotated[
        str, typer.Option(help="NMR to mint to the operator (the service wallet) at once.")
    ] = "0",
    out: Annotated[
        Path | None, typer.Option(help="Also write the deployment as JSON to this file.")
    ] = None,
) -> None:
    """Deploy the NMR token and the staking contract, owned by the operator key; the
    service wallet (the operator) approves the staking contract for the rewards it pays.
    Prints the CROWDALPHA_CHAIN_* variables that point crowdalpha at them."""
    from crowdalpha.chain.contracts import NMRToken, Staking
    from crowdalpha.chain.deploy import deploy as deploy_contracts
    from crowdalpha.chain.transactions import Sender, connect
    from crowdalpha.ledger import to_base_units

    settings = _chain_settings()
    assert settings.url is not None
    w3 = connect(settings.url, chain_id=settings.chain_id)
    operator = Sender(w3, settings.operator_account(), max_priority_fee=settings.max_priority_fee)
    signer = settings.signer_account().address
    deployment = deploy_contracts(operator, authorization_signer=signer)
    token = NMRToken(w3, deployment.token)
    token.approve(operator, deployment.staking, 2**256 - 1)
    amount = to_base_units(mint)
    if amount:
        token.mint(operator, operator.address, amount)
    Staking(w3, deployment.staking).config()  # read back
    if out is not None:
        out.write_text(json.dumps(deployment.to_json(), indent=2) + "\n")
    console.print(f"deployed on chain {deployment.chain_id} at block {deployment.block}:")
    for name, value in deployment.environment().items():
        console.print(f"{name}={value}", highlight=False)


@chain_app.command("status")
def status(home: HomeOption = None, database_url: DatabaseOption = None) -> None:
    """The chain settings (keys never shown), the contracts and the indexer's head."""
    settings = _chain_settings()
    for row in settings.described():
        console.print(f"{row.variable} = {row.value}", highlight=False)
    t, platform = _open(home, database_url)
    with t:
        config = platform.staking.config()
        head = platform.store.head()
        console.print(
            f"staking {config.address} (owner {config.owner}, paused {config.paused}); "
            f"NMR {config.nmr_address}, supply {format_nmr(platform.token.total_supply())}; "
            f"indexed to block {head.number if head else '—'}",
            highlight=False,
        )


@chain_app.command("sync")
def sync(home: HomeOption = None, database_url: DatabaseOption = None) -> None:
    """Index the contracts' confirmed events, credit deposits, open the open rounds on
    chain and post the roots of resolved rounds (what every tick does after the round
    clock)."""
    t, platform = _open(home, database_url)
    with t:
        done = platform.after_tick()
    console.print(
        f"{done.indexed} event(s) indexed, {done.orphaned} orphaned; "
        f"{len(done.deposits)} deposit(s) credited; opened {done.opened or 'no round'}; "
        f"settled {done.settled or 'no round'}"
    )


@chain_app.command("check")
def check(home: HomeOption = None, database_url: DatabaseOption = None) -> None:
    """Compare the platform's books with the chain; exit 1 with every difference listed."""
    t, platform = _open(home, database_url)
    with t:
        differences = platform.check()
    if not differences:
        console.print("[green]the books and the chain agree[/]: no difference")
        return
    table = Table("what", "where", "off chain", "on chain", title="differences")
    for d in differences:
        table.add_row(d.kind, d.subject, str(d.off_chain), str(d.on_chain))
    console.print(table)
    raise typer.Exit(1)


@chain_app.command("round")
def round_(
    number: Annotated[int, typer.Argument(help="The round's number (or its on-chain id).")],
    home: HomeOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """A round on chain: state, root, totals, and each model's stake and claim state."""
    t, platform = _open(home, database_url)
    with t:
        summary = platform.round_summary(platform.parse_round(number))
    console.print(
        f"round {summary.round_id}: {summary.state}; staked {format_nmr(summary.total_staked)} "
        f"NMR; root {summary.merkle_root or '—'}; payout {format_nmr(summary.total_payout)}, "
        f"burn {format_nmr(summary.total_burn)}",
        highlight=False,
    )
    table = Table("model", "staker", "stake", "payout", "burn", "claimed")
    for row in summary.models:
        table.add_row(
            str(row.model_id),
            row.staker,
            format_nmr(row.stake),
            "—" if row.payout is None else format_nmr(row.payout),
            "—" if row.burn is None else format_nmr(row.burn),
            "yes" if row.claimed else "no",
        )
    console.print(table)


@chain_app.command("link-message")
def link_message_command(
    username: Annotated[str, typer.Argument(help="Your account's username.")],
    key_file: KeyFileOption,
) -> None:
    """Sign the message that links your wallet to your account; give the operator the
    address and signature (``crowdalpha chain link``)."""
    from eth_account.messages import encode_defunct

    from crowdalpha.chain.platform import link_message

    account = _key(key_file)
    text = link_message(username, account.address)
    signature = account.sign_message(encode_defunct(text=text)).signature
    console.print(f"message:   {text}", highlight=False)
    console.print(f"address:   {account.address}", highlight=False)
    console.print(f"signature: 0x{bytes(signature).hex()}", highlight=False)


@chain_app.command("link")
def link(
    username: Annotated[str, typer.Argument(help="The account.")],
    address: Annotated[str, typer.Argument(help="The wallet.")],
    signature: Annotated[str, typer.Argument(help="The wallet's signature (link-message).")],
    home: HomeOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Link a wallet to an account (checked against the wallet's signature)."""
    t, platform = _open(home, database_url)
    with t:
        account = t.account_by_username(username)
        linked = platform.link_wallet(account.id, address, signature)
    console.print(f"{linked} is {username}'s wallet: its deposits to the platform are credited")


@chain_app.command("withdraw")
def withdraw(
    username: Annotated[str, typer.Argument(help="The account.")],
    amount: Annotated[str, typer.Argument(help="NMR, e.g. 12.5.")],
    key: Annotated[str, typer.Option(help="Idempotency key: a retry pays once.")],
    home: HomeOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Pay NMR from an account's platform wallet to its linked wallet on chain."""
    from crowdalpha.ledger import to_base_units

    t, platform = _open(home, database_url)
    with t:
        account = t.account_by_username(username)
        tx = platform.withdraw(account.id, to_base_units(amount), key=key)
    console.print(f"withdrawn {amount} NMR to {username}'s wallet: transaction {tx}")


# -- participants ------------------------------------------------------------------------


def _participant(key_file: Path, node: str | None) -> tuple[StakingClient, ParticipantWallet]:
    from crowdalpha.chain.participant import ParticipantWallet, StakingClient
    from crowdalpha.chain.settings import ChainSettings
    from crowdalpha.chain.transactions import connect
    from crowdalpha.cli.participant import _saved_or_env_credentials

    url = node or ChainSettings().url
    if url is None:
        raise InvalidInputError("give the chain's node with --node (or $CROWDALPHA_CHAIN_URL)")
    credentials, _source = _saved_or_env_credentials()
    client = StakingClient(credentials.url, credentials.public_id, credentials.secret_key)
    wallet = ParticipantWallet(connect(url), _key(key_file), client.config())
    return client, wallet


@chain_app.command("stake")
def stake(
    submission_id: Annotated[str, typer.Argument(help="Your submission in the open round.")],
    amount: Annotated[str, typer.Argument(help="NMR to stake, e.g. 25.")],
    key_file: KeyFileOption,
    node: NodeOption = None,
) -> None:
    """Stake NMR from your wallet on a submission: the server authorizes, your key pays."""
    from crowdalpha.ledger import to_base_units

    client, wallet = _participant(key_file, node)
    auth = client.authorize(submission_id, wallet.address, amount)
    receipt = wallet.stake(auth, to_base_units(amount))
    console.print(
        f"staked {amount} NMR on submission {submission_id} (model {auth['modelId']}) in "
        f"round {auth['roundId']}: transaction {receipt['transactionHash'].to_0x_hex()}",
        highlight=False,
    )


@chain_app.command("claim")
def claim(
    round_id: Annotated[str, typer.Argument(help="The round (number or on-chain id).")],
    model_id: Annotated[str, typer.Argument(help="Your model's id.")],
    key_file: KeyFileOption,
    node: NodeOption = None,
) -> None:
    """Claim a model's payout in a settled round to your wallet."""
    client, wallet = _participant(key_file, node)
    if int(round_id) < 10**6:
        round_id = str(8 * 10**6 + int(round_id))
    found = client.claim(round_id, model_id, wallet.address)
    receipt = wallet.claim(found)
    console.print(
        f"claimed {format_nmr(int(found['payoutAmountWei']))} NMR (burned "
        f"{format_nmr(int(found['burnAmountWei']))}): transaction "
        f"{receipt['transactionHash'].to_0x_hex()}",
        highlight=False,
    )
