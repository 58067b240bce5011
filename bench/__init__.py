"""The large-tenant benchmark of the dashboard: `python -m bench` (README, "Performance")."""
