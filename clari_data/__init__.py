"""The core of the dashboard, without Streamlit: settings, the warehouse, refreshes from Clari, what pages
show, alerts and the processes that run them, in rooms whose imports only point down
(shared < storage < ingest, read < alerting < runtime). `python -m clari_data` is its command line."""
