"""HTTP routes. Thin: each handler calls the service facade and translates the answer."""

# No `from __future__ import annotations`: FastAPI must resolve the dependency annotations of the
# handlers defined inside create_app at runtime.

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from enigma_apex import __version__
from enigma_apex.adapters.store import repository
from enigma_apex.adapters.store.tokens import TokenRecord
from enigma_apex.app.service import HubService
from enigma_apex.app.webhooks import TradingViewWebhook
from enigma_apex.domain.signals import SignalSource
from enigma_apex.intake.manual import signal_from_message
from enigma_apex.intake.tradingview import MAX_BODY_BYTES
from enigma_apex.protocol import messages as m
from enigma_apex.protocol.roles import may_send
from enigma_apex.protocol.validate import check

_bearer = HTTPBearer(auto_error=False)


class SignalRequest(BaseModel):
    """A manual signal over HTTP: the WebSocket ``signal`` message's fields; ``id`` makes a retry harmless."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")] | None = None
    symbol: str = Field(min_length=1, max_length=32)
    side: Literal["long", "short", "exit"]
    entry: Decimal | None = Field(None, gt=0, allow_inf_nan=False, max_digits=20)
    stop: Decimal | None = Field(None, gt=0, allow_inf_nan=False, max_digits=20)
    target: Decimal | None = Field(None, gt=0, allow_inf_nan=False, max_digits=20)
    group: str | None = Field(None, max_length=64)
    power: int | None = Field(None, ge=0, le=100)
    confluence: int | None = Field(None, ge=1, le=4)
    note: str | None = Field(None, max_length=500)
    quantity: int | None = Field(None, ge=1, le=10_000)
    trend: Literal["up", "down", "flat"] | None = None


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

    def role_may(kind: str) -> Any:
        def dependency(record: Annotated[TokenRecord, Depends(current_token)]) -> TokenRecord:
            if not may_send(record.role, kind):
                raise HTTPException(403, f"role {record.role!r} may not send {kind}")
            return record

        return dependency

    def pipeline() -> Any:
        gateway = service.gateway
        if gateway is None or gateway.pipeline is None:
            raise HTTPException(503, "the signal pipeline is not running")
        return gateway.pipeline

    @app.post("/api/v1/signals", summary="A manual signal: analysed, gated, sized and executed per its group's mode")
    async def post_signal(
        body: SignalRequest, record: Annotated[TokenRecord, Depends(role_may("signal"))]
    ) -> JSONResponse:
        signals = pipeline()
        now = service.clock.now()
        fields = body.model_dump(exclude={"id"})
        message = m.SignalMsg(id=body.id or repository.new_id(), ts=now, **fields)
        problem = check(message, [a.name for a in service.settings.accounts], now.date())
        if problem is not None:
            raise HTTPException(422, f"{problem.path}: {problem.message}")
        try:
            signal = signal_from_message(message, repository.new_id(), now, record.name, SignalSource.MANUAL)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        dedup = f"api:{record.name}:{body.id}" if body.id else None
        outcome = await signals.submit(signal, dedup_key=dedup, raw=body.model_dump(mode="json"))
        return JSONResponse(outcome.as_dict(), status_code=200 if outcome.duplicate else 201)

    @app.post("/api/v1/signals/{signal_id}/{verb}", summary="Approve or reject a signal waiting in confirm mode")
    async def decide_signal(
        signal_id: str, verb: str, record: Annotated[TokenRecord, Depends(role_may("approve"))]
    ) -> JSONResponse:
        signals = pipeline()
        if verb not in ("approve", "reject"):
            raise HTTPException(404, "use /approve or /reject")
        actor = f"api:{record.name}"
        outcome = await (signals.approve(signal_id, actor) if verb == "approve" else signals.reject(signal_id, actor))
        if outcome.duplicate:
            raise HTTPException(409, f"signal {signal_id} is not waiting for approval")
        return JSONResponse(outcome.as_dict())

    @app.get(
        "/api/v1/decisions", summary="The decision record, newest first (signal, analysis, verdicts, size, orders)"
    )
    def decisions(
        record: Annotated[TokenRecord, Depends(current_token)],
        since: datetime | None = None,
        account: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        if since is not None and since.tzinfo is None:
            raise HTTPException(422, "since needs a time zone, e.g. 2026-12-01T15:00:00Z")
        with service.store.engine.connect() as conn:
            return {"decisions": repository.list_decisions(conn, since, limit, account)}

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

    @app.post("/api/v1/orders/{key}/cancel", summary="Cancel a working order (cancels are never refused)")
    async def cancel(key: str, record: Annotated[TokenRecord, Depends(controller)]) -> dict[str, Any]:
        gateway = service.gateway
        if gateway is None:
            raise HTTPException(503, "the gateway is not running")
        try:
            result = await gateway.cancel_order(key, f"api:{record.name}")
        except KeyError:
            raise HTTPException(404, f"unknown order {key!r}") from None
        return {"order": key, "result": result}

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
