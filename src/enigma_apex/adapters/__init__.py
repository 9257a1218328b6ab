"""Everything that touches the outside world: database, HTTP, clock, logging, keyring, brokers."""
