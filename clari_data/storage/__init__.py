"""Storage: the warehouse, the only code that holds SQL or opens a connection, and its SQL files."""
