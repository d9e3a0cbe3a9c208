"""NMR amounts, re-exported from :mod:`crowdalpha.units` (where they live now, so that the
participant client can use them without importing the ledger's database code)."""

from __future__ import annotations

from crowdalpha.units import DECIMALS, NMR, display_nmr, format_nmr, nmr, to_base_units

__all__ = ["DECIMALS", "NMR", "display_nmr", "format_nmr", "nmr", "to_base_units"]
