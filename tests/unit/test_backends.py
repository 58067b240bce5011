"""The backends as one object each: `Backend.from_settings` is the only code that reads [warehouse]
backend (no other code compares it, read from the source), and adding a backend is one module and
one registry line (a third one, in memory, registered here and run through the command line)."""

from __future__ import annotations

import ast
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pytest
from builders import Export, small_org

from clari_data.__main__ import main
from clari_data.shared.config import ConfigError, Settings, WarehouseSettings, load_settings
from clari_data.storage.backends import BACKENDS, Backend, Cursor, FileBackend, Leadership, OpeningLeads
from clari_data.storage.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[2]
# Where the setting could be compared: the core, the app, the bench and the scripts.
SOURCES = ("clari_data", "ui", "views", "app.py", "bench", "scripts")
NAMES = frozenset(BACKENDS)  # "duckdb", "ducklake"
# The one function that may read [warehouse] backend (it compares nothing either).
READER = ("clari_data/storage/backends/backend.py", "from_settings")


def sources() -> list[Path]:
    found = []
    for name in SOURCES:
        path = ROOT / name
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return found


def _names_the_setting(node: ast.AST) -> bool:
    """An attribute named `backend`, or a backend's name as a literal, anywhere inside `node`."""
    return any((isinstance(n, ast.Attribute) and n.attr == "backend")
               or (isinstance(n, ast.Constant) and n.value in NAMES) for n in ast.walk(node))


def _reads_the_setting(node: ast.AST) -> bool:
    """`<...>.warehouse.backend` or `w.backend` (the name WarehouseSettings goes by here)."""
    if not (isinstance(node, ast.Attribute) and node.attr == "backend"):
        return False
    owner = node.value
    return ((isinstance(owner, ast.Attribute) and owner.attr == "warehouse")
            or (isinstance(owner, ast.Name) and owner.id in ("w", "warehouse")))


def offenders(text: str, where: str) -> list[str]:
    """Every comparison involving the setting or a backend's name, and every read of the setting,
    outside READER."""
    found = []

    def visit(node: ast.AST, function: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node.name
        allowed = (where, function) == READER
        if isinstance(node, ast.Compare) and _names_the_setting(node):
            found.append(f"{where}:{node.lineno} compares {ast.unparse(node)}")
        elif _reads_the_setting(node) and not allowed:
            found.append(f"{where}:{node.lineno} reads {ast.unparse(node)}")
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(ast.parse(text, where), "")
    return found


def test_only_backend_from_settings_reads_the_backend_setting_and_nothing_compares_it():
    read = {str(path.relative_to(ROOT)): path.read_text() for path in sources()}
    assert {"app.py", "ui/run.py", "views/accuracy.py", "bench/run.py", "scripts/convert_warehouse.py",
            "clari_data/runtime/scheduler.py", "clari_data/__main__.py"} <= set(read)
    found = [o for where, text in read.items() for o in offenders(text, where)]
    assert found == []
    reader = (ROOT / READER[0]).read_text()
    assert "w.backend" in reader and offenders(reader, READER[0]) == []  # the reader is found, and allowed


@pytest.mark.parametrize("planted", [
    'if settings.warehouse.backend == "ducklake":\n    pass\n',
    'lake = s.warehouse.backend != "duckdb"\n',
    'if w.backend in ("duckdb",):\n    pass\n',
    'if "ducklake" in opts.names:\n    pass\n',
    'shared = name == "ducklake"\n',
    'if wh.backend is not None:\n    pass\n',
    'kind = settings.warehouse.backend\n',
    'def from_settings(w):\n    return w.backend == "duckdb"\n',  # a comparison, even in from_settings
])
def test_a_planted_comparison_or_read_is_found(planted):
    assert offenders(planted, "clari_data/runtime/scheduler.py") != []
    assert offenders(planted, READER[0]) != []


def test_only_from_settings_may_read_the_setting():
    reading = "def from_settings(settings):\n    w = settings.warehouse\n    return BACKENDS.get(w.backend)\n"
    assert offenders(reading, READER[0]) == []
    assert offenders(reading, "clari_data/runtime/scheduler.py") != []
    assert offenders(reading.replace("from_settings", "elsewhere"), READER[0]) != []


def test_unknown_backends_and_a_replica_on_an_unshared_one_are_refused():
    with pytest.raises(ConfigError) as raised:
        Backend.from_settings(Settings(warehouse=WarehouseSettings(backend="sqlite")))
    assert str(raised.value) == "[warehouse] backend must be one of duckdb, ducklake, not 'sqlite'"
    assert isinstance(Backend.from_settings(Settings()), FileBackend)


@pytest.mark.parametrize("command", ["refresh", "status", "worker"])
@pytest.mark.parametrize("config, message", [
    ('[warehouse]\nbackend = "sqlite"\n', "[warehouse] backend must be one of duckdb, ducklake, not 'sqlite'"),
    ('[warehouse]\nbackend = "ducklake"\ncatalog = "postgres:dbname=c password=hunter2"\ndata_path = "/l/"\n',
     "[warehouse] catalog must not carry the password"),
    ('[server]\nrole = "web"\n', "[server] role = \"web\" needs [warehouse] backend = \"ducklake\""),
])
def test_the_command_line_refuses_a_backend_s_settings_before_anything_starts(command, config, message, tmp_path,
                                                                               monkeypatch, capsys):
    # `main` quietens httpx's loggers for a worker, in this process: put them back for the tests after.
    for chatty in ("httpx", "httpcore", "apscheduler"):
        monkeypatch.setattr(logging.getLogger(chatty), "level", logging.getLogger(chatty).level)
    for variable in ("CLARI_API_KEY", "CLARI_CONFIG", "CLARI_DB_PATH", "CLARI_ROLE", "CLARI_SECRETS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clari.toml").write_text(config)
    assert main([command]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"Configuration error: {message}") and err.count("\n") == 1 and "hunter2" not in err
    assert list(tmp_path.iterdir()) == [tmp_path / "clari.toml"]  # no warehouse, no downloads


# -- a third backend: this module and one registry line -------------------------------------------


@dataclass(frozen=True)
class MemoryBackend(Backend):
    """A warehouse in this process's memory, named by the stem of [warehouse] path (DuckDB's
    ":memory:<name>": every connection of the process to the name reaches it), gone once the last
    one closes. One process, which writes it."""

    label: str

    name: ClassVar[str] = "memory"
    shared: ClassVar[bool] = False
    kind: ClassVar[str] = "a warehouse in memory"

    @classmethod
    def configured(cls, w: WarehouseSettings) -> MemoryBackend:
        return cls(Path(w.path).stem)

    def describe(self) -> str:
        return f"the in-memory warehouse {self.label}"

    @property
    def key(self) -> str:
        return f":memory:{self.label}"

    def open(self, config: dict[str, Any], *, writer: bool) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(f":memory:{self.label}", config=config)

    def upkeep(self, cur: Cursor) -> None:
        cur.execute("CHECKPOINT")

    def storage(self, cur: Cursor) -> dict[str, int]:
        used = cur.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0]
        return {"used_bytes": int(used), "file_bytes": 0}

    def leadership(self, open_warehouse: Callable[[], Any], who: str) -> Leadership:
        return OpeningLeads(open_warehouse, self.describe())


