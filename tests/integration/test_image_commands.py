"""The image's own install and start commands, run in a fresh virtual environment (there is no
container engine on the machines that test this project), and its health endpoint probed."""

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from support import free_port

ROOT = Path(__file__).resolve().parents[2]


def dockerfile_commands() -> tuple[str, list[str]]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    install = next(line.strip()[4:] for line in text.splitlines() if line.strip().startswith("RUN pip install"))
    cmd = json.loads(next(line.strip()[4:] for line in text.splitlines() if line.strip().startswith("CMD ")))
    return install, cmd




@pytest.mark.slow
def test_image_install_and_start_commands_serve_a_healthy_dashboard(tmp_path):
    install, cmd = dockerfile_commands()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bin_dir = venv / "bin"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "VIRTUAL_ENV": str(venv)}
    env.pop("PYTHONPATH", None)
    subprocess.run(install, shell=True, check=True, cwd=ROOT, env=env, timeout=900,
                   stdout=subprocess.DEVNULL)

    port = free_port()
    argv = [a.replace("8501", str(port)) if a.startswith("--server.port") else a for a in cmd]
    argv = [a.replace("0.0.0.0", "127.0.0.1") for a in argv]
    data = tmp_path / "data"
    data.mkdir()
    server = subprocess.Popen(argv, cwd=ROOT, env={**env, "CLARI_DB_PATH": str(data / "clari.duckdb")},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        body = b""
        while time.monotonic() < deadline and server.poll() is None:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        assert body == b"ok", server.stdout.read() if server.poll() is not None else "no answer"
        assert str(bin_dir) in subprocess.run(["which", "streamlit"], env=env, capture_output=True,
                                              text=True).stdout  # the fresh venv's streamlit served it
    finally:
        server.terminate()
        server.wait(timeout=30)
