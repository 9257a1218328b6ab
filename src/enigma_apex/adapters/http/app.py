"""HTTP routes. Thin: each handler calls the service facade and translates the answer."""

# No `from __future__ import annotations`: FastAPI must resolve the dependency annotations of the
# handlers defined inside create_app at runtime.

from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from enigma_apex import __version__
from enigma_apex.adapters.store.tokens import TokenRecord
from enigma_apex.app.service import HubService
from enigma_apex.app.webhooks import TradingViewWebhook
from enigma_apex.intake.tradingview import MAX_BODY_BYTES

_bearer = HTTPBearer(auto_error=False)


class StopRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accounts: list[str] | None = None  # None: every account
    reason: str = Field("emergency stop", max_length=500)


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

    def controller(record: Annotated[TokenRecord, Depends(current_token)]) -> TokenRecord:
        if record.role not in ("admin", "dashboard", "mobile"):
            raise HTTPException(403, f"role {record.role!r} may not halt, flatten or resume")
        return record

    @app.post("/api/v1/flatten", summary="Emergency stop: HALTED first, then flatten (given accounts, or all)")
    async def flatten(body: StopRequest, record: Annotated[TokenRecord, Depends(controller)]) -> dict[str, Any]:
        gateway = service.gateway
        if gateway is None:
            raise HTTPException(503, "the gateway is not running")
        unknown = sorted(set(body.accounts or []) - {a.name for a in service.settings.accounts})
        if unknown:
            raise HTTPException(404, f"unknown account(s): {', '.join(unknown)}")
        result = await gateway.emergency_stop(body.accounts, body.reason, f"api:{record.name}")
        return {"accounts": result}

    @app.post("/api/v1/resume/{account}", summary="Resume an account halted by the operator or a buffer")
    async def resume(account: str, record: Annotated[TokenRecord, Depends(controller)]) -> dict[str, Any]:
        guardian = service.guardian
        if guardian is None or account not in guardian.trackers:
            raise HTTPException(404, f"unknown account {account!r}")
        snap = guardian.resume(account)
        return {"account": account, "state": snap.state.value.upper(), "reason": snap.state_reason}

    @app.post(
        "/webhooks/tradingview/{secret}",
        summary="TradingView alert (the secret is in the path: TradingView cannot send headers)",
    )
    async def tradingview(secret: str, request: Request) -> JSONResponse:
        gateway = service.gateway
        if gateway is None or gateway.pipeline is None:
            raise HTTPException(503, "the signal pipeline is not running")
        hook = getattr(app.state, "tradingview", None)
        if hook is None or hook.pipeline is not gateway.pipeline:
            hook = app.state.tradingview = TradingViewWebhook(gateway.pipeline)
        if not hook.secret_matches(secret):
            raise HTTPException(404, "not found")  # a wrong secret and a disabled webhook look the same
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                break
        answer = await hook.receive(body)
        return JSONResponse(answer.body, status_code=answer.status)

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
