"""Stock identifiers of the Signals universe: every id type a submission may be keyed by.

A stock of the operator's price frame (its ``ticker`` there, called the *price ticker*
here) listed in country ``CC`` gets:

* ``numerai_ticker`` — ``"TICKER CC"``, the price ticker and the ISO 3166 alpha-2 country
  code (Numerai's own key, e.g. ``"7203 JP"``);
* ``bloomberg_ticker`` — ``"TICKER EX"``, with the Bloomberg exchange code of the country's
  main market (``US`` → ``US``, ``JP`` → ``JT``, ``GB`` → ``LN``…; the country code itself
  for a country outside :data:`COUNTRIES`);
* ``ticker`` — the Yahoo Finance form, the price ticker plus the market's suffix (none in
  the US, ``.T`` for Tokyo, ``.L`` for London…; ``.CC`` for a country outside the table);
* ``composite_figi`` — 12 characters, ``"BBG"``, eight characters drawn from the FIGI
  alphabet (consonants and digits) and the FIGI check digit; and ``sedol`` — 7 characters,
  six drawn from the SEDOL alphabet (the first a consonant) and the SEDOL check digit. Both
  are keyed hashes of the price ticker under the operator's vault key: stable for a stock
  from round to round, well-formed (their check digits verify), yet no function of the
  ticker that anyone without the key can compute — the universe file is the only map.

Keyed ids can collide (the SEDOL space is small); :func:`assign_keyed_ids` walks to the
next candidate for the later of two colliding stocks, in the order the stocks first traded,
so a stock's ids never change when later stocks list.

When the price frame has no ``country`` (or leaves it empty for a stock), the country is
derived from the ticker alone — a hash into :data:`COUNTRIES`, weighted roughly like a
global large-cap universe — so simulated markets get a realistic mix of countries.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from crowdalpha.dataset.obfuscate import Vault

__all__ = [
    "COUNTRIES",
    "ID_COLUMNS",
    "Country",
    "assign_keyed_ids",
    "bloomberg_ticker",
    "derive_country",
    "figi_check_digit",
    "is_figi",
    "is_sedol",
    "numerai_ticker",
    "sedol_check_digit",
    "yahoo_ticker",
]

#: The id columns a Signals submission may be keyed by (numerai-tools 0.7.2's
#: ``SIGNALS_ALLOWED_ID_COLS``), all held by the universe frame.
ID_COLUMNS = ("numerai_ticker", "composite_figi", "bloomberg_ticker", "ticker", "sedol")


@dataclass(frozen=True)
class Country:
    """A market: its ISO code, its share of derived countries, Bloomberg and Yahoo codes."""

    code: str
    weight: float
    bloomberg: str
    yahoo: str


#: Markets and the codes of every id type; ``weight``: the share of derived countries
#: (they sum to 1).
COUNTRIES: tuple[Country, ...] = (
    Country("US", 0.38, "US", ""),
    Country("JP", 0.12, "JT", ".T"),
    Country("GB", 0.06, "LN", ".L"),
    Country("CA", 0.05, "CN", ".TO"),
    Country("HK", 0.04, "HK", ".HK"),
    Country("KR", 0.04, "KS", ".KS"),
    Country("TW", 0.04, "TT", ".TW"),
    Country("IN", 0.04, "IN", ".NS"),
    Country("AU", 0.04, "AU", ".AX"),
    Country("DE", 0.03, "GY", ".DE"),
    Country("FR", 0.03, "FP", ".PA"),
    Country("CH", 0.02, "SW", ".SW"),
    Country("SE", 0.02, "SS", ".ST"),
    Country("NL", 0.01, "NA", ".AS"),
    Country("IT", 0.01, "IM", ".MI"),
    Country("ES", 0.01, "SM", ".MC"),
    Country("DK", 0.01, "DC", ".CO"),
    Country("NO", 0.01, "NO", ".OL"),
    Country("FI", 0.01, "FH", ".HE"),
    Country("BR", 0.01, "BZ", ".SA"),
    Country("SG", 0.01, "SP", ".SI"),
    Country("ZA", 0.01, "SJ", ".JO"),
    # Never derived (weight 0), known for prices that carry a country column.
    Country("AT", 0.0, "AV", ".VI"),
    Country("BE", 0.0, "BB", ".BR"),
    Country("CL", 0.0, "CI", ".SN"),
    Country("CN", 0.0, "CH", ".SS"),
    Country("ID", 0.0, "IJ", ".JK"),
    Country("IE", 0.0, "ID", ".IR"),
    Country("IL", 0.0, "IT", ".TA"),
    Country("MX", 0.0, "MM", ".MX"),
    Country("MY", 0.0, "MK", ".KL"),
    Country("NZ", 0.0, "NZ", ".NZ"),
    Country("PH", 0.0, "PM", ".PS"),
    Country("PL", 0.0, "PW", ".WA"),
    Country("PT", 0.0, "PL", ".LS"),
    Country("SA", 0.0, "AB", ".SR"),
    Country("TH", 0.0, "TB", ".BK"),
    Country("TR", 0.0, "TI", ".IS"),
)
_BY_CODE = {c.code: c for c in COUNTRIES}
_CUMULATIVE = tuple(sum(c.weight for c in COUNTRIES[: i + 1]) for i in range(len(COUNTRIES)))

#: FIGI and SEDOL characters: digits and upper-case consonants (no vowels).
_CONSONANTS = "BCDFGHJKLMNPQRSTVWXYZ"
_ALPHABET = _CONSONANTS + "0123456789"
_SEDOL_WEIGHTS = (1, 3, 1, 7, 3, 9)


def derive_country(price_ticker: str) -> str:
    """The country of a stock whose prices carry none: a hash of the ticker, weighted."""
    digest = hashlib.sha256(f"crowdalpha-signals-country\x1f{price_ticker}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64 * _CUMULATIVE[-1]
    for country, edge in zip(COUNTRIES, _CUMULATIVE, strict=True):
        if u < edge:
            return country.code
    return COUNTRIES[-1].code  # pragma: no cover - u < the last edge


def numerai_ticker(price_ticker: str, country: str) -> str:
    """``"TICKER CC"``."""
    return f"{price_ticker} {country}"


def bloomberg_ticker(price_ticker: str, country: str) -> str:
    """``"TICKER EX"``, EX the Bloomberg code of the country's main exchange."""
    known = _BY_CODE.get(country)
    return f"{price_ticker} {known.bloomberg if known else country}"


