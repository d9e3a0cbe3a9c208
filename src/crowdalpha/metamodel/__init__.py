"""The meta model: the stake-weighted combination of the crowd's predictions.

Each staked, on-time submission is ranked and gaussianized first (so no model weighs by
the scale of its numbers), then averaged with its stake as weight — what the fund trades.
"""

from __future__ import annotations

import pandas as pd

from crowdalpha.errors import InvalidParameterError
from crowdalpha.scoring import gaussian, stake_weight, tie_kept_rank

__all__ = ["META_MODEL_COLUMN", "build_meta_model"]

META_MODEL_COLUMN = "numerai_meta_model"


def build_meta_model(predictions: pd.DataFrame, stakes: pd.Series) -> pd.Series:
    """Stake-weighted mean of gaussianized ranks, rescaled to ranks in (0, 1].

    ``predictions``: one column per model (indexed by live id); ``stakes``: stake per model
    column (any positive numbers; base units work — only ratios matter).
    """
    weights = stakes[stakes > 0]
    if weights.empty:
        raise InvalidParameterError("the meta model needs at least one positive stake")
    preds = predictions[weights.index].sort_index()
    total = float(sum(int(v) for v in weights))
    ratios = pd.Series([int(v) / total for v in weights], index=weights.index)
    combined = stake_weight(pd.DataFrame(gaussian(tie_kept_rank(preds))), ratios)
    meta = tie_kept_rank(combined.to_frame(META_MODEL_COLUMN))[META_MODEL_COLUMN]
    meta.name = META_MODEL_COLUMN
    return meta.reindex(predictions.index)
