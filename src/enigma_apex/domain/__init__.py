"""Pure domain core: values, instruments, symbols, orders, signals, accounts, events, clock.

Nothing in this package performs I/O or reads the clock (enforced by import-linter and review).
"""
