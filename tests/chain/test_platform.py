"""The tournament on a real chain (anvil), end to end: numerapi 3.1.1 unchanged against a
crowdalpha server with the chain on; participants holding only a key, web3 and the ABIs
stake, wait for resolution and claim; deposits and withdrawals move between their linked
wallets and the SQL ledger; ``check`` finds the books equal; the events in the database
survive a reorganization."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import numerapi
import numerapi.base_api
import pytest
from tests.chain.platform_support import ChainTournament, Wallet, skilled_csv
from tests.chain.support import NMR, AnvilChain
from tests.conftest import fresh_engine
from tests.live_server import ServerThread
from web3.exceptions import ContractLogicError

from crowdalpha.chain.contracts import RoundState
from crowdalpha.chain.indexer import Indexer
from crowdalpha.chain.store import SqlEventStore
from crowdalpha.chain.view import ChainView
from crowdalpha.errors import ChainTransactionError, PermissionDeniedError
from crowdalpha.server.app import create_app
from crowdalpha.settings import Settings
from crowdalpha.tournament import RoundState as CoreRoundState


@pytest.fixture
def ct(chain: AnvilChain, tmp_path: Path) -> Iterator[ChainTournament]:
    engine = fresh_engine("sqlite", tmp_path)
    yield ChainTournament(chain, engine, tmp_path / "home")
    engine.dispose()


@pytest.fixture
def server(ct: ChainTournament, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    thread = ServerThread()
    settings = Settings(
        home=tmp_path / "home",
        tick_interval=0,
        public_url=thread.url,
        rate_limit_per_minute=0,
        signing_key="test-signing-key",  # type: ignore[arg-type]
    )
    thread.start(create_app(ct.tournament, settings, background=False, chain=ct.platform))
    monkeypatch.setattr(numerapi.base_api, "API_TOURNAMENT_URL", f"{thread.url}/graphql")
    try:
        yield thread.url
    finally:
        thread.stop()


def participant(ct: ChainTournament, name: str) -> tuple[numerapi.NumerAPI, int, int]:
    t = ct.tournament
    account = t.create_account(name, f"{name}@example.org")
    public, secret = t.create_api_key(account.id, scopes=("read", "upload", "stake"), name="k")
    model = t.create_model(account.id, f"{name}_model")
    napi = numerapi.NumerAPI(public.public_id, secret, show_progress_bars=False)
    return napi, account.id, model.id


def resolve_round(ct: ChainTournament, number: int) -> None:
    for _ in range(60):
        if ct.tournament.round(number).state == CoreRoundState.RESOLVED.value:
            return
        ct.advance(timedelta(days=1))
    raise AssertionError(f"round {number} did not resolve")


def test_numerapi_stake_resolve_claim_deposit_withdraw_on_chain(
    ct: ChainTournament, server: str
) -> None:
    t, platform = ct.tournament, ct.platform
    first = ct.tick()
    round_id = platform.round_id(1)
    assert first.opened == [round_id]
    assert platform.onchain_round(round_id).state is RoundState.OPEN

    alice_api, alice_id, alice_model = participant(ct, "alice")
    bob_api, bob_id, bob_model = participant(ct, "bob")
    alice, bob = Wallet.of(ct.chain, "alice wallet"), Wallet.of(ct.chain, "bob wallet")
    for wallet in (alice, bob):
        ct.fund(wallet, 100 * NMR)
    alice_sub = t.submit(alice_model, skilled_csv(t, ct.data, 1, 3.0))
    bob_sub = t.submit(bob_model, skilled_csv(t, ct.data, 1, -3.0))  # anti-skilled: burns
    # The same stake in the SQL ledger too: its payout is the reference for the chain's.
    t.grant(alice_id, 50 * NMR)
    t.increase_stake(alice_model, 20 * NMR)

    config = alice_api.v3_stake_config()
    assert config == {
        "address": platform.staking.address,
        "authorizationSigner": platform.signer.address,
        "nmrAddress": platform.token.address,
        "owner": ct.chain.operator.address,
        "paused": False,
        "pendingOwner": None,
        "serviceWallet": ct.chain.operator.address,
    }

    # Linking a wallet: signed by the wallet itself; then only it may stake for alice.
    platform.link_wallet(alice_id, alice.address, alice.sign_link("alice"))
    with pytest.raises(ValueError, match="permission_denied"):
        alice_api.v3_stake_auth(str(alice_sub.id), bob.address, max_amount="30")
    with pytest.raises(ValueError, match="another account"):  # bob's submission
        alice_api.v3_stake_auth(str(bob_sub.id), alice.address, max_amount="30")

    auth = alice_api.v3_stake_auth(str(alice_sub.id), alice.address, max_amount="30")
    assert auth["maxAmount"] == auth["amount"] == str(30 * NMR)
    assert auth["roundId"] == str(round_id) and auth["modelId"] == str(alice_model)
    assert auth["submissionHash"] == "0x" + alice_sub.sha256
    assert auth["stakingAddress"] == config["address"] and auth["chainId"] == "31337"
    alice.stake(auth, 20 * NMR)
    with pytest.raises(ContractLogicError, match="authorization already used"):
        alice.stake(auth, 5 * NMR)  # the same authorization twice: refused by the contract
    bob.stake(bob_api.v3_stake_auth(str(bob_sub.id), bob.address, amount=10), 10 * NMR)

    ct.tick()
    open_round = bob_api.v3_stake_round(round_id)
    assert open_round["state"] == "open" and open_round["resolved"] is False
    assert open_round["totalStaked"] == str(30 * NMR) and open_round["merkleRoot"] is None
    assert bob_api.v3_stake_round(1) == open_round  # by the round's number too
    with pytest.raises(ValueError, match="not_found"):
        bob_api.v3_stake_claim(round_id, str(bob_model), bob.address)

    resolve_round(ct, 1)
    settlement = platform.settlement(round_id)
    assert settlement is not None and platform.onchain_round(round_id).resolved
    resolved = alice_api.v3_stake_round(round_id)
    assert resolved["resolved"] is True and resolved["state"] == "resolved"
    assert resolved["merkleRoot"] == "0x" + settlement.root.hex()
    assert int(resolved["totalPayout"]) == settlement.total_payout
    # The chain's result for alice's model is the SQL path's for the same stake.
    (sql_payout,) = t.payouts(model_id=alice_model, round_number=1)
    alice_result = settlement.result(alice_model)
    assert sql_payout.stake_at_risk == alice_result.stake == 20 * NMR
    chain_change = alice_result.reward if alice_result.burn == 0 else -alice_result.burn
    assert chain_change == sql_payout.amount != 0
    bob_result = settlement.result(bob_model)
    assert bob_result.burn > 0  # anti-skill loses part of its stake

    # Claims: each wallet with its proof; a second claim is refused.
    claims = {}
    for api, wallet, model in ((alice_api, alice, alice_model), (bob_api, bob, bob_model)):
        claim = api.v3_stake_claim(round_id, str(model), wallet.address)
        assert claim["merkleRoot"] == resolved["merkleRoot"] and claim["tournamentId"] == "8"
        before = wallet.balance()
        wallet.claim(claim)
        assert wallet.balance() == before + int(claim["payoutAmountWei"])
        claims[model] = claim
    with pytest.raises(ContractLogicError, match="already claimed"):
        alice.claim(claims[alice_model])
    assert int(claims[bob_model]["burnAmountWei"]) == bob_result.burn

    # Deposits from the linked wallet to the platform's, credited in the SQL ledger once.
    wallet_before = t.wallet_balance(alice_id)
    alice.send(alice.nmr.functions.transfer(platform.custody_address, 5 * NMR))
    assert len(ct.tick().deposits) == 1
    assert ct.tick().deposits == []
    assert t.wallet_balance(alice_id) == wallet_before + 5 * NMR
    # Withdrawals: SQL wallet debited, NMR paid on chain; a retry pays nothing more.
    on_chain = alice.balance()
    tx = platform.withdraw(alice_id, 2 * NMR, key="w1")
    assert platform.withdraw(alice_id, 2 * NMR, key="w1") == tx
    assert alice.balance() == on_chain + 2 * NMR
    assert t.wallet_balance(alice_id) == wallet_before + 3 * NMR
    with pytest.raises(PermissionDeniedError, match="no linked wallet"):
        platform.withdraw(bob_id, NMR, key="w2")

    ct.tick()
    assert platform.check() == []
    assert t.check_ledger().ok


def test_check_lists_a_settlement_that_disagrees_with_the_chain(ct: ChainTournament) -> None:
    t, platform = ct.tournament, ct.platform
    ct.tick()
    _, _, model = participant(ct, "carol")
    wallet = Wallet.of(ct.chain, "carol wallet")
    ct.fund(wallet, 10 * NMR)
    sub = t.submit(model, skilled_csv(t, ct.data, 1, 1.0))
    signed = platform.authorize(sub.id, wallet.address, 5 * NMR)
    wallet.stake(signed.describe(), 5 * NMR)
    resolve_round(ct, 1)
    assert platform.check() == []
    # A root posted behind the platform's back cannot happen (the root is posted once);
    # a stored settlement edited afterwards is reported.
    from sqlalchemy.orm import Session

    from crowdalpha.chain.settlement import StakeResult, build_settlement
    from crowdalpha.db.chain_tables import ChainSettlementRow

    rid = platform.round_id(1)
    real = platform.settlement(rid)
    assert real is not None
    (result,) = real.results
    forged = build_settlement(
        rid,
        [
            StakeResult(
                staker=result.staker,
                model_id=result.model_id,
                submission_id=result.submission_id,
                stake=result.stake,
                payout=result.payout + 1,
                burn=result.burn,
            )
        ],
    )
    with Session(t.engine) as session, session.begin():
        row = session.get(ChainSettlementRow, rid)
        assert row is not None
        row.document = forged.to_json()
    kinds = {d.kind for d in platform.check()}
    assert {"merkle_root", "total_payout"} <= kinds
    with pytest.raises(ChainTransactionError):  # and a second root is refused on chain
        platform.staking.post_root(platform.operator, forged)


def test_events_in_the_database_follow_a_reorganization(
    ct: ChainTournament, tmp_path: Path
) -> None:
    chain, platform = ct.chain, ct.platform
    ct.tick()
    store = platform.store
    fork = chain.anvil.snapshot()
    a = Wallet.of(chain, "reorg a")
    ct.fund(a, 3 * NMR)
    platform.sync()
    orphan = [e for e in store.events() if e.name == "Transfer" and e.args["receiver"] == a.address]
    assert len(orphan) == 1
    chain.anvil.revert(fork)
    chain.operator.reset_nonce()
    b = Wallet.of(chain, "reorg b")
    ct.fund(b, 4 * NMR)
    update, _ = platform.sync()
    assert orphan[0].key in {e.key for e in update.removed}
    assert platform.sync()[0].added == ()  # idempotent
    # The database holds exactly what a fresh index of the new chain holds.
    (tmp_path / "fresh").mkdir()
    fresh = SqlEventStore(fresh_engine("sqlite", tmp_path / "fresh"))
    Indexer(
        chain.w3,
        token=chain.token.address,
        staking=chain.staking.address,
        store=fresh,
        start_block=chain.deployment.block,
        confirmations=0,
    ).poll()
    assert [e.key for e in store.events()] == [e.key for e in fresh.events()]
    assert ChainView.from_events(store.events()).supply == chain.token.total_supply()


def test_the_cli_stakes_claims_shows_and_checks(
    ct: ChainTournament, server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from crowdalpha.cli.commands import app

    t, chain = ct.tournament, ct.chain
    ct.tick()
    account = t.create_account("dave", "dave@example.org")
    public, secret = t.create_api_key(account.id, scopes=("read", "upload", "stake"), name="k")
    model = t.create_model(account.id, "dave_model")
    sub = t.submit(model.id, skilled_csv(t, ct.data, 1, 2.0))
    wallet = Wallet.of(chain, "dave wallet")
    ct.fund(wallet, 10 * NMR)
    key_file = tmp_path / "dave.key"
    key_file.write_text(wallet.account.key.hex())
    for name, value in {
        "CROWDALPHA_PUBLIC_ID": public.public_id,
        "CROWDALPHA_SECRET_KEY": secret,
        "CROWDALPHA_SERVER_URL": server,
        "CROWDALPHA_CHAIN_URL": chain.anvil.url,
        "CROWDALPHA_CHAIN_TOKEN_ADDRESS": chain.token.address,
        "CROWDALPHA_CHAIN_STAKING_ADDRESS": chain.staking.address,
        "CROWDALPHA_CHAIN_START_BLOCK": str(chain.deployment.block),
        "CROWDALPHA_CHAIN_CONFIRMATIONS": "0",
        "CROWDALPHA_CONFIG_DIR": str(tmp_path / "config"),
    }.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    db = ["--database-url", f"sqlite:///{tmp_path / 'crowdalpha.db'}", "--home", str(tmp_path)]

    def run(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    out = run("chain", "stake", str(sub.id), "4", "--key-file", str(key_file))
    assert "staked 4 NMR" in out
    assert chain.staking.stake_of(ct.platform.round_id(1), model.id) == (wallet.address, 4 * NMR)
    resolve_round(ct, 1)
    shown = run("chain", "round", "1", *db)
    assert "resolved" in shown and str(model.id) in shown and " no" in shown
    before = wallet.balance()
    assert "claimed" in run("chain", "claim", "1", str(model.id), "--key-file", str(key_file))
    settled = ct.platform.settlement(ct.platform.round_id(1))
    assert settled is not None
    result = settled.result(model.id)
    assert wallet.balance() == before + result.payout
    ct.tick()
    assert "yes" in run("chain", "round", "1", *db)
    # The web UI's round page shows the root, the totals and each model's claim state.
    page = httpx.get(f"{server}/rounds/1").text
    assert settled.root.hex() in page and 'id="onchain-models"' in page
    assert ">claimed<" in page and "1 of 1" in page
    assert "no difference" in run("chain", "check", *db)
    again = runner.invoke(app, ["chain", "claim", "1", str(model.id), "--key-file", str(key_file)])
    assert isinstance(again.exception, ChainTransactionError)
    assert "already claimed" in str(again.exception)
