"""Numerai's GraphQL API at ``/graphql``, so the official numerapi client works unchanged.

Point numerapi at a crowdalpha server and use it as on Numerai::

    import numerapi
    numerapi.base_api.API_TOURNAMENT_URL = "https://tournament.example.org/graphql"
    napi = numerapi.NumerAPI(public_id, secret_key)
    napi.download_dataset("v5.0/live.parquet", "live.parquet")
    napi.upload_predictions(df=predictions, model_id=napi.get_models()["my_model"])

What the client needs, and how it gets it:

- Every reply is HTTP 200 with JSON: ``{"data": …}`` or ``{"errors": [{"message": …}]}``
  (numerapi raises ``ValueError(message)``; a non-2xx reply would be swallowed by it).
  Messages are ``code: message`` with the stable code of crowdalpha's error
  (``invalid_submission_ids: …``, ``permission_denied: …``), and ``extensions.code``.
  Invalid JSON, invalid GraphQL and bad credentials are answered the same way.
- Amounts of NMR are exact decimal strings (18 decimals); amounts sent in are strings
  parsed exactly (``"1.5"``, never a float). Times are ISO-8601 with a time zone.
- The tournament is the one asked for: Classic (``8``, the default) or Signals (``11``)
  where the server runs it (numerapi's ``SignalsAPI``); another is refused with a clear
  message. Calls about a model follow the model's competition; a model of another
  competition than the one named is refused. Signals' files are advertised under their own
  paths (``signals/v2.0/live.parquet``, ``signals/v1.0/live.parquet``…; :mod:`.naming`).
- Datasets: the current round's files are advertised under a stable version folder
  (``v5.0/live.parquet``, plus ``v5.0/live_<round>.parquet``; the folder is
  ``Settings.dataset_folder``, i.e. ``CROWDALPHA_DATASET_FOLDER``, or :func:`make_router`'s
  argument) and served by signed,
  expiring URLs with Range support.
- Uploads: ``submission_upload_auth`` hands out an opaque, account-bound name and a signed
  PUT URL; ``create_submission`` validates the stored file through ``Tournament.submit`` (the
  typed submission errors come back as messages) and may name a ``round`` (crowdalpha's
  extension; default: the open round).
- The quirks of numerapi's query text are handled in :mod:`.quirks`.
- Calls deliberately not served (Numerai Compute's model uploads; the ``v3Stake*`` calls
  while chain staking is not enabled) are refused ``not_supported: <why>`` by
  :mod:`.unsupported`, never with GraphQL's ``Cannot query field``.

Operations: ``rounds``, ``listDatasets``, ``dataset``, ``submission_upload_auth``,
``create_submission``, ``account``, ``model``, ``submissions``, ``v3UserProfile``,
``accountProfile``, ``v2ChangeStake``, ``releaseStake``, ``submissionScores``,
``v2RoundModelPerformances``, ``pendingModelPayouts``, ``v2Leaderboard``,
``accountLeaderboard``, ``diagnosticsUploadAuth``, ``createDiagnostics``, ``diagnostics``;
Signals' own (:mod:`.signals`): ``submissionUploadSignalsAuth``, ``createSignalsSubmission``,
``signalsLeaderboard``, ``v2SignalsProfile``; the participant's (:mod:`.participant`):
``submissionDownloadAuth``, ``pipelineStatus``, ``setSubmissionWebhook``,
``submissionWebhook``, ``setUserBio``, ``setUserLink``; and the ``v3Stake*`` queries
(:mod:`.staking_v3`). docs/numerapi.md has the table of every numerapi method.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from graphql import GraphQLError, parse
from starlette.concurrency import run_in_threadpool

from crowdalpha.errors import CrowdAlphaError
from crowdalpha.server.auth import principal_from
from crowdalpha.server.context import ServerContext, context_of
from crowdalpha.server.errors import graphql_error
from crowdalpha.server.graphql.api import schema
from crowdalpha.server.graphql.context import CLASSIC, GraphQLContext
from crowdalpha.server.graphql.quirks import normalize_query
from crowdalpha.server.graphql.unsupported import refusals

__all__ = ["CLASSIC", "DEFAULT_DATASET_FOLDER", "execute", "make_router", "router", "schema"]

log = logging.getLogger("crowdalpha.server.graphql")

#: The version folder the current round's files are advertised under.
DEFAULT_DATASET_FOLDER = "v5.0"


def _error(code: str, message: str) -> dict[str, Any]:
    return {"message": f"{code}: {message}", "extensions": {"code": code}}


def _format(error: GraphQLError) -> dict[str, Any]:
    original = error.original_error
    if isinstance(original, CrowdAlphaError):
        entry = graphql_error(original)
    elif original is not None and not isinstance(original, GraphQLError):
        entry = _error("internal_error", "the server failed; the operator's log has the details")
    else:  # the query itself: syntax, unknown fields, wrong argument types
        entry = _error("invalid_query", error.message)
    if error.locations:
        entry["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        entry["path"] = list(error.path)
    return entry


def execute(
    request: Request, server: ServerContext, body: object, dataset_folder: str
) -> dict[str, Any]:
    """Run one GraphQL request (authenticate, normalize, execute) into a JSON reply."""
    if not isinstance(body, dict):
        return {"data": None, "errors": [_error("invalid_request", "send a JSON object")]}
    query = body.get("query")
    variables = body.get("variables")
    operation = body.get("operationName")
    if not isinstance(query, str) or not query.strip():
        return {"data": None, "errors": [_error("invalid_request", "the body has no query")]}
    if variables is not None and not isinstance(variables, dict):
        return {"data": None, "errors": [_error("invalid_request", "variables must be an object")]}
    if operation is not None and not isinstance(operation, str):
        return {"data": None, "errors": [_error("invalid_request", "operationName must be text")]}
    try:
        principal = principal_from(request, server)
    except CrowdAlphaError as exc:
        return {"data": None, "errors": [graphql_error(exc)]}
    try:
        text = normalize_query(query)
    except GraphQLError as exc:
        return {"data": None, "errors": [_format(exc)]}
    refused = refusals(parse(text), schema._schema)
    if refused:  # deliberately unsupported calls: a reason, not "Cannot query field"
        return {"data": None, "errors": [graphql_error(e) for e in refused]}
    result = schema.execute_sync(
        text,
        variable_values=variables,
        context_value=GraphQLContext(server, principal, dataset_folder),
        operation_name=operation,
    )
    reply: dict[str, Any] = {"data": result.data}
    if result.errors:
        reply["errors"] = [_format(e) for e in result.errors]
    return reply


def make_router(dataset_folder: str | None = None) -> APIRouter:
    """The ``/graphql`` route; datasets are advertised under ``dataset_folder``."""
    folder = (dataset_folder or DEFAULT_DATASET_FOLDER).strip("/")
    api = APIRouter(tags=["numerai"])

    @api.post(
        "/graphql",
        summary="Numerai's GraphQL API (numerapi works against it unchanged)",
        response_model=None,
    )
    async def graphql_endpoint(request: Request) -> JSONResponse:
        raw = await request.body()
        try:
            body: object = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            return JSONResponse(
                {"data": None, "errors": [_error("invalid_request", "the body is not JSON")]}
            )
        server = context_of(request)
        reply = await run_in_threadpool(execute, request, server, body, folder)
        return JSONResponse(reply)

    return api


router = make_router()
