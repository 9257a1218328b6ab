"""The one exception hierarchy. The category of an error says what the caller must do.

- ``ConfigError``: stop and tell the user what to fix (path, bad value, what is allowed).
- ``InputError``: reject this one input with a clear message; nothing changes, the process keeps running.
- ``TransientError``: a connector or resource hiccup; retry with backoff.
- ``StoreError``: the database cannot take a write; refuse new risk until it can.
- ``IntegrityError``: stored data fails verification (audit chain, foreign keys); investigate.

Rule denials are *not* exceptions: rules return verdicts.
"""

from __future__ import annotations


class EnigmaError(Exception):
    """Base of every error this project raises on purpose."""

    action = "see the message"


class ConfigError(EnigmaError):
    """The configuration is invalid or unusable."""

    action = "fix the configuration and start again"

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class InputError(EnigmaError):
    """One input (message, symbol, price, request) is invalid. Reject it; change nothing."""

    action = "reject this input"

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class UnknownSymbolError(InputError):
    """A symbol that no configured instrument matches."""


class PriceError(InputError):
    """A price that is not finite, not positive or off the instrument's tick."""


class TransientError(EnigmaError):
    """Temporary failure of an outside resource."""

    action = "retry with backoff"


class StoreError(EnigmaError):
    """The database rejected or could not complete a write."""

    action = "halt new risk until the database accepts writes again"


class IntegrityError(StoreError):
    """Stored data does not verify (hash chain, foreign keys)."""

    action = "stop trading on this database and investigate"
