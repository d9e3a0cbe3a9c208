"""NMR amounts: integers of base units (1 NMR = 10^18), parsed and formatted exactly, and
shown to people with a readable precision.

Everything that handles amounts imports this module, and nothing heavier: the participant
client, the CLI and the web UI use it without loading the ledger's database code.

- :func:`to_base_units` / :func:`nmr` parse a decimal string, a ``Decimal`` or an ``int`` of
  whole NMR; floats never enter (``to_base_units("0.1")`` is exactly 10^17, while ``0.1`` as
  a float is refused, because its binary value is not 0.1).
- :func:`format_nmr` writes base units back exactly (``"375.903877417278943006"``): for JSON,
  GraphQL, files and error messages, wherever a machine or an exact reading matters.
- :func:`display_nmr` writes them for people (``"375.90"``): the one function the web UI and
  the CLI show amounts with; the exact value goes beside it (a tooltip, ``--json``).
- :func:`display_factor` does the same for a round's payout factor, an exact decimal of up
  to 100 digits (``"0.8999"`` for ``0.89998…``).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext

from crowdalpha.errors import InvalidAmountError

__all__ = [
    "DECIMALS",
    "DISPLAY_PLACES",
    "NMR",
    "SMALL_DISPLAY_PLACES",
    "display_factor",
    "display_nmr",
    "format_nmr",
    "nmr",
    "to_base_units",
]

DECIMALS = 18
NMR = 10**DECIMALS
#: Decimals :func:`display_nmr` shows by default (2, as money usually is).
DISPLAY_PLACES = 2
#: The most decimals :func:`display_nmr` shows by default, for amounts below one NMR.
SMALL_DISPLAY_PLACES = 6
_MAX_DIGITS = 78  # any uint256 amount
_CONTEXT = Context(prec=_MAX_DIGITS + DECIMALS + 10)  # exact for every amount we accept


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
        with localcontext(_CONTEXT):
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


def _check_units(units: object) -> int:
    if isinstance(units, bool) or not isinstance(units, int):
        raise InvalidAmountError(f"base units must be an int, got {type(units).__name__}")
    return units


def format_nmr(units: int, *, trim: bool = True) -> str:
    """Base units as a decimal NMR string, exactly (``1500000000000000000`` → ``"1.5"``).

    With ``trim=False`` all 18 decimals are kept (Numerai's API sends amounts that way).
    """
    _check_units(units)
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), NMR)
    digits = f"{frac:0{DECIMALS}d}"
    if trim:
        digits = digits.rstrip("0")
        return f"{sign}{whole}.{digits}" if digits else f"{sign}{whole}"
    return f"{sign}{whole}.{digits}"


def display_nmr(
    units: int,
    *,
    places: int = DISPLAY_PLACES,
    small_places: int = SMALL_DISPLAY_PLACES,
    grouping: bool = True,
) -> str:
    """Base units as NMR for people to read: ``places`` decimals, more for small amounts.

    Amounts of one NMR or more show ``places`` decimals, rounded half away from zero, with
    thousands separators unless ``grouping=False`` (``375903877417278943006`` →
    ``"375.90"``; ``12345 * NMR`` → ``"12,345.00"``). Smaller amounts show two significant
    digits, with at most ``small_places`` decimals and trailing zeros beyond ``places``
    dropped (``"0.50"``, ``"0.012"``, ``"0.00025"``). A non-zero amount that would still
    round to zero is shown as a bound: ``"<0.000001"`` or ``">-0.000001"``, never as
    ``"0.00"``. Zero is ``"0.00"``.

    The result is for display only: :func:`format_nmr` gives the exact value, which is
    what JSON, GraphQL and tooltips carry.
    """
    _check_units(units)
    if not 0 <= places <= small_places <= DECIMALS:
        raise InvalidAmountError(
            f"display places must satisfy 0 <= places ({places}) <= small_places "
            f"({small_places}) <= {DECIMALS}"
        )
    with localcontext(_CONTEXT):
        value = Decimal(units).scaleb(-DECIMALS)
        shown = places
        if units:
            # two significant digits: 0.0123 (adjusted exponent -2) needs 3 decimals
            shown = max(places, min(small_places, 1 - value.adjusted()))
        rounded = value.quantize(Decimal(1).scaleb(-shown), rounding=ROUND_HALF_UP)
        if units and not rounded:
            smallest = f"0.{'0' * (small_places - 1)}1" if small_places else "1"
            return f"<{smallest}" if units > 0 else f">-{smallest}"
        text = format(rounded, ",f" if grouping else "f")
    if shown > places:  # drop the zeros that only the extra decimals added: 0.0010 → 0.001
        whole, _, frac = text.partition(".")
        frac = frac.rstrip("0").ljust(places, "0")
        text = f"{whole}.{frac}" if frac else whole
    return text


def display_factor(value: str | Decimal, *, places: int = 4) -> str:
    """A payout factor (an exact decimal such as ``"0.89998461…"``, up to 100 digits) for
    people: as it is when it has at most ``places`` decimals (``"1"``, ``"0.5"``), else
    rounded half away from zero to ``places`` decimals (``"0.9000"``), so that a rounded
    factor is told from an exact one by its length."""
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else value
    except InvalidOperation:
        raise InvalidAmountError(f"payout factor {value!r} is not a number") from None
    if not number.is_finite():
        raise InvalidAmountError(f"payout factor {value!r} is not a finite number")
    with localcontext(_CONTEXT):
        exponent = number.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent <= places:
            return format(number.normalize(), "f")
        return format(number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP), "f")
