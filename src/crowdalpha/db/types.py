"""Column types that keep money exact and times unambiguous on every database.

NMR amounts are integers of base units (10^18 per NMR). The whole supply (≈ 1.1 × 10^25
base units) does not fit a 64-bit integer, so :class:`Amount` is ``NUMERIC(78, 0)`` on
PostgreSQL (any uint256 fits) and a decimal string on SQLite, whose integers are 64-bit.
Either way Python sees an ``int`` — never a float, never a Decimal. Because SQLite compares
the strings as text, code never asks the database to sum or compare amounts: it reads
them and does the arithmetic in Python integers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["Amount", "UtcDateTime"]

_MAX_DIGITS = 78  # 2**256 has 78 decimal digits


class Amount(TypeDecorator[int]):
    """A signed integer amount of base units of any size, stored exactly."""

    impl = Numeric(_MAX_DIGITS, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(_MAX_DIGITS + 1))
        return dialect.type_descriptor(Numeric(_MAX_DIGITS, 0, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"amounts are int base units, got {type(value).__name__}")
        if dialect.name == "sqlite":
            return str(value)
        return Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return int(value)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise TypeError("datetimes must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
