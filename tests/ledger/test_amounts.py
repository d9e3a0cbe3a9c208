"""NMR amounts are parsed and formatted exactly, and floats never get in."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crowdalpha.errors import InvalidAmountError
from crowdalpha.ledger import NMR, format_nmr, nmr, to_base_units


def test_known_values() -> None:
    assert nmr("1") == NMR == 10**18
    assert nmr("0.1") == 10**17
    assert nmr("1.5") == 1_500_000_000_000_000_000
    assert nmr(" 72000 ") == 72_000 * NMR
    assert nmr(Decimal("0.000000000000000001")) == 1
    assert nmr(3) == 3 * NMR
    assert to_base_units("-2.5", allow_negative=True) == -25 * 10**17
    assert format_nmr(1_500_000_000_000_000_000) == "1.5"
    assert format_nmr(-1) == "-0.000000000000000001"
    assert format_nmr(10**18, trim=False) == "1.000000000000000000"
    assert format_nmr(0) == "0"


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (0.1, "not a float"),
        (True, "not a bool"),
        ("abc", "not a number"),
        ("1e100", "too large"),
        ("NaN", "not a finite"),
        ("0.0000000000000000001", "more than 18 decimals"),
        ("-1", "negative"),
    ],
)
def test_refusals(value: object, match: str) -> None:
    with pytest.raises(InvalidAmountError, match=match):
        to_base_units(value)  # type: ignore[arg-type]


@given(st.integers(min_value=-(2**256), max_value=2**256))
def test_format_then_parse_is_the_identity(units: int) -> None:
    assert to_base_units(format_nmr(units), allow_negative=True) == units
    assert to_base_units(format_nmr(units, trim=False), allow_negative=True) == units
