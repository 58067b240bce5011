"""The scaled-out stack (docker-compose.yml, deploy/), checked by parsing: no container engine runs
on the machines that test this project. The proxy configuration was also run by hand with nginx in
front of two Streamlit processes (docs/operations/scaling-out.md)."""

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from clari_data.shared.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
STACK_CONFIG = ROOT / "deploy" / "clari.toml"
PROXY_CONFIG = ROOT / "deploy" / "nginx.conf"
# Where the containers' own files go (clari.toml, the secrets file), as the Dockerfile lays them out.
APP_DIR = "/app"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def mounts(service: dict) -> dict[str, tuple[str, str]]:
    """Container path -> (source, mode) of each volume in the short syntax."""
    out = {}
    for volume in service.get("volumes", []):
        source, target, *mode = volume.split(":")
        out[target] = (source, mode[0] if mode else "rw")
    return out


def argv(command) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else list(command)


def dockerfile_instruction(name: str) -> list[str]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    return [line.strip()[len(name):].strip() for line in text.splitlines() if line.strip().startswith(name + " ")]


def stack_settings(**env: str):
    return load_settings(STACK_CONFIG, env=env, secrets_path=ROOT / "deploy" / "no-secrets-in-tests.toml")


def test_the_stack_has_a_catalog_a_worker_replicas_and_a_proxy(services):
    assert {"db", "worker", "web", "proxy"} <= services.keys()
    assert services["web"]["deploy"]["replicas"] >= 2
    assert services["db"]["image"].startswith("postgres:")
    # Only the proxy is reachable from outside; the replicas and PostgreSQL are not.
    assert [name for name, s in services.items() if s.get("ports")] == ["proxy"]


def test_worker_and_replicas_are_one_image_whose_role_comes_from_the_environment(services):
    worker, web = services["worker"], services["web"]
    assert worker["build"] == web["build"] == "." and worker["image"] == web["image"]
    assert environment(worker)["CLARI_ROLE"] == "worker"
    assert argv(worker["command"]) == ["python", "-m", "clari_data", "worker"]
    assert environment(web)["CLARI_ROLE"] == "web"
    # A replica runs the image's command: the dashboard.
    assert argv(web.get("command", [])) in ([], json.loads(dockerfile_instruction("CMD")[0]))
    assert json.loads(dockerfile_instruction("CMD")[0])[:3] == ["streamlit", "run", "app.py"]


