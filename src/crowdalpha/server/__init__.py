"""The tournament server: our REST API, Numerai's GraphQL API, signed file URLs."""

from crowdalpha.server.app import create_app

__all__ = ["create_app"]
