"""A real PostgreSQL for the DuckLake tests: the server CLARI_TEST_POSTGRES names (libpq keywords,
e.g. "host=127.0.0.1 port=5432 user=postgres"; CI's .ci/run starts one and sets it), else a
throwaway cluster on loopback started with scripts/postgres (the one home for how) and stopped at
the end of the session. Without either, the DuckLake tests skip, unless REQUIRE_POSTGRES=1
(CI), which makes them fail instead.

Each test gets a lake of its own: a database lake_<hex> on the server (dropped after the test) and
a data directory under the test's tmp_path (`new_lake`). Migrating a lake takes a second of
round trips to PostgreSQL, so a test that only needs a working warehouse (conftest's `place` and
`on_backend`) gets a copy of one lake migrated once per session (`template_lake`, `copy_lake`);
a test of creating or migrating a lake asks for an empty one (`new_lake`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from clari_data.shared.config import Secret, Settings, WarehouseSettings
from clari_data.storage.backends import LakeBackend

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "postgres"


class PostgresUnavailable(Exception):
    """No PostgreSQL to test against (the message says why)."""


@dataclass
class Server:
    conninfo: str  # "host=127.0.0.1 port=N user=postgres"
    folder: Path | None = None  # set when this session started the cluster (scripts/postgres)

    def stop(self) -> None:
        if self.folder is not None:
            subprocess.run([str(SCRIPT), "stop", str(self.folder)], capture_output=True, timeout=60)
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def execute(self, sql: str, dbname: str = "postgres", params: list | None = None) -> list[tuple]:
        """Run one statement as the server's superuser, outside a transaction (CREATE DATABASE)."""
        import psycopg

        with psycopg.connect(f"{self.conninfo} dbname={dbname}", autocommit=True, connect_timeout=10) as con:
            cur = con.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def keyword(self, name: str) -> str:
        return dict(part.split("=", 1) for part in self.conninfo.split())[name]


def start_server(folder: Path | None = None) -> Server:
    """A cluster of our own, started by scripts/postgres in `folder` (a fresh temporary one by default)."""
    if not shutil.which("bash") or not SCRIPT.exists():
        raise PostgresUnavailable("scripts/postgres is missing")
    folder = folder or Path(tempfile.mkdtemp(prefix="clari-test-postgres-"))
    shutil.rmtree(folder, ignore_errors=True)  # scripts/postgres makes it and hands it to the postgres user
    done = subprocess.run([str(SCRIPT), "start", str(folder)], capture_output=True, text=True, timeout=180)
    if done.returncode != 0 or "port=" not in done.stdout:
        shutil.rmtree(folder, ignore_errors=True)
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise PostgresUnavailable(f"scripts/postgres could not start PostgreSQL: {detail[-1] if detail else '?'}")
    return Server(done.stdout.strip().splitlines()[-1], folder)


def session_server() -> Server:
    """CLARI_TEST_POSTGRES, else a cluster of our own."""
    given = os.environ.get("CLARI_TEST_POSTGRES", "").strip()
    return Server(given) if given else start_server()


def unavailable(reason: str) -> None:
    """Skip, or fail where PostgreSQL is required (REQUIRE_POSTGRES=1, as CI sets)."""
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required (REQUIRE_POSTGRES=1) but unavailable: {reason}")
    pytest.skip(f"no PostgreSQL for the DuckLake tests: {reason}")


def new_lake(server: Server, folder: Path, password: str | None = None) -> LakeBackend:
    """A lake of its own: a fresh catalog database on the server, its data under `folder`."""
    dbname = f"lake_{uuid.uuid4().hex[:12]}"
    server.execute(f"CREATE DATABASE {dbname}")
    return LakeBackend(f"postgres:dbname={dbname} {server.conninfo}", f"{folder}/",
                       Secret(password) if password else None)


def template_lake(server: Server, folder: Path) -> LakeBackend:
    """A lake that a warehouse opened once: migrated, its options and default settings stored.
    `copy_lake` copies it; nothing else may connect to it (PostgreSQL copies a database only then)."""
    from clari_data.storage.warehouse import Warehouse

    lake = new_lake(server, folder)
    Warehouse(lake).close()
    return lake


def copy_lake(server: Server, template: LakeBackend, folder: Path) -> LakeBackend:
    """A lake of its own as `template` is: a copy of its catalog database, and of its data files
    under `folder` (the catalog names them relative to its data path, which is set to `folder`)."""
    dbname = f"lake_{uuid.uuid4().hex[:12]}"
    server.execute(f"CREATE DATABASE {dbname} TEMPLATE {template.server()[3]}")
    shutil.copytree(template.data_path, folder)
    server.execute("UPDATE ducklake_metadata SET value = %s WHERE key = 'data_path' AND scope IS NULL", dbname,
                   [f"{folder}/"])
    return LakeBackend(f"postgres:dbname={dbname} {server.conninfo}", f"{folder}/")


def drop_lake(server: Server, lake: LakeBackend) -> None:
    dbname = lake.server()[3]
    server.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")


def lake_settings(base: Settings, lake: LakeBackend) -> Settings:
    """`base` with [warehouse] pointing at the lake."""
    warehouse = replace(base.warehouse, backend="ducklake", catalog=lake.catalog, data_path=lake.data_path,
                        password=lake.password)
    return replace(base, warehouse=warehouse)


def on_backend(settings: Settings, backend: str, request: pytest.FixtureRequest) -> Settings:
    """`settings` with [warehouse] on the backend under test: as they are for "duckdb", on a
    migrated lake of the test's own (conftest's `migrated_lake`) for "ducklake"."""
    if backend == "duckdb":
        return settings
    return lake_settings(settings, request.getfixturevalue("migrated_lake")())


def default_lake_settings(lake: LakeBackend, tmp_path: Path) -> Settings:
    return lake_settings(Settings(warehouse=WarehouseSettings(path=str(tmp_path / "unused.duckdb"))), lake)
