"""The DuckLake half of the bench: a PostgreSQL for the lakes' catalogs, and lakes holding the same
history as the embedded file.

The server is `--postgres` (libpq keywords), else CLARI_BENCH_POSTGRES or CLARI_TEST_POSTGRES,
else a throwaway cluster started with scripts/postgres (the one home for how) and stopped at the
end. Each lake is a database of its own (bench_lake_<hex>) with its data under the size's work
folder; the history gets into it by `Warehouse.import_file` of the file the bench built, so both
backends are measured on the very same rows.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from clari_data.storage.backends import LakeBackend
from clari_data.storage.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "postgres"


class NoPostgres(RuntimeError):
    """No PostgreSQL for the lakes: the message says why."""


class Catalogs:
    def __init__(self, conninfo: str | None = None) -> None:
        self._folder: Path | None = None
        given = conninfo or os.environ.get("CLARI_BENCH_POSTGRES") or os.environ.get("CLARI_TEST_POSTGRES")
        if given:
            self.conninfo = given.strip()
        else:
            self._folder = Path(tempfile.mkdtemp(prefix="clari-bench-postgres-"))
            shutil.rmtree(self._folder)  # scripts/postgres makes it, for the postgres user
            done = subprocess.run([str(SCRIPT), "start", str(self._folder)], capture_output=True, text=True,
                                  timeout=180)
            if done.returncode != 0 or "port=" not in done.stdout:
                detail = (done.stderr or done.stdout).strip().splitlines()
                self._folder = None
                raise NoPostgres(f"scripts/postgres could not start PostgreSQL: {detail[-1] if detail else '?'}")
            self.conninfo = done.stdout.strip().splitlines()[-1]
        self._made: list[LakeBackend] = []

    def _execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(f"{self.conninfo} dbname=postgres", autocommit=True, connect_timeout=10) as con:
            con.execute(sql)

    def new(self, folder: Path) -> LakeBackend:
        """An empty lake: a fresh catalog database, its data in `folder`."""
        dbname = f"bench_lake_{uuid.uuid4().hex[:12]}"
        self._execute(f"CREATE DATABASE {dbname}")
        lake = LakeBackend(f"postgres:dbname={dbname} {self.conninfo}", f"{folder}/")
        self._made.append(lake)
        return lake

    def drop(self, lake: LakeBackend) -> None:
        self._execute(f"DROP DATABASE IF EXISTS {lake.server()[3]} WITH (FORCE)")
        shutil.rmtree(lake.data_path, ignore_errors=True)

    def close(self, keep: bool = False) -> None:
        if not keep:
            for lake in self._made:
                self.drop(lake)
        if self._folder is not None and not keep:
            subprocess.run([str(SCRIPT), "stop", str(self._folder)], capture_output=True, timeout=60)
            shutil.rmtree(self._folder, ignore_errors=True)


def with_history(catalogs: Catalogs, history: Path, folder: Path) -> tuple[LakeBackend, float]:
    """A new lake holding every row of the warehouse file `history`, and the seconds that took."""
    lake = catalogs.new(folder)
    t = time.perf_counter()
    with Warehouse(lake) as wh:
        wh.import_file(history)
    return lake, time.perf_counter() - t


def as_args(lake: LakeBackend) -> dict:
    """What a bench worker needs to open the lake (the catalog is trusted: no password here)."""
    return {"catalog": lake.catalog, "data_path": lake.data_path}


def from_args(args: dict) -> LakeBackend:
    return LakeBackend(args["catalog"], args["data_path"])
