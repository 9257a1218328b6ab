"""Broker connectors (executors): each connects to the hub's gateway as an executor and moves orders to a broker.

- ``runner.py``: the executor side of the gateway protocol, shared by every connector.
- ``paper.py``: the simulated broker (``enigma-apex paper``).
- ``ati.py``: NinjaTrader 8 ATI order files (``enigma-apex ati``).
- ``tradovate.py``: Tradovate REST + WebSocket (``enigma-apex tradovate``).

The NinjaTrader AddOn / Strategy (C#, ``ninjatrader/``) speaks the same protocol from inside NinjaTrader.
"""
