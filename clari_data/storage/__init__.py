"""Storage: the only code that holds SQL or opens a connection. `backends/` (where the tables live:
the embedded file, a DuckLake; which process writes), `warehouse/` (everything the rest of the core
asks of the data, on any backend), `sql/` (every statement) and `base.py` (their errors and SQL files)."""
