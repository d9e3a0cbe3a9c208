"""Payout policies to the base unit: the article's table exactly, the numerai formula
against an independent exact evaluation with fractions, truncation toward zero."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crowdalpha.errors import InvalidParameterError
from crowdalpha.ledger import nmr
from crowdalpha.payouts import PayoutRules, numerai_payout, payout, payout_factor, tiered_payout


@pytest.mark.parametrize(
    ("corr", "expected"),
    [
        (0.0501, "250"),
        (0.051, "250"),
        (0.05, "150"),  # "> 0.05" is the top tier; 0.05 itself is in 0.02–0.05
        (0.03, "150"),
        (0.0201, "150"),
        (0.02, "100"),
        (0.001, "100"),
        (0.0, "50"),
        (-0.01, "50"),
        (-0.0199, "50"),
        (-0.02, "-25"),
        (-0.3, "-25"),
    ],
)
def test_tiered_reproduces_the_articles_table_on_100_nmr(corr: float, expected: str) -> None:
    assert tiered_payout(nmr(100), corr) == nmr(Decimal(expected).copy_abs()) * (
        -1 if expected.startswith("-") else 1
    )


def test_tiered_is_exact_for_dust_and_truncates_toward_zero() -> None:
    assert tiered_payout(3, 0.06) == 7  # 7.5 → 7
    assert tiered_payout(3, -0.5) == 0  # −0.75 → 0: never burn a unit the formula doesn't give
    assert tiered_payout(5, -0.5) == -1  # −1.25 → −1
    assert tiered_payout(nmr("0.000000000000000007"), 0.03) == 10  # 10.5 → 10


def _exact(stake: int, corr: float, mmc: float, total: int, rules: PayoutRules) -> int:
    factor = min(Fraction(1), Fraction(rules.threshold, total)) if total > 0 else Fraction(1)
    raw = factor * (
        Fraction(rules.corr_multiplier) * Fraction(corr)
        + Fraction(rules.mmc_multiplier) * Fraction(mmc)
    )
    clip = Fraction(rules.clip)
    value = stake * max(-clip, min(clip, raw))
    return math.trunc(value)


SCORES = st.floats(min_value=-0.5, max_value=0.5, allow_nan=False, width=64)


@given(
    stake=st.integers(min_value=0, max_value=nmr(10_000_000)),
    corr=SCORES,
    mmc=SCORES,
    total=st.integers(min_value=1, max_value=nmr(10_000_000)),
    mults=st.sampled_from([("0.5", "2.0", "0.05"), ("0.75", "2.25", "0.05"), ("1", "0", "0.1")]),
)
def test_numerai_formula_matches_exact_rational_arithmetic(
    stake: int, corr: float, mmc: float, total: int, mults: tuple[str, str, str]
) -> None:
    rules = PayoutRules("numerai", *mults)
    got = numerai_payout(
        stake, corr, mmc, factor=payout_factor(rules.threshold, total), rules=rules
    )
    want = _exact(stake, corr, mmc, total, rules)
    # payout_factor is a 120-digit decimal, not a fraction; at most one unit apart
    assert abs(got - want) <= 1
    assert abs(got) <= stake * Fraction(rules.clip)


def test_numerai_known_values() -> None:
    rules = PayoutRules()
    one = Decimal(1)
    # 100 NMR, CORR 0.02, MMC 0.01: 0.5×0.02 + 2×0.01 = 0.03 → +3 NMR (the floats 0.02 and
    # 0.01 are a hair above their decimals: 62 base units more, exactly)
    got = numerai_payout(nmr(100), 0.02, 0.01, factor=one, rules=rules)
    assert got == nmr(3) + 62
    # clipped at ±5 %
    assert numerai_payout(nmr(100), 0.5, 0.5, factor=one, rules=rules) == nmr(5)
    assert numerai_payout(nmr(100), -0.5, -0.5, factor=one, rules=rules) == -nmr(5)
    # the payout factor scales before the clip: 72k threshold, 144k at risk → ×0.5
    factor = payout_factor(nmr(72_000), nmr(144_000))
    assert factor == Decimal("0.5")
    assert numerai_payout(nmr(100), 0.2, 0.0, factor=factor, rules=rules) == nmr(5)
    assert numerai_payout(nmr(100), 0.0625, 0.0, factor=factor, rules=rules) == nmr("1.5625")
    assert payout_factor(nmr(72_000), nmr(1_000)) == 1


def test_refusals() -> None:
    with pytest.raises(InvalidParameterError, match="unknown payout policy"):
        PayoutRules("lottery")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="decimal"):
        PayoutRules(corr_multiplier="half")
    with pytest.raises(InvalidParameterError, match="finite score"):
        payout(nmr(1), float("nan"), 0.0, factor=Decimal(1), rules=PayoutRules())
    with pytest.raises(InvalidParameterError, match="needs MMC"):
        payout(nmr(1), 0.1, None, factor=Decimal(1), rules=PayoutRules())
    assert payout(0, float("nan"), None, factor=Decimal(1), rules=PayoutRules()) == 0
    assert payout(nmr(1), 0.1, None, factor=Decimal(1), rules=PayoutRules("tiered")) == nmr("2.5")
