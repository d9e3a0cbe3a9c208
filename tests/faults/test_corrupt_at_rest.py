"""Corrupt files at rest: damaged in the store after they were written, they are detected
by the SHA-256 recorded when they were written, reported, and never silently used.

Datasets: each publish writes a manifest (the SHA-256 of every dataset file, the live ids
and the universe). A damaged dataset file is announced with its recorded hash, so the
client refuses the download (``CorruptDownloadError``) instead of training on it;
``crowdalpha check-files`` names it. Damaged live ids — every score is taken over them —
stop the round's resolution with ``corrupt_file`` until the operator restores the file;
the round then resolves as usual.

Prices: the tournament fingerprints every day of the operator's price file it reads
(``home/pipeline/operator/price_days.json``). A file in which such a day was rewritten —
a bad day pasted in, still plausible, positive prices — is refused at start with
``price_history_changed`` naming the day, before any round is built or resolved from it;
appended days are fine.

Submissions keep two files: the file as uploaded (its hash in ``sha256``, checked on every
download) and its predictions over the live ids (``.npy``, its hash in
``predictions_sha256``), which closing and resolution score. A truncated predictions file
and one with a single byte changed (still a valid array: without the hash its garbage
would be scored) make their submissions fail visibly at resolution
(``submission_unreadable``, with the reason), unscored, the stake neither paid nor burned,
while the intact submissions resolve as usual. The decision: one damaged file must
neither be scored nor hold up everyone else's payouts; its owner sees why, the operator's
log says which file to restore.
"""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from tests.faults.conftest import Deployment, predictions
from tests.faults.processes import CLI, Serve
from tests.faults.report import record

from crowdalpha.client import Client, CorruptDownloadError
from crowdalpha.errors import ConflictError, CorruptFileError, PriceHistoryError
from crowdalpha.ledger import TREASURY, nmr
from crowdalpha.market import MarketConfig, simulate_market
from crowdalpha.runtime import open_tournament
from crowdalpha.settings import Settings
from crowdalpha.tournament import Tournament


def _npy(t: Tournament, submission_id: int) -> Path:
    raw = t.submission_key(submission_id)
    path = t.store.local_path(raw.rsplit(".", 1)[0] + ".npy")
    assert path is not None and path.is_file()
    return path


