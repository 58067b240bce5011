"""A dashboard server for browser tests: `streamlit run app.py` on a free loopback port in demo
mode with a fresh warehouse, plus Chromium's location and screenshots."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from support import free_port

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")




class Server:
    """A dashboard server process on its own warehouse and port."""

    def __init__(self, folder: Path, config: str = "", job_seconds: float = 0.3, env: dict | None = None) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (folder / "clari.toml").write_text(f"[demo]\njob_seconds = {job_seconds}\n" + config)
        extra_env = env or {}
        env = {**os.environ, "CLARI_CONFIG": str(folder / "clari.toml"), "CLARI_DB_PATH": str(folder / "w.duckdb"),
               "PYTHONPATH": str(ROOT)}
        env.pop("CLARI_API_KEY", None)
        env.update(extra_env)
        self.log = (folder / "server.log").open("w")
        if not (folder / "w.duckdb").exists():  # a test that built its own warehouse keeps it
            # The data is loaded before the server starts, by the command-line refresh (the same
            # path): a startup refresh would otherwise end, and rerun every open page, at a moment
            # no test chooses.
            subprocess.run([sys.executable, "-m", "clari_data", "refresh", "--quiet"], cwd=ROOT, env=env,
                           stdout=self.log, stderr=subprocess.STDOUT, check=True, timeout=120)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
             str(self.port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_healthy()

    def _wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {(self.folder / 'server.log').read_text()[-2000:]}")
            try:
                if urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=1).read() == b"ok":
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the server did not become healthy")

    def log_text(self) -> str:
        self.log.flush()
        return (self.folder / "server.log").read_text()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def screenshot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
