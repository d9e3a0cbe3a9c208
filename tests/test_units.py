"""NMR amounts are parsed and formatted exactly, floats never get in, and people are shown
them with a readable precision that never misstates the exact value by more than half a
shown digit."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crowdalpha import ledger, units
from crowdalpha.errors import InvalidAmountError
from crowdalpha.units import NMR, display_factor, display_nmr, format_nmr, nmr, to_base_units


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


@pytest.mark.parametrize(
    ("exact", "shown"),
    [
        ("375.903877417278943006", "375.90"),  # the example
        ("0", "0.00"),
        ("10", "10.00"),
        ("1234567.891", "1,234,567.89"),
        ("2.005", "2.01"),  # half away from zero
        ("-2.005", "-2.01"),
        ("2.004999999999999999", "2.00"),
        ("0.999999", "1.00"),
        ("0.5", "0.50"),
        ("0.1", "0.10"),
        ("0.0123", "0.012"),
        ("0.05", "0.05"),
        ("0.001", "0.001"),
        ("-0.0123", "-0.012"),
        ("0.00025", "0.00025"),
        ("0.000123456", "0.00012"),
        ("0.0000015", "0.000002"),
        ("0.0000005", "0.000001"),  # rounds up to the smallest shown digit
        ("0.0000004", "<0.000001"),
        ("-0.0000004", ">-0.000001"),
        ("0.000000000000000001", "<0.000001"),
        ("-375.903877417278943006", "-375.90"),
    ],
)
def test_display_known_values(exact: str, shown: str) -> None:
    assert display_nmr(to_base_units(exact, allow_negative=True)) == shown


def test_display_options() -> None:
    units_ = nmr("1234.5678")
    assert display_nmr(units_, grouping=False) == "1234.57"
    assert display_nmr(units_, places=4) == "1,234.5678"
    assert display_nmr(units_, places=0) == "1,235"
    assert display_nmr(nmr("0.5"), places=0) == "0.5"
    assert display_nmr(nmr("0.0000004"), small_places=8) == "0.0000004"
    assert display_nmr(nmr("0.0004"), places=0, small_places=0) == "<1"
    with pytest.raises(InvalidAmountError, match="places"):
        display_nmr(NMR, places=7)
    with pytest.raises(InvalidAmountError, match="must be an int"):
        display_nmr(1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidAmountError, match="must be an int"):
        display_nmr(True)


@given(st.integers(min_value=-(10**30), max_value=10**30))
def test_display_is_within_half_a_shown_digit_of_the_exact_value(units_: int) -> None:
    shown = display_nmr(units_)
    exact = Decimal(format_nmr(units_))
    if shown.startswith(("<", ">")):
        assert 0 < abs(exact) < Decimal("0.000001") / 2
        return
    whole, _, frac = shown.partition(".")
    assert 2 <= len(frac) <= 6
    assert shown.replace(",", "").lstrip("-").isascii()
    value = Decimal(shown.replace(",", ""))
    assert abs(value - exact) <= Decimal(1).scaleb(-len(frac)) / 2
    if abs(exact) >= 1:
        assert len(frac) == 2 and f"{int(value):,}".lstrip("-") == whole.lstrip("-")
    elif abs(exact) >= Decimal("0.00001"):
        # below one NMR, two significant digits: off by at most 5 % of the amount
        assert abs(value - exact) <= abs(exact) / 20


@pytest.mark.parametrize(
    ("exact", "shown"),
    [
        ("1", "1"),
        ("0.5", "0.5"),
        ("0.7200", "0.72"),
        ("0.9", "0.9"),
        ("0.89998461538461538461538461538461538461538461538461538", "0.9000"),
        ("0.12345", "0.1235"),  # half away from zero
        ("0.00001", "0.0000"),
    ],
)
def test_display_factor(exact: str, shown: str) -> None:
    assert display_factor(exact) == display_factor(Decimal(exact)) == shown


def test_display_factor_refuses_what_is_not_a_number() -> None:
    for bad in ("x", "NaN", "inf"):
        with pytest.raises(InvalidAmountError, match="payout factor"):
            display_factor(bad)


def test_the_ledger_re_exports_the_same_functions() -> None:
    for name in ("DECIMALS", "NMR", "display_nmr", "format_nmr", "nmr", "to_base_units"):
        assert getattr(ledger, name) is getattr(units, name)
        assert getattr(ledger.amounts, name) is getattr(units, name)


def test_the_client_loads_no_database_code() -> None:
    code = (
        "import sys, crowdalpha.client, crowdalpha.units\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'alembic', 'pandas') or m.startswith('crowdalpha.ledger'))\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
