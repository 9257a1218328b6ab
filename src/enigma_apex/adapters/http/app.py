"""HTTP routes. Thin: each handler calls the service facade and translates the answer."""

# No `from __future__ import annotations`: FastAPI must resolve the dependency annotations of the
# handlers defined inside create_app at runtime.

from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from enigma_apex import __version__
from enigma_apex.adapters.store.tokens import TokenRecord
from enigma_apex.app.service import HubService

_bearer = HTTPBearer(auto_error=False)


def create_app(service: HubService) -> FastAPI:
    app = FastAPI(title="Enigma-Apex hub", version=__version__)
    app.state.service = service

    def current_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> TokenRecord:
        if credentials is None:
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        record = service.authenticate(credentials.credentials)
        if record is None:
            raise HTTPException(401, "unknown, revoked or expired token", headers={"WWW-Authenticate": "Bearer"})
        return record

    def admin(record: Annotated[TokenRecord, Depends(current_token)]) -> TokenRecord:
        if record.role not in ("admin", "dashboard"):
            raise HTTPException(403, f"role {record.role!r} may not change settings")
        return record

    @app.get("/health", summary="Liveness and database status (no authentication)")
    def health() -> JSONResponse:
        body = service.health()
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    @app.get("/version", summary="Version and schema revision")
    def version() -> dict[str, Any]:
        return service.version()

    @app.post("/api/v1/config/reload", summary="Re-read the configuration file and apply live keys")
    def reload_config(request: Request, record: Annotated[TokenRecord, Depends(admin)]) -> JSONResponse:
        outcome = service.reload_config(source=f"api:{record.name}")
        return JSONResponse(outcome.as_dict(), status_code=200 if outcome.ok else 422)

    return app
