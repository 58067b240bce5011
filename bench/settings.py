"""Research: the settings' own converter (clari_data/shared/config.py) against the same settings on
pydantic-settings (bench/settings_pydantic.py), measured; the numbers behind keeping the own one:

    .venv/bin/python -m bench settings [--runs 15]

It prints the code lines each needs for typing and loading, the import time of each (`python -X
importtime`, the median of --runs fresh interpreters; the dashboard and every worker import the
settings), the time of one load_settings (the example file, a secrets file and the environment),
what pydantic-settings installs, and tests/unit/test_config.py run with the prototype in place of
the own classes and load_settings. pydantic and pydantic-settings are pinned in
requirements-dev.txt for this command only; the app never imports them.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import timeit
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OWN = ROOT / "clari_data" / "shared" / "config.py"
PROTOTYPE = ROOT / "bench" / "settings_pydantic.py"
# What differs between the two: the settings classes' declarations (their methods are the same
# code either way), the converter and the loader. The value checks after typing (_validate and
# what it calls), Secret, ConfigError and the constants are shared: the prototype calls config.py's.
OWN_PARTS = ("ClariSettings", "FieldRoles", "WarehouseSettings", "ServerSettings", "AlertSettings",
             "ScheduleSettings", "DemoSettings", "NotifySettings", "AccessSettings", "Settings", "SECTIONS",
             "_is_whole", "_CONVERTERS", "_field_types", "_unwrap", "_coerce", "_section", "load_settings",
             "_notify_secrets")
SHARED_METHODS = {"retry_policy", "forecast_name", "duckdb_threads", "channels", "rules_for", "demo_mode",
                  "redacted"}
TEST = "tests/unit/test_config.py"


def code_lines(path: Path, names: tuple[str, ...] | None = None) -> int:
    """Lines with code (no blank, comment-only or docstring lines, no imports) in the top-level
    statements `names` (all when None), leaving out the methods both versions share."""
    source = path.read_text()
    tree = ast.parse(source)
    lines = source.splitlines()
    found: dict[str, ast.stmt] = {}
    for node in tree.body:
        targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
        for name in [getattr(node, "name", None), *(t.id for t in targets if isinstance(t, ast.Name))]:
            if name:
                found[name] = node
    if names is not None and (missing := [n for n in names if n not in found]):
        raise SystemExit(f"{path.name} has no {', '.join(missing)}: update OWN_PARTS in bench/settings.py")
    chosen = [found[n] for n in names] if names else [n for n in tree.body if not _is_import_or_doc(n)]
    counted: set[int] = set()
    for node in chosen:
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        span = set(range(first, node.end_lineno + 1))
        for inner in ast.walk(node):
            shared = isinstance(inner, ast.FunctionDef | ast.Assign) and inner is not node and (
                getattr(inner, "name", None) in SHARED_METHODS
                or any(getattr(t, "id", None) in SHARED_METHODS for t in getattr(inner, "targets", [])))
            if shared or (_is_import_or_doc(inner) and inner is not node):
                first_inner = min([inner.lineno, *(d.lineno for d in getattr(inner, "decorator_list", []))])
                span -= set(range(first_inner, inner.end_lineno + 1))
        counted |= {n for n in span if lines[n - 1].strip() and not lines[n - 1].strip().startswith("#")}
    return len(counted)


def _is_import_or_doc(node: ast.AST) -> bool:
    return isinstance(node, ast.Import | ast.ImportFrom) or (
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str))


def import_times_ms(runs: int) -> dict[str, tuple[float, float]]:
    """(median, best) cumulative import time of each module, fresh interpreters taking turns."""
    wanted = {"own": "clari_data.shared.config", "prototype": "bench.settings_pydantic",
              "pydantic_settings": "pydantic_settings"}
    samples: dict[str, list[float]] = {k: [] for k in wanted}
    for run in range(runs + 1):  # the first writes the bytecode caches: not counted
        for program in ("clari_data.shared.config", "bench.settings_pydantic"):
            done = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {program}"], cwd=ROOT,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                                  check=True)
            cumulative = {m.group(2): int(m.group(1)) / 1000 for m in
                          re.finditer(r"^import time:\s+\d+ \|\s+(\d+) \| +(\S+)$", done.stderr, re.MULTILINE)}
            for key, module in wanted.items():
                if run and module in cumulative and (program == module or key == "pydantic_settings"):
                    samples[key].append(cumulative[module])
    return {key: (statistics.median(values), min(values)) for key, values in samples.items()}


def load_times_us(loops: int, repeat: int) -> dict[str, tuple[float, float]]:
    """(best, median) time of one load_settings of each, on the same files and environment, the two
    taking turns so that a busy machine slows both alike."""
    from bench import settings_pydantic as prototype
    from clari_data.shared import config as own

    with tempfile.TemporaryDirectory() as tmp:
        config = Path(shutil.copy(ROOT / "clari.example.toml", Path(tmp) / "clari.toml"))
        secrets = Path(tmp) / "secrets.toml"
        secrets.write_text('[clari]\napi_key = "sk-bench"\n[notify]\nsmtp_username = "u"\nsmtp_password = "p"\n')
        env = {"CLARI_BASE_URL": "https://env.example/v4", "CLARI_DB_PATH": "/tmp/bench.duckdb"}
        loads = {"own": lambda: own.load_settings(config, env=env, secrets_path=secrets),
                 "prototype": lambda: prototype.load_settings(config, env=env, secrets_path=secrets)}
        if loads["own"]().redacted() != loads["prototype"]().redacted():
            raise SystemExit("the prototype reads these files into other settings than config.py does")
        samples: dict[str, list[float]] = {name: [] for name in loads}
        for _ in range(repeat):
            for name, load in loads.items():
                samples[name].append(timeit.timeit(load, number=loops) / loops * 1e6)
        return {name: (min(values), statistics.median(values)) for name, values in samples.items()}


def _requires(name: str) -> list[str]:
    """The distributions `name` needs unconditionally (no extras, no environment markers)."""
    return [re.split(r"[\s<>=!~;\[(]", r, maxsplit=1)[0] for r in metadata.requires(name) or [] if ";" not in r]


def closure(names: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = metadata.distribution(todo.pop()).metadata["Name"].lower().replace("_", "-")
        if name not in seen:
            seen.add(name)
            todo += _requires(name)
    return seen


def dependencies() -> list[tuple[str, str, float, bool]]:
    """(name, version, MiB installed, whether the app already has it) for pydantic-settings and all it needs."""
    runtime = [line.split("==")[0].split("[")[0] for line in (ROOT / "requirements.txt").read_text().splitlines()
               if line and not line.startswith("#")]
    app = closure(runtime)
    rows = []
    for name in sorted(closure(["pydantic-settings"])):
        dist = metadata.distribution(name)
        size = sum(dist.locate_file(f).stat().st_size for f in dist.files or [] if dist.locate_file(f).exists())
        rows.append((name, dist.version, size / 2**20, name in app))
    return rows


class Swap:
    """A pytest plugin: the prototype's classes and load_settings in config.py, before tests import them."""

    def pytest_configure(self, config) -> None:
        from bench import settings_pydantic as prototype
        from clari_data.shared import config as own

        for name in ("load_settings", "Settings", "ClariSettings", "WarehouseSettings"):
            setattr(own, name, getattr(prototype, name))


