"""HTTP routes. Thin: each handler calls the service facade and translates the answer."""

# No `from __future__ import annotations`: FastAPI must resolve the dependency annotations of the
# handlers defined inside create_app at runtime.

import asyncio
import dataclasses
from datetime import datetime, timedelta
from decimal import Decimal
from http import HTTPStatus
from typing import Annotated, Any, Literal

import structlog
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
from enigma_apex.adapters.store import repository, tokens
from enigma_apex.adapters.store.tokens import TokenRecord
from enigma_apex.app import views
from enigma_apex.app.metrics import service_metrics
from enigma_apex.app.service import HubService
from enigma_apex.app.signin import fingerprint
from enigma_apex.app.webhooks import TradingViewWebhook
from enigma_apex.domain.signals import SignalSource
from enigma_apex.domain.symbols import format_symbol, parse_symbol
from enigma_apex.errors import InputError
from enigma_apex.intake.manual import signal_from_message
from enigma_apex.protocol import access
from enigma_apex.protocol import messages as m
from enigma_apex.protocol.validate import check

log = structlog.get_logger("enigma_apex.http")
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


class BootstrapRequest(BaseModel):
    """The firm's dashboard figures for an account tracked from mid-cycle (at least one)."""

    model_config = ConfigDict(extra="forbid")

    peak: Decimal | None = Field(None, gt=0, allow_inf_nan=False, max_digits=20)
    threshold: Decimal | None = Field(None, gt=0, allow_inf_nan=False, max_digits=20)
    balance: Decimal | None = Field(None, gt=0, allow_inf_nan=False, max_digits=20)


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    role: Literal["admin", "executor", "signal", "dashboard", "mobile", "observer"]
    accounts: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=100)
    expires_days: float | None = Field(None, gt=0, le=3650)


@dataclasses.dataclass(frozen=True)
class Caller:
    """A signed-in HTTP caller: its token record and the accounts it sees."""

    record: TokenRecord
    accounts: frozenset[str]

    @property
    def bound(self) -> bool:
        return bool(self.record.accounts)

    @property
    def only(self) -> frozenset[str] | None:
        """The accounts to filter lists by (None: an unbound caller sees every account)."""
        return self.accounts if self.bound or self.record.role == "executor" else None


class ApprovalRequest(BaseModel):
    """Approve or reject for these accounts only (no body, or no accounts: every account the signal waits for)."""

    model_config = ConfigDict(extra="forbid")

    accounts: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        None, min_length=1, max_length=500
    )


class CloseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(min_length=1, max_length=32)


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

    def sign_in(request: Request, credentials: HTTPAuthorizationCredentials | None) -> TokenRecord:
        """The caller's token record: 401 without a valid token, 429 (with Retry-After) for an address or a token
        that failed too often — a valid token is always let in (``app/signin.py``)."""
        if credentials is None:
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        token = credentials.credentials
        record = service.authenticate(token, local=_from_this_machine(request))
        if record is not None:
            return record
        address = request.client.host if request.client else "?"
        refusal = service.sign_ins.failed(address, token)
        if refusal is None:
            log.warning("http.auth_failed", address=address, token=fingerprint(token), path=request.url.path)
            raise HTTPException(401, "unknown, revoked or expired token", headers={"WWW-Authenticate": "Bearer"})
        if refusal.first:
            log.warning("http.auth_rate_limited", address=address, retry_after_s=refusal.retry_after_s)
        raise HTTPException(
            429,
            f"too many failed sign-ins; retry in {refusal.retry_after_s} s (a valid token is always let in)",
            headers={"Retry-After": str(refusal.retry_after_s)},
        )

    def caller(right: str) -> Any:
        """A dependency: the signed-in caller, holding ``right`` (protocol/access.py), with the accounts it sees."""

        def dependency(
            request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
        ) -> Caller:
            record = sign_in(request, credentials)
            if not access.allowed(record.role, right):
                raise HTTPException(403, f"role {record.role!r} may not {access.ACTIONS[right]}")
            configured = [a.name for a in service.settings.accounts]
            owned = [a.name for a in service.settings.accounts if a.executor == record.name]
            return Caller(record, access.visible(record.role, record.accounts, configured, owned))

        return dependency

    def seen(who: Caller, account: str | None) -> str | None:
        """``account`` when the caller sees it; 404 for an unknown account or one outside its binding."""
        if account is not None and account not in who.accounts:
            raise HTTPException(404, f"unknown account {account!r}")
        return account

    def pipeline() -> Any:
        gateway = service.gateway
        if gateway is None or gateway.pipeline is None:
            raise HTTPException(503, "the signal pipeline is not running")
        return gateway.pipeline

    def manual_signal(body: SignalRequest, who: Caller) -> Any:
        """The request as a domain signal, checked like a WebSocket ``signal`` (422 with the reason if not); a
        bound caller may only send to a group whose accounts are all its own (403)."""
        now = service.clock.now()
        message = m.SignalMsg(id=body.id or repository.new_id(), ts=now, **body.model_dump(exclude={"id"}))
        problem = check(message, [a.name for a in service.settings.accounts], now.date())
        if problem is not None:
            raise HTTPException(422, f"{problem.path}: {problem.message}")
        try:
            signal = signal_from_message(message, repository.new_id(), now, who.record.name, SignalSource.MANUAL)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        outside = {a.name for a in pipeline().accounts_for(signal)} - who.accounts
        if outside:
            raise HTTPException(
                403, f"this token is bound to {', '.join(sorted(who.accounts))}; the group holds others"
            )
        return signal

    @app.post(
        "/api/v1/signals",
        responses={200: {"description": "a repeated id: nothing done"}, **responses(401, 403, 422, 429, 503)},
        status_code=201,
        summary="A manual signal: analysed, gated, sized and executed per its group's mode",
    )
    async def post_signal(body: SignalRequest, who: Annotated[Caller, Depends(caller("signal"))]) -> JSONResponse:
        signals = pipeline()
        signal = manual_signal(body, who)
        dedup = f"api:{who.record.name}:{body.id}" if body.id else None
        outcome = await signals.submit(signal, dedup_key=dedup, raw=body.model_dump(mode="json"))
        return JSONResponse(outcome.as_dict(), status_code=200 if outcome.duplicate else 201)

    @app.post(
        "/api/v1/signals/preview",
        responses=responses(401, 403, 422, 429, 503),
        summary="What each account of the group would do with this signal now (nothing is stored or sent)",
    )
    async def preview_signal(body: SignalRequest, who: Annotated[Caller, Depends(caller("signal"))]) -> dict[str, Any]:
        signals = pipeline()
        signal = manual_signal(body, who)
        return {"accounts": views.jsonable(await signals.preview(signal))}

    @app.post(
        "/api/v1/signals/{signal_id}/{verb}",
        responses=responses(401, 403, 404, 409, 422, 429, 503),
        summary="Approve or reject a signal waiting in confirm mode",
    )
    async def decide_signal(
        signal_id: str,
        verb: str,
        who: Annotated[Caller, Depends(caller("approve"))],
        body: ApprovalRequest | None = None,
    ) -> JSONResponse:
        signals = pipeline()
        if verb not in ("approve", "reject"):
            raise HTTPException(404, "use /approve or /reject")
        named = body.accounts if body is not None else None
        waiting = signals.waiting_accounts(signal_id)
        if not (waiting if named is None else frozenset(named)) <= who.accounts:  # a bound caller: its own only
            raise HTTPException(409, f"signal {signal_id} is not waiting for approval")
        if named is not None and waiting and not set(named) <= waiting:
            others = ", ".join(sorted(set(named) - waiting))
            raise HTTPException(409, f"signal {signal_id} is not waiting for approval on {others}")
        actor = f"api:{who.record.name}"
        decide = signals.approve if verb == "approve" else signals.reject
        outcome = await decide(signal_id, actor, named)
        if outcome.duplicate:
            raise HTTPException(409, f"signal {signal_id} is not waiting for approval")
        return JSONResponse(outcome.as_dict())

    @app.get(
        "/api/v1/approvals",
        responses=responses(401, 422, 429, 503),
        summary="Signals waiting for approval, per account, with what approving each would do now",
    )
    async def approvals(who: Annotated[Caller, Depends(caller("read"))]) -> dict[str, Any]:
        waiting = await asyncio.to_thread(pipeline().waiting)
        return {"approvals": views.jsonable([w for w in waiting if w["account"] in who.accounts])}

    @app.get(
        "/api/v1/decisions",
        responses=responses(401, 404, 422, 429),
        summary="The decision record, newest first (signal, analysis, verdicts, size, orders)",
    )
    def decisions(
        who: Annotated[Caller, Depends(caller("read"))],
        since: datetime | None = None,
        account: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        with service.store.engine.connect() as conn:
            rows = repository.list_decisions(conn, aware(since), limit, seen(who, account), who.only)
        return {"decisions": rows}

    def stop_targets(who: Caller, accounts: list[str] | None) -> list[str] | None:
        """The accounts a stop names (404 for one the caller does not see); "every account" of a bound caller is
        its own."""
        if accounts is None:
            return sorted(who.accounts) if who.bound else None
        unknown = sorted(set(accounts) - who.accounts)
        if unknown:
            raise HTTPException(404, f"unknown account(s): {', '.join(unknown)}")
        return accounts

    @app.post(
        "/api/v1/flatten",
        responses=responses(401, 403, 404, 422, 429, 503),
        summary="Emergency stop: HALTED first, then flatten (given accounts, or all)",
    )
    async def flatten(body: StopRequest, who: Annotated[Caller, Depends(caller("control"))]) -> dict[str, Any]:
        gateway = service.gateway
        if gateway is None:
            raise HTTPException(503, "the gateway is not running")
        targets = stop_targets(who, body.accounts)
        result = await gateway.emergency_stop(targets, body.reason, f"api:{who.record.name}")
        return {"accounts": result}

    @app.post(
        "/api/v1/orders/{key}/cancel",
        responses=responses(401, 403, 404, 422, 429, 503),
        summary="Cancel a working order (cancels are never refused)",
    )
    async def cancel(key: str, who: Annotated[Caller, Depends(caller("control"))]) -> dict[str, Any]:
        gateway = service.gateway
        if gateway is None:
            raise HTTPException(503, "the gateway is not running")
        with service.store.engine.connect() as conn:
            order = repository.get_order(conn, key)
        if order is None or order.account not in who.accounts:
            raise HTTPException(404, f"unknown order {key!r}")
        try:
            result = await gateway.cancel_order(key, f"api:{who.record.name}")
        except KeyError:
            raise HTTPException(404, f"unknown order {key!r}") from None
        return {"order": key, "result": result}

    @app.post(
        "/api/v1/positions/{account}/close",
        responses=responses(401, 403, 404, 422, 429, 503),
        summary="Close one position at market (reduce-only) and cancel its working entries; the account is not halted",
    )
    async def close_position(
        account: str, body: CloseRequest, who: Annotated[Caller, Depends(caller("control"))]
    ) -> dict[str, Any]:
        gateway = service.gateway
        if gateway is None:
            raise HTTPException(503, "the gateway is not running")
        seen(who, account)
        try:
            contract = parse_symbol(body.symbol, on=service.clock.now().date())
        except (ValueError, InputError):
            raise HTTPException(422, f"symbol: unknown symbol {body.symbol!r}") from None
        return dict(await gateway.close_position(account, contract, f"api:{who.record.name}"))

    @app.post(
        "/api/v1/resume/{account}",
        responses=responses(401, 403, 404, 422, 429, 503),
        summary="Resume an account halted by the operator or a buffer",
    )
    async def resume(account: str, who: Annotated[Caller, Depends(caller("control"))]) -> dict[str, Any]:
        seen(who, account)
        snap = guardian().resume(account)
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
        responses={
            202: {"description": "stored; the decision goes on behind"},
            **responses(400, 404, 413, 503),
        },
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
        responses=responses(401, 403, 422, 429),
        summary="Re-read the configuration file and apply live keys",
    )
    def reload_config(who: Annotated[Caller, Depends(caller("settings"))]) -> JSONResponse:
        outcome = service.reload_config(source=f"api:{who.record.name}")
        return JSONResponse(outcome.as_dict(), status_code=200 if outcome.ok else 422)

    # ---------------------------------------------------------------- read models
    def guardian() -> Any:
        if service.guardian is None:
            raise HTTPException(503, "the compliance guardian is not running")
        return service.guardian

    def connected_executors() -> set[str]:
        gateway = service.gateway
        return set(gateway.executors) if gateway is not None else set()

    def aware(since: datetime | None) -> datetime | None:
        if since is not None and since.tzinfo is None:
            raise HTTPException(422, "since needs a time zone, e.g. 2026-12-01T15:00:00Z")
        return since

    read = responses(401, 422, 429)

    @app.get("/api/v1/accounts", responses=read, summary="Every account with its live risk state and distance to ruin")
    def accounts(who: Annotated[Caller, Depends(caller("read"))]) -> dict[str, Any]:
        return {"accounts": views.account_views(service.settings, guardian(), connected_executors(), who.only)}

    @app.get(
        "/api/v1/accounts/{account}", responses=responses(401, 404, 422, 429), summary="One account, with positions"
    )
    def account(account: str, who: Annotated[Caller, Depends(caller("read"))]) -> dict[str, Any]:
        seen(who, account)
        return views.account_detail(
            service.settings, guardian(), service.store, service.market, account, connected_executors(),
            service.clock.now(),
        )  # fmt: skip

    @app.get(
        "/api/v1/accounts/{account}/history",
        responses=responses(401, 404, 422, 429),
        summary="The account's equity, threshold and peak over time: kept samples, then the last hours' finer ones",
    )
    def history(
        account: str,
        who: Annotated[Caller, Depends(caller("read"))],
        since: datetime | None = None,
        until: datetime | None = None,
        points: Annotated[int, Query(ge=10, le=10_000)] = 1500,
    ) -> dict[str, Any]:
        seen(who, account)
        samples = service.history.of(account, service.store, aware(since), aware(until), points)
        return {"account": account, "samples": samples}

    @app.get(
        "/api/v1/market/{symbol}",
        responses=responses(401, 404, 422, 429),
        summary="A symbol's last price and bars (the executors' own, or one-minute bars built from their prices)",
    )
    def market(
        symbol: str, who: Annotated[Caller, Depends(caller("read"))], since: datetime | None = None
    ) -> dict[str, Any]:
        try:
            name = format_symbol(parse_symbol(symbol, on=service.clock.now().date()))
        except (ValueError, InputError):
            raise HTTPException(404, f"unknown symbol {symbol!r}") from None
        return service.market.view(name, aware(since))

    @app.get(
        "/api/v1/trades",
        responses=responses(401, 404, 422, 429),
        summary="The trade journal: fills as trades with P&L, R and excursions, by source and setup, per day",
    )
    def trades(
        who: Annotated[Caller, Depends(caller("read"))], account: str | None = None, since: datetime | None = None
    ) -> dict[str, Any]:
        return views.trades(service.settings, service.store, service.market, seen(who, account), aware(since),
                            service.clock.now(), who.only)  # fmt: skip

    @app.get(
        "/api/v1/guardian/record",
        responses=responses(401, 422, 429),
        summary="What the guardian refused, and whether the prices that followed reached the stop or the target",
    )
    def guardian_record(
        who: Annotated[Caller, Depends(caller("read"))], since: datetime | None = None
    ) -> dict[str, Any]:
        refusals = views.guardian_record(service.store, service.market, aware(since), service.clock.now(), who.only)
        return {"refusals": refusals}

    @app.post(
        "/api/v1/accounts/{account}/bootstrap",
        responses=responses(401, 403, 404, 422, 429, 503),
        summary="Start tracking an account mid-cycle from the firm's dashboard figures (peak, threshold, balance)",
    )
    def bootstrap_account(
        account: str, body: BootstrapRequest, who: Annotated[Caller, Depends(caller("maintenance"))]
    ) -> dict[str, Any]:
        seen(who, account)
        values = body.model_dump()
        if all(v is None for v in values.values()):
            raise HTTPException(422, "give peak, threshold or balance")
        snap = guardian().bootstrap(account, **values)
        return {"account": account, **views.jsonable(dataclasses.asdict(snap))}

    @app.get("/api/v1/signals", responses=read, summary="Recorded signals, newest first")
    def list_signals(
        who: Annotated[Caller, Depends(caller("read"))], since: datetime | None = None, limit: LimitQuery = 100
    ) -> dict[str, Any]:
        groups = (
            None if who.only is None else frozenset(a.group for a in service.settings.accounts if a.name in who.only)
        )
        return {"signals": views.signals(service.store, aware(since), limit, groups)}

    @app.get("/api/v1/orders", responses=responses(401, 404, 422, 429), summary="Orders, newest first")
    def list_orders(
        who: Annotated[Caller, Depends(caller("read"))],
        account: str | None = None,
        status: Literal[
            "pending", "accepted", "working", "partially_filled", "filled", "cancelled", "rejected", "expired"
        ]
        | None = None,
        limit: LimitQuery = 100,
    ) -> dict[str, Any]:
        return {"orders": views.orders(service.store, seen(who, account), status, limit, who.only)}

    @app.get("/api/v1/fills", responses=responses(401, 404, 422, 429), summary="Fills, newest first")
    def list_fills(
        who: Annotated[Caller, Depends(caller("read"))],
        account: str | None = None,
        since: datetime | None = None,
        limit: LimitQuery = 100,
    ) -> dict[str, Any]:
        return {"fills": views.fills(service.store, seen(who, account), aware(since), limit, who.only)}

    @app.get("/api/v1/positions", responses=responses(401, 404, 422, 429), summary="Open positions rebuilt from fills")
    def list_positions(who: Annotated[Caller, Depends(caller("read"))], account: str | None = None) -> dict[str, Any]:
        return {"positions": views.positions(service.store, seen(who, account), who.only)}

    @app.get("/api/v1/alerts", responses=read, summary="Alerts, newest first")
    def list_alerts(
        who: Annotated[Caller, Depends(caller("read"))],
        severity: Literal["info", "warning", "critical"] | None = None,
        since: datetime | None = None,
        limit: LimitQuery = 100,
    ) -> dict[str, Any]:
        return {"alerts": views.alerts(service.store, severity, aware(since), limit, who.only)}

    @app.get(
        "/api/v1/health/components",
        responses=responses(401, 403, 422, 429),
        summary="Each component's latest health and the clients",
    )
    def component_health(who: Annotated[Caller, Depends(caller("components"))]) -> dict[str, Any]:
        gateway = service.gateway
        clients: dict[str, int] = {}
        for peer in list(gateway.peers) if gateway is not None else []:
            if peer.role:
                clients[peer.role] = clients.get(peer.role, 0) + 1
        return {"components": views.components(service.store), "clients": clients,
                "executors": sorted(connected_executors())}  # fmt: skip

    audit_only = responses(401, 403, 422, 429)

    @app.get("/api/v1/audit", responses=audit_only, summary="The audit log, newest first, a page at a time")
    def audit(
        who: Annotated[Caller, Depends(caller("audit"))],
        before_id: Annotated[int | None, Query(ge=1)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        return views.audit_page(service.store, before_id, limit)

    @app.get("/api/v1/errors", responses=audit_only, summary="Errors the hub logged, with context, newest first")
    def errors(
        who: Annotated[Caller, Depends(caller("audit"))],
        before_id: Annotated[int | None, Query(ge=1)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        return views.errors_page(service.store, before_id, limit)

    @app.get(
        "/api/v1/config",
        responses=audit_only,
        summary="The running configuration, secrets masked, live keys marked",
    )
    def config(who: Annotated[Caller, Depends(caller("config"))]) -> dict[str, Any]:
        from enigma_apex.config.schema import flatten, key_info

        values = flatten(service.settings)
        live = sorted(k for k in values if (info := key_info(k)) is not None and info.reloadable)
        secret = sorted(k for k in values if (info := key_info(k)) is not None and info.secret)
        described = {k: info.field.description or "" for k in live if (info := key_info(k)) is not None}
        return {"values": views.jsonable(values), "live": live, "secret": secret, "help": described}

    @app.post("/api/v1/settings", responses=responses(401, 403, 422, 429), summary="Change live settings (hot reload)")
    def settings(body: SettingsRequest, who: Annotated[Caller, Depends(caller("settings"))]) -> JSONResponse:
        outcome = service.update_settings(body.changes, source=f"api:{who.record.name}")
        if not outcome.ok:
            errors = [
                problems.FieldError(pointer="/body/changes/" + p.split(":", 1)[0], detail=p) for p in outcome.problems
            ]
            return problems.problem(422, "; ".join(outcome.problems)[:1000], "/api/v1/settings", errors)
        return JSONResponse(outcome.as_dict())

    @app.post(
        "/api/v1/halt",
        responses=responses(401, 403, 404, 422, 429, 503),
        summary="Halt an account (or all), then flatten",
    )
    async def halt(body: HaltRequest, who: Annotated[Caller, Depends(caller("control"))]) -> dict[str, Any]:
        gateway = service.gateway
        if gateway is None:
            raise HTTPException(503, "the gateway is not running")
        targets = stop_targets(who, None if body.account is None else [body.account])
        return {"accounts": await gateway.emergency_stop(targets, body.reason, f"api:{who.record.name}")}

    # ---------------------------------------------------------------- tokens and maintenance (admin)
    def unbound_admin(who: Annotated[Caller, Depends(caller("tokens"))]) -> Caller:
        if who.bound:
            raise HTTPException(403, "a token bound to accounts may not manage tokens")
        return who

    @app.get("/api/v1/tokens", responses=responses(401, 403, 429), summary="Client tokens (never their values)")
    def list_tokens(who: Annotated[Caller, Depends(unbound_admin)]) -> dict[str, Any]:
        with service.store.engine.connect() as conn:
            records = tokens.list_tokens(conn)
        now = service.clock.now()
        return {"tokens": [_token_view(r, now) for r in records]}

    @app.post(
        "/api/v1/tokens",
        status_code=201,
        responses=responses(401, 403, 422, 429, 503),
        summary="Create a client token; its value is in this answer only",
    )
    async def create_token(body: TokenRequest, who: Annotated[Caller, Depends(unbound_admin)]) -> dict[str, Any]:
        expires = None if body.expires_days is None else service.clock.now() + timedelta(days=body.expires_days)
        unknown = sorted(set(body.accounts) - {a.name for a in service.settings.accounts})
        if unknown:
            raise HTTPException(422, f"unknown account(s): {', '.join(unknown)}")

        def op(ctx: Any) -> tuple[str, tokens.TokenRecord]:
            plain, record = tokens.create_token(
                ctx, name=body.name, role=body.role, accounts=tuple(body.accounts), expires_at=expires
            )
            ctx.audit("token.issued", {"id": record.token_id, "by": who.record.name}, actor=f"api:{who.record.name}")
            return plain, record

        plain, record = await service.store.writer.write_async(op)
        return {"token": plain, **_token_view(record, service.clock.now())}

    @app.post(
        "/api/v1/tokens/{token_id}/revoke",
        responses=responses(401, 403, 404, 429, 503),
        summary="Revoke a token at once: its open WebSocket sessions close (4003), its next HTTP call is refused",
    )
    async def revoke_token(token_id: str, who: Annotated[Caller, Depends(unbound_admin)]) -> dict[str, Any]:
        done = await service.store.writer.write_async(lambda ctx: tokens.revoke_token(ctx, token_id))
        if not done:
            raise HTTPException(404, f"no active token {token_id}")
        gateway = service.gateway
        ended = 0 if gateway is None else await gateway.end_sessions(token_id, "token revoked")
        return {"revoked": token_id, "sessions_closed": ended}

    @app.post(
        "/api/v1/db/optimize",
        responses=responses(401, 403, 429, 503),
        summary="Refresh the database's statistics now (the light form; a full VACUUM needs the hub stopped)",
    )
    async def optimize(who: Annotated[Caller, Depends(caller("maintenance"))]) -> dict[str, Any]:
        from enigma_apex.adapters.store import maintenance

        statements = await asyncio.to_thread(maintenance.optimize, service.store.engine, full=False)
        return {"ran": statements}

    @app.get("/metrics", summary="Prometheus metrics (text format)", response_class=PlainTextResponse)
    def metrics(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> PlainTextResponse:
        policy = service.settings.http.metrics_auth
        if policy == "always" or (policy == "off-loopback" and not _from_this_machine(request)):
            record = sign_in(request, credentials)
            if not access.allowed(record.role, "metrics"):
                raise HTTPException(403, f"role {record.role!r} may not read the metrics")
        return PlainTextResponse(service_metrics(service), media_type=CONTENT_TYPE_LATEST)

    return app


def _token_view(record: tokens.TokenRecord, now: datetime) -> dict[str, Any]:
    state = "active" if record.active(now) else ("revoked" if record.revoked_at else "expired")
    return {
        "id": record.token_id,
        "name": record.name,
        "role": record.role,
        "accounts": list(record.accounts),
        "state": state,
        "created_at": record.created_at.isoformat(),
        "expires_at": None if record.expires_at is None else record.expires_at.isoformat(),
    }


LOOPBACK = ("127.0.0.1", "::1", "localhost")
PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def _from_this_machine(request: Request) -> bool:
    """The request comes from this machine itself (loopback, or its own address) and not through a proxy (a
    reverse proxy on this machine connects from loopback for remote clients: it adds a forwarding header)."""
    client = request.client.host if request.client else ""
    server = request.scope.get("server") or ("", 0)
    if any(name in request.headers for name in PROXY_HEADERS):
        return False
    return client in LOOPBACK or client.startswith("127.") or (bool(client) and client == server[0])
