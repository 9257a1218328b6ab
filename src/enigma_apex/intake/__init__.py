"""Signal intake: parsers for outside signal formats (pure)."""
