"""Enigma-Apex: real-time risk, compliance and execution hub for prop-firm futures accounts."""

__version__ = "0.1.0"
