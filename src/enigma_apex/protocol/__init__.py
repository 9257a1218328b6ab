"""Sans-I/O WebSocket protocol: message schemas and the codec.

Part of the pure core: no I/O, no clock reads (import-linter and mypy --strict enforce it).
"""
