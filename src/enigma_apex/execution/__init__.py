"""PURE: what every executor shares — order requests and broker events, the simulated matching engine, the
market-data simulator, and the wire formats of NinjaTrader's ATI files and Tradovate's API. No I/O here:
the connectors that move these over files, sockets and HTTP live in ``enigma_apex.adapters.brokers``."""
