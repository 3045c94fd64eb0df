"""FastAPI app of the verification service: sessions, verify, model info, health, metrics."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException

from edgespec_gpu.auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, check_signature
from edgespec_gpu.errors import ServiceError, invalid
from edgespec_gpu.sessions import SessionManager
from edgespec_gpu.tree import TreeError
from edgespec_gpu.wire import parse_create, parse_verify

logger = logging.getLogger(__name__)


def create_app(manager: SessionManager, *, secret: bytes | None, model_name: str) -> FastAPI:
    """Build the app; `secret` None disables authentication (local experiments only)."""
    app = FastAPI(title="edgespec GPU verification service", docs_url=None, redoc_url=None, openapi_url=None)
    limits = manager.limits
    config = manager.model.config

    async def authorized_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
            raise ServiceError(413, "body_too_large", f"request body of {declared} bytes exceeds {limits.max_body_bytes}")
        body = await request.body()
        if len(body) > limits.max_body_bytes:
            raise ServiceError(413, "body_too_large", f"request body of {len(body)} bytes exceeds {limits.max_body_bytes}")
        if secret is not None:
            check_signature(
                secret, request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER),
                request.method, request.url.path, body, time.time(),
            )
        return body

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, error: ServiceError) -> JSONResponse:
        if error.status >= 500:
            logger.warning("%s %s failed: %s", request.method, request.url.path, error.message)
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(TreeError)
    async def tree_error(request: Request, error: TreeError) -> JSONResponse:
        return JSONResponse(invalid(error.code, str(error), error.param).body(), status_code=400)

    @app.exception_handler(HTTPException)
    async def routing_error(request: Request, error: HTTPException) -> JSONResponse:
        # Starlette raises these for an unknown path (404) or method (405) before any route runs.
        where = f"{request.method} {request.url.path}"
        if error.status_code == 404:
            service_error = ServiceError(404, "route_not_found", f"no route for {where}")
        elif error.status_code == 405:
            service_error = ServiceError(405, "method_not_allowed", f"method not allowed: {where}")
        else:
            service_error = invalid("invalid_request", f"{where} failed: {error.detail}")
        return JSONResponse(service_error.body(), status_code=service_error.status, headers=error.headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        logger.exception("%s %s failed with an internal error", request.method, request.url.path)
        body = ServiceError(500, "internal_error", f"internal error: {type(error).__name__}").body()
        return JSONResponse(body, status_code=500)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/model")
    async def model_info(request: Request) -> dict[str, Any]:
        await authorized_body(request)
        parameter = next(manager.model.parameters())
        return {
            "model": model_name,
            "architecture": config.architecture,
            "vocab_size": config.vocab_size,
            "eos_token_ids": list(config.eos_token_ids),
            "max_context": manager.max_context,
            "max_sparse_context": manager.max_sparse_context,
            "dtype": str(parameter.dtype).removeprefix("torch."),
            "device": parameter.device.type,
            "numerics": manager.model.mode.value,
            "limits": {
                "max_tree_nodes": limits.max_tree_nodes,
                "max_tree_depth": limits.max_tree_depth,
                "max_top_k": limits.max_top_k,
                "max_session_tokens": limits.max_session_tokens,
            },
        }

    @app.post("/v1/sessions", status_code=201)
    async def create_session(request: Request) -> dict[str, Any]:
        tokens, attention = parse_create(await authorized_body(request))
        session, timings = await run_in_threadpool(manager.create, tokens, attention)
        return {"session_id": session.session_id, "committed_len": len(session.tokens), "timings": timings.as_dict()}

    @app.post("/v1/sessions/{session_id}/verify")
    async def verify(session_id: str, request: Request) -> dict[str, Any]:
        verify_request = parse_verify(await authorized_body(request), limits)
        result = await run_in_threadpool(manager.verify, session_id, verify_request)
        return {
            "accepted_tokens": result.accepted_tokens,
            "accepted_nodes": result.accepted_nodes,
            "top_k": result.top_k,
            "logprobs": result.logprobs,
            "eos": result.eos,
            "committed_len": result.committed_len,
            "timings": result.timings.as_dict(),
        }

    @app.delete("/v1/sessions/{session_id}")
    async def delete_session(session_id: str, request: Request) -> dict[str, bool]:
        await authorized_body(request)
        await run_in_threadpool(manager.delete, session_id)
        return {"deleted": True}

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        await authorized_body(request)
        text = manager.metrics.render(manager.session_count, manager.cache.used_pages, manager.cache.num_pages)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    return app
