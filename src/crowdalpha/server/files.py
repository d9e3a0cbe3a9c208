"""Signed download (GET, with Range) and upload (PUT) URLs, as numerapi uses them."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response

from crowdalpha.errors import LimitExceededError, NotFoundError
from crowdalpha.server.context import ServerContext, get_context, read_body

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Context = Annotated[ServerContext, Depends(get_context)]


@router.get("/files/{token}/{name}")
def download(token: str, name: str, context: Context) -> Response:
    facts = context.signer.verify(token, "download")
    key = str(facts["key"])
    store = context.tournament.store
    path = store.local_path(key)
    if path is not None:
        if not path.is_file():
            raise NotFoundError("the file behind this link no longer exists")
        return FileResponse(path, filename=name, media_type="application/octet-stream")
    return Response(store.get(key), media_type="application/octet-stream")


@router.put("/uploads/{token}")
async def upload(token: str, request: Request, context: Context) -> dict[str, str]:
    facts = context.signer.verify(token, "upload")
    limit = context.settings.max_upload_bytes
    body = await read_body(
        request,
        limit,
        lambda: LimitExceededError(
            f"the upload is larger than the {limit:,}-byte limit",
            details={"limit": limit, "reason": "body_too_large"},
        ),
    )
    # an atomic, fsynced write: off the event loop
    await anyio.to_thread.run_sync(context.tournament.store.put, str(facts["key"]), body)
    return {"status": "stored"}
