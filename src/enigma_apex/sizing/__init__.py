"""Pure position sizing (Kelly on the drawdown buffer, caps, pass-probability simulation).

Part of the pure core: no I/O, no clock reads (import-linter and mypy --strict enforce it).
"""
