"""Typed, frozen configuration: models, loading (file, environment, keyring), template, hot reload."""

from enigma_apex.config.models import Settings

__all__ = ["Settings"]