def test_damaged_predictions_at_rest_are_never_scored(
    deployment: Deployment, db_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    with open_tournament(deployment.settings(), migrate=False) as t:
        t.mint(nmr(10_000), to=TREASURY)
        account = t.create_account("cora", "cora@example.org")
        t.grant(account.id, nmr(1_000))
        models = [t.create_model(account.id, f"cora_{i}").id for i in range(4)]
        subs = {}
        for i, m in enumerate(models):
            t.increase_stake(m, nmr(10))
            subs[m] = t.submit(m, predictions(deployment.live_ids, 500 + i)).id
        truncated, flipped, intact = models[0], models[1], models[2:]

        path = _npy(t, subs[truncated])
        path.write_bytes(path.read_bytes()[:-100])
        path = _npy(t, subs[flipped])
        damaged = bytearray(path.read_bytes())
        damaged[-8] ^= 0x01  # one bit of the last prediction: still a valid float64 array
        path.write_bytes(bytes(damaged))
        # the file as uploaded, truncated: its download is refused, not served
        raw = t.store.local_path(t.submission_key(subs[truncated]))
        assert raw is not None
        raw.write_bytes(raw.read_bytes()[:50])
        with pytest.raises(ConflictError, match="does not match the hash"):
            t.submission_file(subs[truncated])

        number = t.rounds()[0].number
        with caplog.at_level("ERROR", logger="crowdalpha.tournament"):
            t.tick(t.round(number).resolves_at + timedelta(hours=1))
        assert t.round(number).state == "resolved"

        states = {s.model_id: s for s in t.submissions(round_number=number)}
        for m in (truncated, flipped):
            assert (states[m].state, states[m].error_code) == ("failed", "submission_unreadable")
            assert "do not match the SHA-256 recorded at upload" in str(states[m].error_message)
            assert not t.scores(model_id=m, round_number=number), "a damaged file was scored"
            assert t.stake_info(m).stake == nmr(10), "a stake moved for an unscored file"
            assert f"submission {subs[m]}: the stored predictions" in caplog.text
        for m in intact:
            assert states[m].state != "failed" and states[m].error_code is None
            assert t.scores(model_id=m, round_number=number)
        report = t.check_ledger()
        assert report.ok
    record(
        "submission predictions damaged at rest (truncated, one bit)",
        db_kind,
        detected=2,
        scored_garbage=0,
        ledger_discrepancies=0 if report.ok else 1,
    )


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_damaged_dataset_file_is_reported_and_refused_by_the_client(
    deployment: Deployment, db_kind: str, tmp_path: Path
) -> None:
    with open_tournament(deployment.settings(), migrate=False) as t:
        published = t.dataset_files(1)
        assert len(published) >= 2 and all(f.sha256 for f in published)
        damaged, intact = published[0], published[1]
        path = t.store.local_path(damaged.key)
        assert path is not None
        _flip(path, path.stat().st_size // 2)  # same size, one byte changed
        assert t.check_files().problems == [
            f"Classic round 1: the stored file {damaged.key!r} does not match the SHA-256 "
            "recorded when it was written (truncated or damaged at rest): restore it from "
            "a backup"
        ]
    checked = subprocess.run(
        [*CLI, "check-files"], env=deployment.env, capture_output=True, text=True, timeout=300
    )
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert damaged.key in checked.stdout and "1 problem(s)" in checked.stdout

    server = Serve(deployment.env, workers=1, log=deployment.home / "serve.log").start()
    try:
        with Client(server.url) as anonymous:
            listed = {f.name: f for f in anonymous.datasets(1)}
            assert listed[damaged.name].sha256 == damaged.sha256  # the hash at publish
            with pytest.raises(CorruptDownloadError):
                anonymous.download_dataset(damaged.name, tmp_path / "damaged", round_number=1)
            assert not (tmp_path / "damaged").exists(), "a damaged download was kept"
            anonymous.download_dataset(intact.name, tmp_path / "intact", round_number=1)
            assert (tmp_path / "intact").stat().st_size == intact.size_bytes
    finally:
        server.stop()
    record("dataset file damaged at rest", db_kind, detected=1, scored_garbage=0)


def test_damaged_live_ids_stop_the_resolution_until_restored(
    deployment: Deployment, db_kind: str
) -> None:
    with open_tournament(deployment.settings(), migrate=False) as t:
        t.mint(nmr(10_000), to=TREASURY)
        account = t.create_account("lena", "lena@example.org")
        t.grant(account.id, nmr(1_000))
        model = t.create_model(account.id, "lena_m").id
        t.increase_stake(model, nmr(10))
        t.submit(model, predictions(deployment.live_ids, 7))
        live_key = "rounds/00001/live_ids.json"  # Classic's (tournament/files.py)
        live = t.store.local_path(live_key)
        assert live is not None
        good = live.read_bytes()
        ids = json.loads(good)
        ids[0], ids[1] = ids[1], ids[0]  # still valid JSON, every id still there
        live.write_bytes(json.dumps(ids).encode())

        due = t.round(1).resolves_at + timedelta(hours=1)
        with pytest.raises(CorruptFileError) as refused:
            t.tick(due)
        assert refused.value.details["key"] == live_key
        assert t.round(1).state != "resolved" and not t.scores(round_number=1)
        assert t.check_ledger().ok

        live.write_bytes(good)  # the operator restores the file
        t.tick(due)
        assert t.round(1).state == "resolved" and t.scores(model_id=model, round_number=1)
        assert t.check_ledger().ok
    record("live ids damaged at rest", db_kind, detected=1, scored_garbage=0)


def test_a_price_file_with_a_rewritten_day_is_refused(tmp_path: Path) -> None:
    market = simulate_market(MarketConfig(n_stocks=20, n_days=80, seed=5)).prices
    days = sorted(market["date"].unique())
    path = tmp_path / "prices.parquet"
    settings = Settings(home=tmp_path / "home", data_source="prices", prices_path=path)
    market[market["date"] <= days[60]].to_parquet(path)
    with open_tournament(settings) as t:  # the days it reads are recorded
        assert t.data is not None
    market.to_parquet(path)  # the market moved on: new days appended
    with open_tournament(settings):
        pass

    bad = market.copy()
    day = days[30]
    one = bad.index[bad["date"] == day][3]
    bad.loc[one, "close"] *= 1.5  # a bad day: positive, plausible, wrong
    bad.to_parquet(path)
    with pytest.raises(PriceHistoryError) as refused:
        open_tournament(settings)
    assert refused.value.details["changed"] == [f"{day:%Y-%m-%d}"]
    assert refused.value.code == "price_history_changed"

    bad[bad["date"] != days[40]].to_parquet(path)  # a day lost
    with pytest.raises(PriceHistoryError, match="missing"):
        open_tournament(settings)
    market.to_parquet(path)  # restored: accepted again
    with open_tournament(settings):
        pass
    record("price file with a rewritten day", "sqlite", detected=2, scored_garbage=0)
