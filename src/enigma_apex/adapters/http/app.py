"""HTTP routes. Thin: each handler calls the service facade and translates the answer."""

# No `from __future__ import annotations`: FastAPI must resolve the dependency annotations of the
# handlers defined inside create_app at runtime.

from datetime import datetime
from decimal import Decimal
from http import HTTPStatus
from typing import Annotated, Any, Literal

import swagger_ui_bundle
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import Route

from enigma_apex import __version__
from enigma_apex.adapters.http import problems
from enigma_apex.adapters.http.problems import responses
from enigma_apex.adapters.store import repository
from enigma_apex.adapters.store.tokens import TokenRecord
from enigma_apex.app import views
from enigma_apex.app.metrics import service_metrics
from enigma_apex.app.service import HubService
from enigma_apex.app.webhooks import TradingViewWebhook
from enigma_apex.domain.signals import SignalSource
from enigma_apex.intake.manual import signal_from_message
from enigma_apex.protocol import messages as m
from enigma_apex.protocol.roles import may_send
from enigma_apex.protocol.validate import check

_bearer = HTTPBearer(auto_error=False)
LimitQuery = Annotated[int, Query(ge=1, le=1000)]


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


class HaltRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account: str | None = Field(None, max_length=64)  # None: every account
    reason: str = Field("halted by the operator", max_length=500)


class SettingsRequest(BaseModel):
    """Live keys by their dotted path, e.g. ``{"guardian.warn_buffer": "500"}``."""

    model_config = ConfigDict(extra="forbid")

    changes: dict[Annotated[str, Field(max_length=96)], Any] = Field(min_length=1, max_length=50)


class StopRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accounts: list[str] | None = None  # None: every account
    reason: str = Field("emergency stop", max_length=500)


