"""Market data in: operators' daily prices, or the embedded market simulator.

Everything here produces or checks one *price frame* — long format, one row per (date,
ticker) — which the dataset stage turns into features and targets.
"""

from crowdalpha.market.prices import (
    COLUMNS,
    DEFAULT_MAX_GAP_DAYS,
    OPTIONAL_COLUMNS,
    PRICE_COLUMNS,
    REQUIRED_COLUMNS,
    append_prices,
    from_wide,
    load_prices,
    validate_prices,
)

__all__ = [
    "COLUMNS",
    "DEFAULT_MAX_GAP_DAYS",
    "OPTIONAL_COLUMNS",
    "PRICE_COLUMNS",
    "REQUIRED_COLUMNS",
    "append_prices",
    "from_wide",
    "load_prices",
    "validate_prices",
]
