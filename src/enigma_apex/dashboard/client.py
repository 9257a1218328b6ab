"""The hub's HTTP API as the dashboard uses it: bearer token, short timeouts, problem details as errors."""

from __future__ import annotations

from typing import Any

import httpx

COMMAND_TIMEOUT_S = 15.0  # a command (approve, halt, close) may take the hub a while on a busy machine


class HubError(Exception):
    def __init__(self, status: int, detail: str, *, unknown: bool = False) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.unknown = unknown  # a command sent without an answer: the hub may have done it


def loopback(url: str) -> bool:
    host = httpx.URL(url).host
    return host in ("localhost", "::1") or host.startswith("127.")


class HubAPI:
    def __init__(
        self, base_url: str, token: str, *, timeout_s: float = 3.0, command_timeout_s: float = COMMAND_TIMEOUT_S
    ) -> None:
        self.command_timeout_s = command_timeout_s
        # The hub on this machine over https (http.tls_cert): its certificate names the address others use, so
        # it is not checked on loopback, where the traffic never leaves the machine.
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
            verify=not loopback(base_url),
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> HubAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            if method == "POST":
                raise HubError(0, "no answer in time: the hub may still have done it; check the page before trying "
                               "again", unknown=True) from exc  # fmt: skip
            raise HubError(0, f"the hub does not answer ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise HubError(0, f"the hub does not answer ({type(exc).__name__})") from exc
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise HubError(response.status_code, str(detail))
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        return self._call("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any = None) -> Any:
        """A command: a longer wait than a read, and a timeout is 'unknown', never 'not done'."""
        return self._call("POST", path, json=body if body is not None else {}, timeout=self.command_timeout_s)

    # the calls the pages make
    def accounts(self) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/accounts")["accounts"])

    def account(self, name: str) -> dict[str, Any]:
        return dict(self.get(f"/api/v1/accounts/{name}"))

    def history(self, name: str, since: str | None = None) -> list[dict[str, Any]]:
        return list(self.get(f"/api/v1/accounts/{name}/history", since=since)["samples"])

    def decisions(self, limit: int = 200, account: str | None = None) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/decisions", limit=limit, account=account)["decisions"])

    def fills(self, account: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/fills", account=account, limit=limit)["fills"])

    def alerts(self, limit: int = 200) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/alerts", limit=limit)["alerts"])

    def errors(self, limit: int = 20) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/errors", limit=limit)["entries"])

    def components(self) -> dict[str, Any]:
        return dict(self.get("/api/v1/health/components"))

    def health(self) -> dict[str, Any]:
        return dict(self._call("GET", "/health"))

    def config(self) -> dict[str, Any]:
        return dict(self.get("/api/v1/config"))

    def flatten_all(self, reason: str) -> dict[str, Any]:
        return dict(self.post("/api/v1/flatten", {"reason": reason}))

    def halt(self, account: str, reason: str) -> dict[str, Any]:
        return dict(self.post("/api/v1/halt", {"account": account, "reason": reason}))

    def resume(self, account: str) -> dict[str, Any]:
        return dict(self.post(f"/api/v1/resume/{account}"))

    def decide(self, signal_id: str, verb: str, accounts: list[str] | None = None) -> dict[str, Any]:
        return dict(self.post(f"/api/v1/signals/{signal_id}/{verb}", {"accounts": accounts} if accounts else None))

    def approvals(self) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/approvals")["approvals"])

    def market(self, symbol: str, since: str | None = None) -> dict[str, Any]:
        return dict(self.get(f"/api/v1/market/{symbol}", since=since))

    def trades(self, account: str | None = None, since: str | None = None) -> dict[str, Any]:
        return dict(self.get("/api/v1/trades", account=account, since=since))

    def guardian_record(self, since: str | None = None) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/guardian/record", since=since)["refusals"])

    def cancel(self, key: str) -> dict[str, Any]:
        return dict(self.post(f"/api/v1/orders/{key}/cancel"))

    def close_position(self, account: str, symbol: str) -> dict[str, Any]:
        return dict(self.post(f"/api/v1/positions/{account}/close", {"symbol": symbol}))

    def preview(self, signal: dict[str, Any]) -> list[dict[str, Any]]:
        return list(self.post("/api/v1/signals/preview", signal)["accounts"])

    def send_signal(self, signal: dict[str, Any]) -> dict[str, Any]:
        return dict(self.post("/api/v1/signals", signal))

    def update_settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        return dict(self.post("/api/v1/settings", {"changes": changes}))


__all__ = ["HubAPI", "HubError"]