def config_tests_with_the_prototype() -> str:
    done = subprocess.run(
        [sys.executable, "-c", "import sys, pytest; from bench.settings import Swap; "
         f"sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '--tb=no', '-rf', '{TEST}'], plugins=[Swap()]))"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    return "\n".join(line for line in done.stdout.splitlines() if line.startswith("FAILED") or " passed" in line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench settings",
                                     description="The own settings converter against pydantic-settings.")
    parser.add_argument("--runs", type=int, default=15,
                        help="fresh interpreters per import time (median); timings of load_settings")
    parser.add_argument("--loops", type=int, default=50, help="load_settings calls per timing")
    args = parser.parse_args(argv)
    try:
        import pydantic_settings  # noqa: F401
    except ImportError:
        print("pydantic-settings is not installed: .venv/bin/python -m pip install -r requirements-dev.txt")
        return 1
    own_lines, proto_lines = code_lines(OWN, OWN_PARTS), code_lines(PROTOTYPE)
    print(f"Code lines for typing and loading: own {own_lines}, pydantic-settings {proto_lines} "
          f"(whole files: config.py {len(OWN.read_text().splitlines())}, "
          f"prototype {len(PROTOTYPE.read_text().splitlines())} on top of config.py's checks)")
    imports = import_times_ms(args.runs)
    shown = {key: f"{median:.0f} ms (best {best:.0f})" for key, (median, best) in imports.items()}
    print(f"Import time, median of {args.runs}: clari_data.shared.config {shown['own']}; the prototype "
          f"{shown['prototype']}, of which pydantic_settings with pydantic {shown['pydantic_settings']}, "
          "and config.py itself, whose checks it calls")
    loads = load_times_us(args.loops, args.runs)
    print("One load_settings (every page run calls it), best and median of "
          f"{args.runs} x {args.loops}: own {loads['own'][0]:.0f} / {loads['own'][1]:.0f} us, "
          f"pydantic-settings {loads['prototype'][0]:.0f} / {loads['prototype'][1]:.0f} us")
    rows = dependencies()
    new = [r for r in rows if not r[3]]
    print(f"pydantic-settings installs {len(new)} distributions the app does not have yet, "
          f"{sum(r[2] for r in new):.1f} MiB:")
    for name, version, mib, have in rows:
        print(f"  {name} {version}: {mib:.1f} MiB{' (the app has it already)' if have else ''}")
    print(f"{TEST} with the prototype in place of config.py's classes and load_settings:")
    print("  " + config_tests_with_the_prototype().replace("\n", "\n  "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
