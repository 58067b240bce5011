"""The Dockerfile and .dockerignore, checked by parsing (no container engine runs here)."""

import fnmatch
import json
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def args_of(name: str) -> list[str]:
    return [rest for word, rest in instructions() if word == name]


def test_slim_official_python_base():
    [base] = args_of("FROM")
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", base), base


def test_dependencies_are_a_layer_of_their_own_before_the_code():
    steps = instructions()
    copy_requirements = next(i for i, (w, a) in enumerate(steps) if w == "COPY" and a.split()[0] == "requirements.txt")
    install = next(i for i, (w, a) in enumerate(steps) if w == "RUN" and "pip install -r requirements.txt" in a)
    first_code = next(i for i, (w, a) in enumerate(steps) if w == "COPY" and "clari_data" in a)
    assert copy_requirements < install < first_code
    assert "==" in (ROOT / "requirements.txt").read_text()  # pinned


def test_runs_as_a_non_root_user():
    users = args_of("USER")
    assert users and users[-1] not in ("root", "0")
    assert any("useradd" in r and users[-1] in r for r in args_of("RUN"))


def test_warehouse_on_a_volume_and_port_8501():
    assert any("/data" in v for v in args_of("VOLUME"))
    assert "CLARI_DB_PATH=/data/" in " ".join(args_of("ENV"))
    assert args_of("EXPOSE") == ["8501"]


def test_healthcheck_probes_streamlit_health_endpoint():
    [check] = args_of("HEALTHCHECK")
    assert "/_stcore/health" in check and "8501" in check


def test_starts_the_dashboard_on_8501():
    [cmd] = args_of("CMD")
    argv = json.loads(cmd)
    assert argv[:3] == ["streamlit", "run", "app.py"] and "--server.port=8501" in argv
    assert "--server.address=0.0.0.0" in argv


def test_no_key_or_configuration_is_baked_in():
    env = " ".join(args_of("ENV") + args_of("ARG"))
    assert "CLARI_API_KEY" not in env and "api_key" not in env.lower()
    copied = " ".join(args_of("COPY") + args_of("ADD"))
    for secret in ("clari.toml ", "secrets.toml", ".env"):
        assert secret not in copied + " "
    assert not re.search(r"COPY\s+\.\s", "\n".join(f"COPY {a}" for a in args_of("COPY")))  # no blanket copy


@pytest.mark.parametrize("path", ["clari.toml", ".streamlit/secrets.toml", "data/clari.duckdb", "x.duckdb",
                                  "x.duckdb.wal", ".venv/bin/python", "clari_data/__pycache__/a.pyc", ".git/HEAD"])
def test_dockerignore_keeps_secrets_warehouses_and_caches_out(path):
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    def ignored(p: str) -> bool:
        parts = p.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return any(fnmatch.fnmatch(candidate, pattern.rstrip("/").replace("**/", "*"))
                   or fnmatch.fnmatch(candidate, pattern.rstrip("/"))
                   for pattern in patterns for candidate in prefixes + [parts[-1]])

    assert ignored(path)


def test_gitignore_keeps_secrets_and_warehouses_out():
    text = (ROOT / ".gitignore").read_text()
    for pattern in ("clari.toml", ".streamlit/secrets.toml", "*.duckdb", "data/"):
        assert pattern in text.splitlines()


def test_the_docs_show_build_and_run_with_and_without_a_key():
    page = (ROOT / "docs" / "operations" / "docker.md").read_text()
    assert "docker build -t clari-dashboard ." in page
    runs = [shlex.split(line.strip().rstrip("\\")) for line in page.splitlines()
            if line.strip().startswith("docker run")]
    assert any("CLARI_API_KEY" not in " ".join(r) for r in runs)
    assert any(any("CLARI_API_KEY" in a for a in r) for r in runs)
