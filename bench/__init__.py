"""The large-tenant benchmark of the dashboard: `python -m bench` (docs/performance/index.md)."""
