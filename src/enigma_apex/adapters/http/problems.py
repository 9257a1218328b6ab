"""Errors as RFC 9457 problem details (``application/problem+json``): ``type``, ``title``, ``status``, ``detail``,
``instance`` and, for invalid input, ``errors`` — each with the JSON pointer of the field at fault."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from enigma_apex.errors import StoreError

MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pointer: str  # e.g. /body/side
    detail: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="forbid")

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
    instance: str = ""
    errors: list[FieldError] = []


def problem(status: int, detail: str, instance: str, errors: list[FieldError] | None = None) -> JSONResponse:
    body = Problem(
        title=HTTPStatus(status).phrase, status=status, detail=detail, instance=instance, errors=errors or []
    )
    return JSONResponse(body.model_dump(), status_code=status, media_type=MEDIA_TYPE)


def _pointer(loc: tuple[Any, ...]) -> str:
    return "/" + "/".join(str(part).replace("~", "~0").replace("/", "~1") for part in loc)


def install(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = problem(exc.status_code, str(exc.detail), request.url.path)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(StoreError)
    async def unwritable(request: Request, exc: StoreError) -> JSONResponse:
        detail = f"{exc}. Nothing was recorded; new risk is refused until the database takes writes again."
        return problem(503, detail, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            FieldError(pointer=_pointer(tuple(e.get("loc", ()))), detail=str(e.get("msg", ""))) for e in exc.errors()
        ]
        first = errors[0] if errors else FieldError(pointer="/", detail="invalid request")
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return problem(422, f"{first.pointer}: {first.detail}{more}", request.url.path, errors)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problem answers a route can give."""
    return {
        code: {"model": Problem, "description": HTTPStatus(code).phrase, "content": {MEDIA_TYPE: {}}} for code in codes
    }


__all__ = ["MEDIA_TYPE", "FieldError", "Problem", "install", "problem", "responses"]
