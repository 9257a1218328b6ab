"""The hub's HTTP server (FastAPI on uvicorn)."""
