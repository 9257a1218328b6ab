"""The Streamlit dashboard (`enigma-apex dashboard`, started by `up`). It talks to the hub's HTTP API only,
never to the database: ``client.py`` is that API, ``app.py`` the pages."""
