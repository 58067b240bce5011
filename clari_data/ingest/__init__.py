"""Ingest, the write side: the Clari client, one refresh (export, load), the demo and its simulator."""
