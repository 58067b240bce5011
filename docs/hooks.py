"""MkDocs hook: the module map (architecture/modules.md) is generated at every build from the code,
each module with the first paragraph of its docstring, so it cannot drift from the code. A module
without a docstring fails the build."""

from __future__ import annotations

import ast
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
MAP = "architecture/modules.md"
# The rooms in the order imports may point (tests/unit/test_imports.py); a room not listed here
# still appears, after these.
ROOMS = ("shared", "storage", "ingest", "read", "alerting", "runtime")
SQL = ROOT / "clari_data" / "storage" / "sql"


def first_paragraph(text: str) -> str:
    return " ".join(text.strip().split("\n\n", 1)[0].split())


def docstring(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text(), str(path)))
    if not doc or not doc.strip():
        raise PluginError(f"{path.relative_to(ROOT)} has no module docstring: say in one paragraph what it is for "
                          "(the module map in the docs is made from it)")
    return first_paragraph(doc)


def sql_comment(path: Path) -> str:
    """The leading `--` comment of a SQL file, up to its first blank comment line."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("--") or not line[2:].strip():
            break
        lines.append(line[2:].strip())
    return " ".join(lines)


def package(folder: Path) -> str:
    init = folder / "__init__.py"
    return f"{docstring(init)} (`{init.relative_to(ROOT)}`)"


def listing(rows: list[tuple[str, str]]) -> list[str]:
    """A list rather than a table: a table cell cannot hold a `|` inside code (`refresh | status`)."""
    return [*(f"- **`{name}`**: {text or '–'}" for name, text in rows), ""]


def modules(folder: Path, skip_init: bool) -> list[tuple[str, str]]:
    """Every module under `folder`, packages' `__init__` first, named by their path below the repository."""
    rows = []
    for path in sorted(folder.rglob("*.py"), key=lambda p: (p.parent.relative_to(folder).parts, p.name != "__init__.py",
                                                             p.name)):
        if skip_init and path == folder / "__init__.py":
            continue
        rows.append((str(path.relative_to(ROOT)), docstring(path)))
    return rows


def sql_files() -> list[Path]:
    """The top-level files first, then migrations/, queries/ and views/, each in name order."""
    return sorted(SQL.rglob("*.sql"), key=lambda p: (len(p.relative_to(SQL).parts), str(p)))


def rooms() -> list[Path]:
    found = [p.parent for p in (ROOT / "clari_data").glob("*/__init__.py")]
    return sorted(found, key=lambda p: (ROOMS.index(p.name) if p.name in ROOMS else len(ROOMS), p.name))


def module_map() -> str:
    out = [
        "# Module map",
        "",
        "Generated from the code each time these docs are built (`docs/hooks.py`): every module, with the",
        "first paragraph of its docstring. The rooms are in the order imports may point, each importing only",
        "from the rooms before it (`ingest` and `read` never from each other); see",
        "[How it works](index.md#the-rooms).",
        "",
        "## `clari_data/`",
        "",
        package(ROOT / "clari_data"),
        "",
        *listing([(str(p.relative_to(ROOT)), docstring(p)) for p in sorted((ROOT / "clari_data").glob("*.py"))
                if p.name != "__init__.py"]),
    ]
    for room in rooms():
        out += [f"## `clari_data/{room.name}/`", "", package(room), "",
                *listing(modules(room, skip_init=True))]
        if room == SQL.parent:
            out += ["### SQL files", "",
                    "Every statement the warehouse runs, with bound parameters: `migrations/` (the tables, numbered),",
                    "`views/` (each view and macro as it is now, recreated at every open), `queries/` and the",
                    "top-level files (named statements). Each with its leading comment:", "",
                    *listing([(str(p.relative_to(SQL)), sql_comment(p)) for p in sql_files()])]
    out += ["## The app", "", "`streamlit run app.py`: the entry script, the shared UI (`ui/`) and one thin script per",
            "page (`views/`).", "", *listing([("app.py", docstring(ROOT / "app.py")), *modules(ROOT / "ui", False),
                                             *modules(ROOT / "views", False)])]
    out += ["## `bench/`", "", package(ROOT / "bench"), "", *listing(modules(ROOT / "bench", True))]
    return "\n".join(out)


def on_files(files: Files, config) -> Files:
    files.append(File.generated(config, MAP, content=module_map()))
    return files
