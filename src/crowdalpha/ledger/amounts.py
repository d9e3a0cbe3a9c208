"""NMR amounts: integers of base units (1 NMR = 10^18), parsed and formatted exactly.

Floats never enter: ``to_base_units("0.1")`` is exactly 10^17, while ``0.1`` as a float is
refused, because its binary value is not 0.1.
"""

from __future__ import annotations

from decimal import Context, Decimal, InvalidOperation, localcontext

from crowdalpha.errors import InvalidAmountError

__all__ = ["DECIMALS", "NMR", "format_nmr", "nmr", "to_base_units"]

DECIMALS = 18
NMR = 10**DECIMALS
_MAX_DIGITS = 78  # any uint256 amount


def to_base_units(value: str | int | Decimal, *, allow_negative: bool = False) -> int:
    """Parse an amount of NMR (``"1.5"``, ``Decimal("2")``, ``3``) into base units.

    Ints are whole NMR. Strings and Decimals may carry at most 18 decimals; anything finer,
    a float, a bool, NaN or (unless ``allow_negative``) a negative amount is refused with
    :class:`~crowdalpha.errors.InvalidAmountError`.
    """
    if isinstance(value, (bool, float)):
        raise InvalidAmountError(
            f"amount {value!r} must be given as a string or an integer, not a "
            f"{type(value).__name__}: binary floats cannot hold NMR exactly",
        )
    if isinstance(value, int):
        units: int = value * NMR
    else:
        try:
            number = Decimal(value.strip()) if isinstance(value, str) else value
        except InvalidOperation:
            raise InvalidAmountError(
                f"amount {value!r} is not a number; write it like 12.5", details={"value": value}
            ) from None
        if not number.is_finite():
            raise InvalidAmountError(f"amount {value!r} is not a finite number")
        if number != 0 and number.adjusted() > _MAX_DIGITS:
            raise InvalidAmountError(f"amount {value!r} is too large to be an NMR amount")
        with localcontext(Context(prec=_MAX_DIGITS + DECIMALS + 10)):
            scaled = number.scaleb(DECIMALS)
        if scaled != scaled.to_integral_value():
            raise InvalidAmountError(
                f"amount {value!r} has more than {DECIMALS} decimals; NMR's smallest unit is "
                f"10^-{DECIMALS}",
                details={"value": str(value)},
            )
        units = int(scaled)  # exact: scaled is integral
    if units < 0 and not allow_negative:
        raise InvalidAmountError(f"amount {value!r} is negative", details={"value": str(value)})
    return units


def nmr(value: str | int | Decimal) -> int:
    """Shorthand for :func:`to_base_units` of a non-negative amount."""
    return to_base_units(value)


def format_nmr(units: int, *, trim: bool = True) -> str:
    """Base units as a decimal NMR string, exactly (``1500000000000000000`` → ``"1.5"``).

    With ``trim=False`` all 18 decimals are kept (Numerai's API sends amounts that way).
    """
    if isinstance(units, bool) or not isinstance(units, int):
        raise InvalidAmountError(f"base units must be an int, got {type(units).__name__}")
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), NMR)
    digits = f"{frac:0{DECIMALS}d}"
    if trim:
        digits = digits.rstrip("0")
        return f"{sign}{whole}.{digits}" if digits else f"{sign}{whole}"
    return f"{sign}{whole}.{digits}"
