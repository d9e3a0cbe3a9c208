"""Fuzz ``/graphql`` from its own schema (schemathesis, by introspection): whatever the query —
every query and mutation field with the arguments the schema allows, and the invalid ones
schemathesis derives from it, sent anonymously, with a participant's key or the admin's — the
server never fails: no HTTP 500, and no ``internal_error`` in a GraphQL reply (the resolver
crash that numerapi would only see as a message). The books still balance afterwards.

Bounded and reproducible: a few derandomized examples per field (fixed seed), within a time
budget, so the suite stays short on 2 cores.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from graphql import get_named_type, is_composite_type, is_non_null_type
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from sqlalchemy import Engine
from tests.server.graphql_support import add_participant, settings_for, start_clock
from tests.server.signals_support import build_two

from crowdalpha.server import destinations
from crowdalpha.server.app import create_app
from crowdalpha.server.graphql.api import schema
from crowdalpha.tournament import Tournament

EXAMPLES = 6
BUDGET_S = 40.0


def _no_lookups(host: str, *_args: Any, **_kwargs: Any) -> Any:
    raise OSError(f"tests look up no host names ({host})")


def _deployment(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Tournament, FastAPI, list[dict[str, str] | None]]:
    """Classic and Signals with an open round, bob's models; the callers: anonymous, bob's
    key, the admin's."""
    # the staking v3 resolvers import the chain's libraries on first use, and one of them
    # raises the recursion limit as it loads, which hypothesis refuses mid-test: load them now
    importlib.import_module("crowdalpha.chain.v3")
    importlib.import_module("crowdalpha.chain.platform")
    # a fuzzed webhook URL's host is never looked up: tests stay on the loopback
    monkeypatch.setattr(
        destinations, "socket", SimpleNamespace(getaddrinfo=_no_lookups, IPPROTO_TCP=6)
    )
    tournament, _data = build_two(engine, tmp_path / "home", start_clock())
    tournament.tick()
    operator = tournament.create_account("operator", "ops@example.org", is_operator=True)
    key, secret = tournament.create_api_key(operator.id, scopes=["admin"], name="ops")
    bob = add_participant(tournament, "bob", ("bob_c",))  # model 1: ids the fuzzer may guess
    tournament.using("signals").create_model(bob.account_id, "bob_s")
    app = create_app(
        tournament, settings_for(tmp_path / "home", "http://testserver"), background=False
    )
    callers: list[dict[str, str] | None] = [
        None,
        bob.headers,
        {"Authorization": f"Token {key.public_id}${secret}"},
    ]
    return tournament, app, callers


#: A value of each scalar type for the required arguments of a minimal call.
_PLAIN = {"String": '"1"', "ID": '"1"', "Int": "1", "Float": "1.0", "Boolean": "false"}


def test_every_field_with_only_its_required_arguments(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the generator above rarely sends: each field called with its optional arguments
    left out (numerapi always sends them; other clients need not)."""
    tournament, app, callers = _deployment(engine, tmp_path, monkeypatch)
    graph = schema._schema
    calls = 0
    with TestClient(app) as client:
        for kind, root in (("query", graph.query_type), ("mutation", graph.mutation_type)):
            assert root is not None
            for name, field in root.fields.items():
                required = [
                    f"{arg}: {_PLAIN[get_named_type(a.type).name]}"
                    for arg, a in field.args.items()
                    if is_non_null_type(a.type)
                ]
                args = f"({', '.join(required)})" if required else ""
                select = " { __typename }" if is_composite_type(get_named_type(field.type)) else ""
                text = f"{kind} {{ {name}{args}{select} }}"
                for caller in callers:
                    response = client.post("/graphql", json={"query": text}, headers=caller)
                    assert response.status_code == 200, (text, response.text)
                    body = response.json()
                    codes = [e["extensions"]["code"] for e in body.get("errors") or ()]
                    assert "invalid_query" not in codes, (text, body)
                    assert "internal_error" not in codes, (text, body)
                    calls += 1
    assert calls == 3 * (len(graph.query_type.fields) + len(graph.mutation_type.fields))
    assert tournament.check_ledger().ok


def test_no_query_makes_the_server_fail(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tournament, app, callers = _deployment(engine, tmp_path, monkeypatch)
    with TestClient(app):  # the app's startup, as the server runs it
        loaded = schemathesis.graphql.from_asgi("/graphql", app)
        operations = [r.ok() for r in loaded.get_all_operations()]
        assert len(operations) >= 30
        started = time.monotonic()
        seen: dict[str, int] = {}

        def fuzz_one(op: Any) -> None:
            strategy = op.as_strategy(GenerationMode.POSITIVE) | op.as_strategy(
                GenerationMode.NEGATIVE
            )

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy, caller=st.sampled_from(callers))
            def fuzz(case: Any, caller: dict[str, str] | None) -> None:
                response = case.call(headers=caller)
                assert response.status_code < 500, (op.label, case.body, response.text)
                body = response.json()
                codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or ()]
                assert "internal_error" not in codes, (op.label, case.body, body)
                outcome = "data" if not codes else str(codes[0])
                seen[outcome] = seen.get(outcome, 0) + 1

            fuzz()

        fuzzed = 0
        for operation in operations:
            if time.monotonic() - started > BUDGET_S:
                break
            fuzz_one(operation)
            fuzzed += 1

    assert fuzzed >= len(operations) // 2, f"only {fuzzed} fields within the budget"
    assert seen.get("data", 0) > 0, seen  # some queries were answered, not all refused
    assert tournament.check_ledger().ok
