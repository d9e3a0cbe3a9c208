"""Fuzz the REST API from its own OpenAPI schema (schemathesis): whatever the request —
any path, query, header or body the schema allows, and the wrong shapes schemathesis
derives from it — the server never answers 500, every error is in the one error shape,
and the books still balance afterwards. Bounded: a few examples per operation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from sqlalchemy import Engine
from tests.server.rest_support import build

from crowdalpha.ledger import nmr

EXAMPLES = 80
BUDGET_S = 60.0


def test_no_request_makes_the_server_fail(engine: Engine, tmp_path: Path) -> None:
    served = build(engine, tmp_path)
    t = served.tournament
    operator = t.account_by_username("operator")
    t.create_model(operator.id, "ops_model")  # model 1 is the fuzzing key's own
    t.grant(operator.id, nmr(1_000))
    served.open_round()
    schema = schemathesis.openapi.from_asgi("/openapi.json", served.app)
    operations = [r.ok() for r in schema.get_all_operations()]
    rest = [op for op in operations if op.path.startswith("/v1")]
    assert len(rest) >= 25
    headers = served.admin
    started = time.monotonic()
    seen: dict[int, int] = {}

    def fuzz_one(op: Any) -> None:
        strategy = op.as_strategy(GenerationMode.POSITIVE) | op.as_strategy(GenerationMode.NEGATIVE)

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy, anonymous=st.booleans())
        def fuzz(case: Any, anonymous: bool) -> None:
            response = case.call(headers=None if anonymous else headers)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            assert response.status_code < 500, (op.label, case.as_curl_command(), response.text)
            if response.status_code >= 400 and response.content:
                body = response.json()
                assert set(body) == {"error"}, (op.label, body)
                assert {"code", "message", "details"} <= set(body["error"]), (op.label, body)

        fuzz()

    for operation in rest:
        if time.monotonic() - started > BUDGET_S:
            break
        fuzz_one(operation)

    assert not any(status >= 500 for status in seen)
    assert any(200 <= status < 300 for status in seen)
    assert t.check_ledger().ok