def test_startup_order_and_health(services):
    assert services["worker"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["web"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["proxy"]["depends_on"]["web"]["condition"] == "service_healthy"
    assert "pg_isready" in argv(services["db"]["healthcheck"]["test"])
    assert any("/_stcore/health" in part for part in argv(services["proxy"]["healthcheck"]["test"]))
    # Replicas keep the image's check of Streamlit's health endpoint; the worker, which serves no
    # HTTP, must not inherit it (it would never pass).
    assert "healthcheck" not in services["web"]
    assert "/_stcore/health" in dockerfile_instruction("HEALTHCHECK")[0]
    worker_check = services["worker"]["healthcheck"]
    assert worker_check.get("disable") is True or "/_stcore/health" not in " ".join(argv(worker_check["test"]))


def test_every_container_restarts_on_its_own(services):
    for name, service in services.items():
        assert service.get("restart") in ("unless-stopped", "always"), name


def test_the_stack_settings_load_and_point_at_the_stack(services):
    settings = stack_settings()
    w = settings.warehouse
    assert w.backend == "ducklake" and w.password is None
    catalog = dict(pair.split("=", 1) for pair in w.catalog.removeprefix("postgres:").split())
    db = environment(services["db"])
    assert catalog == {"dbname": db["POSTGRES_DB"], "host": "db", "port": "5432", "user": db["POSTGRES_USER"]}
    # Without CLARI_ROLE a container is a replica, never a second writer; each role loads.
    assert settings.server.role == "web"
    for role in ("web", "worker"):
        assert stack_settings(CLARI_ROLE=role).server.role == role


def test_the_settings_and_the_lake_are_mounted_where_the_settings_say(services, compose):
    data_path = stack_settings().warehouse.data_path.rstrip("/")
    volumes = {"worker": mounts(services["worker"]), "web": mounts(services["web"])}
    for name, mounted in volumes.items():
        assert mounted[f"{APP_DIR}/clari.toml"] == ("./deploy/clari.toml", "ro"), name
        assert data_path in mounted, f"{name} does not mount the lake at {data_path}"
    lake = volumes["worker"][data_path][0]
    assert lake in compose["volumes"] and volumes["web"][data_path][0] == lake  # one shared volume
    assert volumes["worker"][data_path][1] == "rw" and volumes["web"][data_path][1] == "ro"  # one writer
    # A new named volume takes its owner from the image's directory: the non-root worker can write it.
    assert any(data_path in run and "chown" in run and "app:app" in run for run in dockerfile_instruction("RUN"))
    assert mounts(services["db"])["/var/lib/postgresql/data"][0] in compose["volumes"]


def test_secrets_are_files_given_at_run_time(services, compose):
    secret_files = {name: spec["file"] for name, spec in compose["secrets"].items()}
    assert all(f.startswith("./deploy/secrets/") for f in secret_files.values())
    assert "deploy/secrets/" in (ROOT / ".gitignore").read_text().splitlines()
    assert "deploy/secrets/" in (ROOT / ".dockerignore").read_text().splitlines()
    # PostgreSQL reads its password from a secret file; worker and replicas get the secrets file
    # where both Streamlit and clari_data read it.
    db = services["db"]
    assert environment(db)["POSTGRES_PASSWORD_FILE"] == f"/run/secrets/{db['secrets'][0]}"
    for name in ("worker", "web"):
        targets = [s["target"] for s in services[name]["secrets"]]
        assert f"{APP_DIR}/.streamlit/secrets.toml" in targets, name
        assert "env_file" not in services[name]
    assert not any("secrets" in line for line in dockerfile_instruction("COPY"))


SECRET_ASSIGNMENT = re.compile(r"(password|api_?key|secret|token)[\"']?\s*[:=]\s*[\"']?[^\s\"'/]", re.IGNORECASE)


@pytest.mark.parametrize("path", ["docker-compose.yml", "Dockerfile", "deploy/clari.toml", "deploy/nginx.conf"])
def test_no_secret_value_is_written_in_the_stack_files(path):
    for number, line in enumerate((ROOT / path).read_text().splitlines(), 1):
        code = line.split("#", 1)[0]
        match = SECRET_ASSIGNMENT.search(code)
        # A *_FILE variable names where a secret is, which is the point.
        assert not match or "_FILE" in code, f"{path}:{number} seems to hold a secret: {line.strip()}"
    assert "password" not in stack_settings().warehouse.catalog


def test_every_service_environment_names_no_secret_value(services):
    for name, service in services.items():
        for key in environment(service):
            if re.search(r"PASSWORD|KEY|TOKEN|SECRET", key):
                assert key.endswith("_FILE"), f"{name} sets {key} in docker-compose.yml"


def test_the_proxy_keeps_each_browser_on_one_replica_and_passes_websockets(services):
    proxy = services["proxy"]
    assert mounts(proxy)["/etc/nginx/nginx.conf"] == ("./deploy/nginx.conf", "ro")
    text = "\n".join(line.split("#", 1)[0] for line in PROXY_CONFIG.read_text().splitlines())
    upstream = re.search(r"upstream\s+(\w+)\s*\{(.*?)\}", text, re.S)
    assert upstream, "no upstream block"
    name, body = upstream.groups()
    # Sticky: a consistent hash of the browser's own cookie (or ip_hash).
    sticky = re.search(r"hash\s+\$(\w+)\s+consistent;", body)
    assert sticky or re.search(r"^\s*ip_hash;", body, re.M)
    if sticky:
        assert re.search(rf"map\s+\$cookie_(\w+)\s+\${sticky.group(1)}\s*\{{", text), "the hash key is not a cookie"
        assert re.search(r"add_header\s+Set-Cookie\s+\$\w+\s+always;", text)
    assert re.search(r"server\s+web:8501\b", body)
    assert f"proxy_pass http://{name};" in text
    # The websocket handshake: HTTP/1.1, Upgrade and Connection passed on, long idle timeouts.
    assert "proxy_http_version 1.1;" in text
    assert re.search(r"proxy_set_header\s+Upgrade\s+\$http_upgrade;", text)
    assert re.search(r"proxy_set_header\s+Connection\s+\$connection_upgrade;", text)
    assert re.search(r"map\s+\$http_upgrade\s+\$connection_upgrade\s*\{[^}]*default\s+upgrade;", text)
    for timeout in ("proxy_read_timeout", "proxy_send_timeout"):
        value = re.search(rf"{timeout}\s+(\d+)([smhd]);", text)
        assert value, timeout
        assert int(value.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[value.group(2)] >= 3600
    listen = re.search(r"listen\s+(\d+);", text).group(1)
    assert proxy["ports"][0].endswith(f":{listen}")
    assert any(f"127.0.0.1:{listen}/_stcore/health" in p for p in argv(proxy["healthcheck"]["test"]))


def test_every_file_the_stack_names_exists(services, compose):
    named = []
    for service in services.values():
        build = service.get("build")
        if build:
            context = ROOT / (build if isinstance(build, str) else build["context"])
            named.append(context / (build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"))
        named += [ROOT / source for source, _ in mounts(service).values() if source.startswith(".")]
    named += [ROOT / spec["file"] for spec in compose.get("configs", {}).values()]
    assert named
    missing = [str(p.relative_to(ROOT)) for p in named if not p.exists()]
    assert not missing
    # The secret files are the one exception: made by whoever deploys (docs/operations/scaling-out.md), never
    # committed.
    for spec in compose["secrets"].values():
        assert (ROOT / spec["file"]).parent == ROOT / "deploy" / "secrets"


def test_the_docs_show_the_topology_and_the_commands():
    section = (ROOT / "docs" / "operations" / "scaling-out.md").read_text()
    assert "docker compose up -d" in section and "--scale web=" in section
    for word in ("CLARI_ROLE", "backend", "catalog", "data_path", "PGPASSWORD", "deploy/secrets/"):
        assert word in section, word