def yahoo_ticker(price_ticker: str, country: str) -> str:
    """The Yahoo Finance ticker: the price ticker and the market's suffix."""
    known = _BY_CODE.get(country)
    return price_ticker + (known.yahoo if known else f".{country}")


def _value(char: str) -> int:
    return int(char) if char.isdigit() else ord(char) - 55  # A = 10 … Z = 35


def figi_check_digit(body: str) -> str:
    """The check digit of the first 11 characters of a FIGI (a modified Luhn sum:
    letters count as 10…35, every second character is doubled, digits of the products
    are summed)."""
    total = 0
    for i, char in enumerate(body):
        v = _value(char) * (2 if i % 2 else 1)
        total += sum(int(d) for d in str(v))
    return str((10 - total % 10) % 10)


def sedol_check_digit(body: str) -> str:
    """The check digit of the first 6 characters of a SEDOL (weights 1, 3, 1, 7, 3, 9)."""
    total = sum(_value(c) * w for c, w in zip(body, _SEDOL_WEIGHTS, strict=True))
    return str((10 - total % 10) % 10)


def is_figi(value: str) -> bool:
    """Whether ``value`` is a well-formed FIGI with a valid check digit."""
    return (
        len(value) == 12
        and value[2] == "G"
        and all(c in _ALPHABET for c in value[:11])
        and figi_check_digit(value[:11]) == value[11]
    )


def is_sedol(value: str) -> bool:
    """Whether ``value`` is a well-formed SEDOL with a valid check digit."""
    return (
        len(value) == 7
        and all(c in _ALPHABET for c in value[:6])
        and value[6].isdigit()
        and sedol_check_digit(value[:6]) == value[6]
    )


def _keyed_chars(key: bytes, kind: str, price_ticker: str, attempt: int, n: int) -> str:
    """``n`` characters of :data:`_ALPHABET` (the first a consonant) from a keyed hash."""
    message = f"signals\x1f{kind}\x1f{price_ticker}\x1f{attempt}".encode()
    x = int.from_bytes(hmac.new(key, message, hashlib.sha256).digest(), "big")
    x, first = divmod(x, len(_CONSONANTS))
    chars = [_CONSONANTS[first]]
    for _ in range(n - 1):
        x, d = divmod(x, len(_ALPHABET))
        chars.append(_ALPHABET[d])
    return "".join(chars)


def _figi(key: bytes, price_ticker: str, attempt: int) -> str:
    body = "BBG" + _keyed_chars(key, "figi", price_ticker, attempt, 8)
    return body + figi_check_digit(body)


def _sedol(key: bytes, price_ticker: str, attempt: int) -> str:
    body = _keyed_chars(key, "sedol", price_ticker, attempt, 6)
    return body + sedol_check_digit(body)


def assign_keyed_ids(vault: Vault, price_tickers: Sequence[str]) -> tuple[list[str], list[str]]:
    """The ``composite_figi`` and ``sedol`` of each stock, in the order given.

    ``price_tickers`` must come in priority order — the order the stocks first traded
    (ties by ticker) — so that on a collision the stock listed later moves on to its next
    candidate and earlier stocks keep their ids whatever lists after them.
    """
    figis: list[str] = []
    sedols: list[str] = []
    used_figi: set[str] = set()
    used_sedol: set[str] = set()
    for price_ticker in price_tickers:
        for make, used, out in ((_figi, used_figi, figis), (_sedol, used_sedol, sedols)):
            attempt = 0
            value = make(vault.key, price_ticker, attempt)
            while value in used:
                attempt += 1
                value = make(vault.key, price_ticker, attempt)
            used.add(value)
            out.append(value)
    return figis, sedols
