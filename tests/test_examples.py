"""The example model runs on a real (small) round and writes a valid submission."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from crowdalpha.dataset.build import BuildConfig, build_round
from crowdalpha.dataset.features import FeatureConfig
from crowdalpha.dataset.obfuscate import Vault
from crowdalpha.dataset.targets import TargetConfig
from crowdalpha.market import MarketConfig, simulate_market
from crowdalpha.submissions import load_and_validate

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "example_model.py"


def test_the_example_model_trains_scores_and_writes_a_valid_submission(tmp_path: Path) -> None:
    prices = simulate_market(MarketConfig(n_stocks=150, n_days=400, seed=2)).prices
    features = FeatureConfig(
        momentum_windows=(5, 20, 60),
        reversal_windows=(5,),
        volatility_windows=(20, 60),
        volume_windows=(5, 20),
        beta_windows=(60,),
        lags=(0, 1),
        small_set_size=10,
    )
    config = BuildConfig(
        features=features,
        targets=TargetConfig(styles=("size", "vol_60", "beta_60"), beta_style="beta_60"),
        validation_eras=6,
    )
    public = tmp_path / "v5.0"
    build_round(
        prices,
        out_dir=public,
        operator_dir=tmp_path / "op",
        vault=Vault.create(),
        round_number=1,
        config=config,
    )
    out = tmp_path / "predictions.csv"
    proc = subprocess.run(
        [
            sys.executable,
            str(EXAMPLE),
            "--data",
            str(public),
            "--out",
            str(out),
            "--feature-set",
            "all",
            "--era-stride",
            "2",
            "--n-estimators",
            "60",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "validation CORR: mean" in proc.stdout
    live = pd.read_parquet(public / "live.parquet", columns=["era"])
    accepted = load_and_validate(out.read_bytes(), list(live.index), filename=out.name)
    assert accepted.live_rows == len(live)
