"""A dashboard server for browser tests: `streamlit run app.py` on a free loopback port in demo
mode with a fresh warehouse, plus Chromium's location and screenshots."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.dashboard import CHROMIUM_ARGS as CHROMIUM_ARGS
from bench.dashboard import ROOT, Dashboard
from bench.dashboard import chromium_path as chromium_path

SHOTS = ROOT / "artifacts" / "screenshots"


class Server(Dashboard):
    """A dashboard server process on its own warehouse and port."""

    def __init__(self, folder: Path, config: str = "", job_seconds: float = 0.3, env: dict | None = None) -> None:
        (folder / "clari.toml").write_text(f"[demo]\njob_seconds = {job_seconds}\n" + config)
        full_env = {**os.environ, "CLARI_CONFIG": str(folder / "clari.toml"),
                    "CLARI_DB_PATH": str(folder / "w.duckdb"), "PYTHONPATH": str(ROOT)}
        full_env.pop("CLARI_API_KEY", None)
        full_env.update(env or {})
        with (folder / "server.log").open("w") as log:  # the server appends to it
            if not (folder / "w.duckdb").exists():  # a test that built its own warehouse keeps it
                # The data is loaded before the server starts, by the command-line refresh (the
                # same path): a startup refresh would otherwise end, and rerun every open page, at a
                # moment no test chooses.
                subprocess.run([sys.executable, "-m", "clari_data", "refresh", "--quiet"], cwd=ROOT, env=full_env,
                               stdout=log, stderr=subprocess.STDOUT, check=True, timeout=120)
        super().__init__(folder, full_env)


def screenshot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
