"""Firm profile data files (TOML), one per firm generation; see docs/rules.md."""
