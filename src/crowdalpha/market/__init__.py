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
from crowdalpha.market.simulator import (
    EXPOSURE_COLUMNS,
    MAX_STOCKS,
    REGIMES,
    STYLE_FACTORS,
    MarketConfig,
    SimulatedMarket,
    simulate_market,
)

__all__ = [
    "COLUMNS",
    "DEFAULT_MAX_GAP_DAYS",
    "EXPOSURE_COLUMNS",
    "MAX_STOCKS",
    "OPTIONAL_COLUMNS",
    "PRICE_COLUMNS",
    "REGIMES",
    "REQUIRED_COLUMNS",
    "STYLE_FACTORS",
    "MarketConfig",
    "SimulatedMarket",
    "append_prices",
    "from_wide",
    "load_prices",
    "simulate_market",
    "validate_prices",
]