@pytest.fixture
def memory_backend(monkeypatch):
    monkeypatch.setitem(BACKENDS, MemoryBackend.name, MemoryBackend)  # the registry line


def test_a_third_backend_is_a_module_and_a_registry_line(memory_backend, tmp_path, monkeypatch, capsys):
    config = tmp_path / "clari.toml"
    config.write_text('[warehouse]\nbackend = "memory"\n[schedule]\nenabled = false\n')
    for variable in ("CLARI_API_KEY", "CLARI_CONFIG", "CLARI_DB_PATH", "CLARI_ROLE", "CLARI_SECRETS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)  # no .streamlit/secrets.toml; downloads beside the (unused) file path
    settings = load_settings(config)
    assert isinstance(Backend.from_settings(settings), MemoryBackend)

    # The warehouse on it: migrations, views, a load, a page's read snapshot, upkeep and storage.
    with Warehouse.from_settings(settings) as wh:
        assert wh.location == "the in-memory warehouse clari" and wh.cache_token.startswith(":memory:clari:")
        export = Export(users=small_org(), weeks=["2026-03-23"])
        for uid in ("r1", "r2", "r3", "m1", "m2", "cro"):
            export.row(uid, "2026-03-23", commit=90, best_case=100, quota=100, closed=40, pipeline=160)
        wh.load_export(export.write(tmp_path / "a.json"), forecast_id="net_arr", job_id="job-1",
                       requested_period="2026_Q1")
        with wh.snapshot() as cur:
            assert cur.execute("SELECT count(*) FROM rep_performance").fetchone() == (6,)
        assert wh.storage()["used_bytes"] > 0
        run = wh.start_run("manual")
        wh.finish_run(run, outcome="success")

    # The command line: its settings checked, it leads (Backend.leadership) and refreshes (demo mode).
    assert main(["--config", str(config), "refresh", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Run 1:" in out and "warehouse the in-memory warehouse clari." in out

    # What it cannot do is refused in its own words; its name is one of the known ones now.
    with pytest.raises(ConfigError) as raised:
        Backend.from_settings(replace(settings, server=replace(settings.server, role="web")))
    assert str(raised.value) == ("[server] role = \"web\" needs [warehouse] backend = \"ducklake\": a dashboard "
                                 "replica reads the lake the worker writes, and a warehouse in memory is open to one "
                                 "process only")
    with pytest.raises(ConfigError, match="must be one of duckdb, ducklake, memory, not 'sqlite'"):
        Backend.from_settings(replace(settings, warehouse=replace(settings.warehouse, backend="sqlite")))