def create_app(service: HubService) -> FastAPI:
    app = FastAPI(
        title="Enigma-Apex hub",
        version=__version__,
        description="Accounts and their live risk state, signals, decisions, orders, fills, positions, alerts, "
        "component health, the audit log and the configuration; manual signals, approvals, halts, flattens and "
        "live settings. Bearer tokens from `enigma-apex token create`; errors are RFC 9457 problem details.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service
    problems.install(app)
    # /docs works offline: Swagger UI's files come from the swagger-ui-bundle package, not a CDN
    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Enigma-Apex hub API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )

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

    def manual_signal(body: SignalRequest, record: TokenRecord) -> Any:
        """The request as a domain signal, checked like a WebSocket ``signal`` (422 with the reason if not)."""
        now = service.clock.now()
        message = m.SignalMsg(id=body.id or repository.new_id(), ts=now, **body.model_dump(exclude={"id"}))
        problem = check(message, [a.name for a in service.settings.accounts], now.date())
        if problem is not None:
            raise HTTPException(422, f"{problem.path}: {problem.message}")
        try:
            return signal_from_message(message, repository.new_id(), now, record.name, SignalSource.MANUAL)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None

    @app.post(
        "/api/v1/signals",
        responses={200: {"description": "a repeated id: nothing done"}, **responses(401, 403, 422, 503)},
        status_code=201,
        summary="A manual signal: analysed, gated, sized and executed per its group's mode",
    )
    async def post_signal(
        body: SignalRequest, record: Annotated[TokenRecord, Depends(role_may("signal"))]
    ) -> JSONResponse:
        signals = pipeline()
        signal = manual_signal(body, record)
        dedup = f"api:{record.name}:{body.id}" if body.id else None
        outcome = await signals.submit(signal, dedup_key=dedup, raw=body.model_dump(mode="json"))
        return JSONResponse(outcome.as_dict(), status_code=200 if outcome.duplicate else 201)

    @app.post(
        "/api/v1/signals/preview",
        responses=responses(401, 403, 422, 503),
        summary="What each account of the group would do with this signal now (nothing is stored or sent)",
    )
    async def preview_signal(
        body: SignalRequest, record: Annotated[TokenRecord, Depends(role_may("signal"))]
    ) -> dict[str, Any]:
        signals = pipeline()
        signal = manual_signal(body, record)
        return {"accounts": views.jsonable(await signals.preview(signal))}

    @app.post(
        "/api/v1/signals/{signal_id}/{verb}",
        responses=responses(401, 403, 404, 409, 422, 503),
        summary="Approve or reject a signal waiting in confirm mode",
    )
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
        "/api/v1/decisions",
        responses=responses(401, 422),
        summary="The decision record, newest first (signal, analysis, verdicts, size, orders)",
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

    @app.post(
        "/api/v1/flatten",
        responses=responses(401, 403, 404, 422, 503),
        summary="Emergency stop: HALTED first, then flatten (given accounts, or all)",
    )
    async def flatten(body: StopRequest, record: Annotated[TokenRecord, Depends(controller)]) -> dict[str, Any]:
        gateway = service.gateway
        if gateway is None:
            raise HTTPException(503, "the gateway is not running")
        unknown = sorted(set(body.accounts or []) - {a.name for a in service.settings.accounts})
        if unknown:
            raise HTTPException(404, f"unknown account(s): {', '.join(unknown)}")
        result = await gateway.emergency_stop(body.accounts, body.reason, f"api:{record.name}")
        return {"accounts": result}

    @app.post(
        "/api/v1/orders/{key}/cancel",
        responses=responses(401, 403, 404, 422, 503),
        summary="Cancel a working order (cancels are never refused)",
    )
    async def cancel(key: str, record: Annotated[TokenRecord, Depends(controller)]) -> dict[str, Any]:
        gateway = service.gateway
        if gateway is None:
            raise HTTPException(503, "the gateway is not running")
        try:
            result = await gateway.cancel_order(key, f"api:{record.name}")
        except KeyError:
            raise HTTPException(404, f"unknown order {key!r}") from None
        return {"order": key, "result": result}

    @app.post(
        "/api/v1/resume/{account}",
        responses=responses(401, 403, 404, 422),
        summary="Resume an account halted by the operator or a buffer",
    )
    async def resume(account: str, record: Annotated[TokenRecord, Depends(controller)]) -> dict[str, Any]:
        guardian = service.guardian
        if guardian is None or account not in guardian.trackers:
            raise HTTPException(404, f"unknown account {account!r}")
        snap = guardian.resume(account)
        return {"account": account, "state": snap.state.value.upper(), "reason": snap.state_reason}

    def webhook_hook(secret: str) -> TradingViewWebhook:
        """The webhook of the running pipeline; a wrong secret and a disabled webhook answer exactly as a route that
        does not exist, whatever the method."""
        gateway = service.gateway
        hook: TradingViewWebhook | None = getattr(app.state, "tradingview", None)
        pipeline = None if gateway is None else gateway.pipeline
        if pipeline is not None and (hook is None or hook.pipeline is not pipeline):
            hook = app.state.tradingview = TradingViewWebhook(pipeline)
        if hook is None or not hook.secret_matches(secret):
            raise HTTPException(404, HTTPStatus.NOT_FOUND.phrase)
        return hook

    class OtherMethods:
        """Every method but POST on the webhook's path (an ASGI app: Starlette routes it whatever the method)."""

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            webhook_hook(scope["path_params"]["secret"])
            raise HTTPException(405, HTTPStatus.METHOD_NOT_ALLOWED.phrase, headers={"Allow": "POST"})

    @app.post(
        "/webhooks/tradingview/{secret}",
        responses={202: {"description": "accepted; the decision goes on behind"}, **responses(400, 404, 413, 503)},
        summary="TradingView alert (the secret is in the path: TradingView cannot send headers)",
    )
    async def tradingview(secret: str, request: Request) -> JSONResponse:
        hook = webhook_hook(secret)
        gateway = service.gateway
        if gateway is None or gateway.pipeline is None:
            raise HTTPException(503, "the signal pipeline is not running")
        limit = gateway.pipeline.settings.signals.webhook_max_body_bytes
        declared = request.headers.get("content-length", "")
        size, body = 0, bytearray()
        if declared.isdigit() and int(declared) > limit:
            size = int(declared)
        else:
            async for chunk in request.stream():
                size += len(chunk)
                if size <= limit:
                    body += chunk
                elif size > 64 * limit:  # counted this far, no further
                    break
        if size > limit:
            at_least = "at least " if size > 64 * limit else ""
            raise HTTPException(
                413,
                f"body of {at_least}{size:,} bytes is over the {limit:,}-byte limit (signals.webhook_max_body_bytes)",
            )
        answer = await hook.receive(bytes(body))
        return JSONResponse(answer.body, status_code=answer.status)

    # every other method on the webhook's path: 404 for a wrong secret (as for any unknown route), else 405
    app.router.routes.append(Route("/webhooks/tradingview/{secret}", OtherMethods(), include_in_schema=False))

    @app.get(
        "/health", responses=responses(503), summary="Liveness, database and per-component status (no authentication)"
    )
    def health() -> JSONResponse:
        body = service.health()
        return JSONResponse(body, status_code=503 if body["status"] == "down" else 200)

    @app.get("/version", summary="Version and schema revision")
    def version() -> dict[str, Any]:
        return service.version()

    @app.post(
        "/api/v1/config/reload",
        responses=responses(401, 403, 422),
        summary="Re-read the configuration file and apply live keys",
    )
    def reload_config(request: Request, record: Annotated[TokenRecord, Depends(admin)]) -> JSONResponse:
        outcome = service.reload_config(source=f"api:{record.name}")
        return JSONResponse(outcome.as_dict(), status_code=200 if outcome.ok else 422)

    # ---------------------------------------------------------------- read models
    def guardian() -> Any:
        if service.guardian is None:
            raise HTTPException(503, "the compliance guardian is not running")
        return service.guardian

    def connected_executors() -> set[str]:
        gateway = service.gateway
        return set(gateway.executors) if gateway is not None else set()

    def known(account: str | None) -> str | None:
        if account is not None and account not in {a.name for a in service.settings.accounts}:
            raise HTTPException(404, f"unknown account {account!r}")
        return account

    def aware(since: datetime | None) -> datetime | None:
        if since is not None and since.tzinfo is None:
            raise HTTPException(422, "since needs a time zone, e.g. 2026-12-01T15:00:00Z")
        return since

    read = responses(401, 422)

    @app.get("/api/v1/accounts", responses=read, summary="Every account with its live risk state and distance to ruin")
    def accounts(record: Annotated[TokenRecord, Depends(current_token)]) -> dict[str, Any]:
        return {"accounts": views.account_views(service.settings, guardian(), connected_executors())}

    @app.get("/api/v1/accounts/{account}", responses=responses(401, 404, 422), summary="One account, with positions")
    def account(account: str, record: Annotated[TokenRecord, Depends(current_token)]) -> dict[str, Any]:
        known(account)
        view = next(v for v in views.account_views(service.settings, guardian(), connected_executors())
                    if v["account"] == account)  # fmt: skip
        return {**view, "positions": views.positions(service.store, account),
                "orders": views.orders(service.store, account, None, 50)}  # fmt: skip

    @app.get(
        "/api/v1/accounts/{account}/history",
        responses=responses(401, 404, 422),
        summary="The account's equity, threshold and peak over time (sampled every 5 s while the hub runs)",
    )
    def history(account: str, record: Annotated[TokenRecord, Depends(current_token)]) -> dict[str, Any]:
        known(account)
        return {"account": account, "samples": service.history.of(account)}

    @app.get("/api/v1/signals", responses=read, summary="Recorded signals, newest first")
    def list_signals(
        record: Annotated[TokenRecord, Depends(current_token)], since: datetime | None = None, limit: LimitQuery = 100
    ) -> dict[str, Any]:
        return {"signals": views.signals(service.store, aware(since), limit)}

    @app.get("/api/v1/orders", responses=responses(401, 404, 422), summary="Orders, newest first")
    def list_orders(
        record: Annotated[TokenRecord, Depends(current_token)],
        account: str | None = None,
        status: Literal[
            "pending", "accepted", "working", "partially_filled", "filled", "cancelled", "rejected", "expired"
        ]
        | None = None,
        limit: LimitQuery = 100,
    ) -> dict[str, Any]:
        return {"orders": views.orders(service.store, known(account), status, limit)}

    @app.get("/api/v1/fills", responses=responses(401, 404, 422), summary="Fills, newest first")
    def list_fills(
        record: Annotated[TokenRecord, Depends(current_token)],
        account: str | None = None,
        since: datetime | None = None,
        limit: LimitQuery = 100,
    ) -> dict[str, Any]:
        return {"fills": views.fills(service.store, known(account), aware(since), limit)}

    @app.get("/api/v1/positions", responses=responses(401, 404, 422), summary="Open positions rebuilt from fills")
    def list_positions(
        record: Annotated[TokenRecord, Depends(current_token)], account: str | None = None
    ) -> dict[str, Any]:
        return {"positions": views.positions(service.store, known(account))}

    @app.get("/api/v1/alerts", responses=read, summary="Alerts, newest first")
    def list_alerts(
        record: Annotated[TokenRecord, Depends(current_token)],
        severity: Literal["info", "warning", "critical"] | None = None,
        since: datetime | None = None,
        limit: LimitQuery = 100,
    ) -> dict[str, Any]:
        return {"alerts": views.alerts(service.store, severity, aware(since), limit)}

    @app.get("/api/v1/health/components", responses=read, summary="Each component's latest health and the clients")
    def component_health(record: Annotated[TokenRecord, Depends(current_token)]) -> dict[str, Any]:
        gateway = service.gateway
        clients: dict[str, int] = {}
        for peer in list(gateway.peers) if gateway is not None else []:
            if peer.role:
                clients[peer.role] = clients.get(peer.role, 0) + 1
        return {"components": views.components(service.store), "clients": clients,
                "executors": sorted(connected_executors())}  # fmt: skip

    @app.get("/api/v1/audit", responses=read, summary="The audit log, newest first, a page at a time")
    def audit(
        record: Annotated[TokenRecord, Depends(current_token)],
        before_id: Annotated[int | None, Query(ge=1)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        return views.audit_page(service.store, before_id, limit)

    @app.get("/api/v1/errors", responses=read, summary="Errors the hub logged, with context, newest first")
    def errors(
        record: Annotated[TokenRecord, Depends(current_token)],
        before_id: Annotated[int | None, Query(ge=1)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        return views.errors_page(service.store, before_id, limit)

    @app.get("/api/v1/config", responses=read, summary="The running configuration, secrets masked, live keys marked")
    def config(record: Annotated[TokenRecord, Depends(current_token)]) -> dict[str, Any]:
        from enigma_apex.config.schema import flatten, key_info

        values = flatten(service.settings)
        live = sorted(k for k in values if (info := key_info(k)) is not None and info.reloadable)
        return {"values": views.jsonable(values), "live": live}

    @app.post("/api/v1/settings", responses=responses(401, 403, 422), summary="Change live settings (hot reload)")
    def settings(body: SettingsRequest, record: Annotated[TokenRecord, Depends(admin)]) -> JSONResponse:
        outcome = service.update_settings(body.changes, source=f"api:{record.name}")
        if not outcome.ok:
            errors = [
                problems.FieldError(pointer="/body/changes/" + p.split(":", 1)[0], detail=p) for p in outcome.problems
            ]
            return problems.problem(422, "; ".join(outcome.problems)[:1000], "/api/v1/settings", errors)
        return JSONResponse(outcome.as_dict())

    @app.post(
        "/api/v1/halt", responses=responses(401, 403, 404, 422, 503), summary="Halt an account (or all), then flatten"
    )
    async def halt(body: HaltRequest, record: Annotated[TokenRecord, Depends(controller)]) -> dict[str, Any]:
        gateway = service.gateway
        if gateway is None:
            raise HTTPException(503, "the gateway is not running")
        known(body.account)
        targets = None if body.account is None else [body.account]
        return {"accounts": await gateway.emergency_stop(targets, body.reason, f"api:{record.name}")}

    @app.get("/metrics", summary="Prometheus metrics (text format)", response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(service_metrics(service), media_type=CONTENT_TYPE_LATEST)

    return app
