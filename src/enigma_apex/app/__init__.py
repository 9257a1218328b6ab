"""Application layer: the service facade every transport calls, and the hub's lifecycle."""
