"""From prices to the round datasets participants download (Numerai v5 layout).

Features and targets are computed from a price frame era by era, then obfuscated — per-era
quantile bins, opaque names, ids re-keyed every era — and written as train, validation and
live files, while the operator keeps the vault that maps ids back to stocks.
"""
