"""The example model: LightGBM on a round's int8 features, frugal with memory.

It reads only the columns it needs (the chosen feature set, the era and the target), keeps
features as int8 throughout, trains on every ``--era-stride``-th era (neighbouring weekly
eras overlap in their 20-day targets, so little is lost), scores itself on validation era
by era, and writes live predictions ready to submit — then, if asked, uploads them with
crowdalpha's client or with numerapi.

    python examples/example_model.py --data v5.0 --out predictions.csv
    python examples/example_model.py --data v5.0 --out predictions.csv \\
        --upload http://127.0.0.1:8000 --model my_model     # CROWDALPHA_PUBLIC_ID/_SECRET_KEY
    python examples/example_model.py --data v5.0 --out predictions.csv --numerapi --model my_model

``--data`` is a folder holding a round's ``features.json``, ``train.parquet``,
``validation.parquet`` and ``live.parquet`` (``crowdalpha download`` or numerapi's
``download_dataset`` put them there).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import lightgbm as lgb
import pandas as pd
import pyarrow.parquet as pq

from crowdalpha import scoring


def load(path: Path, columns: list[str], era_stride: int = 1) -> pd.DataFrame:
    """The named columns of a split, one row group (era) at a time, every stride-th era."""
    parquet = pq.ParquetFile(path)
    groups = range(0, parquet.num_row_groups, era_stride)
    frames = []
    for g in groups:
        frame = parquet.read_row_group(g, columns=["id", *columns]).to_pandas()
        frames.append(frame if frame.index.name == "id" else frame.set_index("id"))
    return pd.concat(frames) if frames else pd.DataFrame(columns=columns)


def train(data: Path, feature_set: str, era_stride: int, n_estimators: int) -> lgb.LGBMRegressor:
    features = json.loads((data / "features.json").read_text())["feature_sets"][feature_set]
    frame = load(data / "train.parquet", ["era", *features, "target"], era_stride)
    frame = frame.dropna(subset=["target"])
    model = lgb.LGBMRegressor(
        n_estimators=n_estimators,
        learning_rate=0.01,
        max_depth=5,
        num_leaves=2**5 - 1,
        colsample_bytree=0.1,
        verbose=-1,
    )
    model.fit(frame[features], frame["target"])  # int8 columns, no copy to float
    return model


def predict(model: lgb.LGBMRegressor, path: Path) -> pd.DataFrame:
    features = list(model.feature_name_)
    frame = load(
        path, ["era", *features, *(["target"] if "target" in pq.read_schema(path).names else [])]
    )
    out = pd.DataFrame(
        {"era": frame["era"], "raw": model.predict(frame[features])}, index=frame.index
    )
    if "target" in frame:
        out["target"] = frame["target"]
    # ranks within each era: a valid submission in [0, 1], and what Numerai scores anyway
    out["prediction"] = out.groupby("era")["raw"].rank(pct=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("predictions.csv"))
    parser.add_argument("--feature-set", default="medium")
    parser.add_argument("--era-stride", type=int, default=4)
    parser.add_argument("--n-estimators", type=int, default=2000)
    parser.add_argument("--upload", metavar="URL", help="a crowdalpha server to submit to")
    parser.add_argument("--numerapi", action="store_true", help="submit with numerapi")
    parser.add_argument("--model", help="the model to submit for (name)")
    args = parser.parse_args()

    model = train(args.data, args.feature_set, args.era_stride, args.n_estimators)
    validation = predict(model, args.data / "validation.parquet").dropna(subset=["target"])
    if len(validation):
        per_era = scoring.numerai_corr_by_era(
            validation[["prediction"]], validation["target"], validation["era"]
        )
        summary = scoring.summarize(per_era)["prediction"]
        print(
            f"validation CORR: mean {summary['mean']:.4f}, sharpe {summary['sharpe']:.2f} "
            f"over {len(per_era)} eras"
        )
    live = predict(model, args.data / "live.parquet")
    live[["prediction"]].to_csv(args.out, index_label="id")
    print(f"wrote {len(live):,} live predictions to {args.out}")

    if args.upload:
        from crowdalpha.client import Client

        client = Client(
            args.upload, os.environ["CROWDALPHA_PUBLIC_ID"], os.environ["CROWDALPHA_SECRET_KEY"]
        )
        submission = client.upload_predictions(args.model, args.out)
        print(f"submitted: id {submission.id}, state {submission.state}")
    elif args.numerapi:
        import numerapi

        napi = numerapi.NumerAPI()  # NUMERAI_PUBLIC_ID / NUMERAI_SECRET_KEY
        model_id = napi.get_models()[args.model]
        print(f"submitted: {napi.upload_predictions(str(args.out), model_id=model_id)}")


if __name__ == "__main__":
    main()
