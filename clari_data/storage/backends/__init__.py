"""Where the warehouse's tables live: one `Backend` per kind, named by [warehouse] backend.

- backend.py: the `Backend` base class (what every backend answers), `Leadership` (which process
  writes), and `Backend.from_settings`, the only reader of [warehouse] backend
- file.py: the embedded DuckDB file, one process (the default)
- lake.py: a DuckLake on PostgreSQL, one writer and any number of readers

Adding a backend is a module here and its line below.
"""

from __future__ import annotations

from .backend import BACKENDS, Backend, Cursor, Leadership, OpeningLeads
from .file import FileBackend
from .lake import LakeBackend

BACKENDS.update({backend.name: backend for backend in (FileBackend, LakeBackend)})

__all__ = ["BACKENDS", "Backend", "Cursor", "FileBackend", "LakeBackend", "Leadership", "OpeningLeads"]
