"""Processes: the refresh service and its schedule, the worker, the dashboard replica, the leader lock."""
