"""Signal analysis, pure: the analyst's answer schema, the deterministic scorer, the circuit breaker and the
prompt. The model is asked by an adapter (``adapters/llm.py``); the app layer (``app/analyst.py``) decides
which answer counts."""
