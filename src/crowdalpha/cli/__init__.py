"""The ``crowdalpha`` command line."""

from crowdalpha.cli.commands import app, main

__all__ = ["app", "main"]
