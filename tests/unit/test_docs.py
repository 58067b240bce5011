"""The docs: the MkDocs site (mkdocs.yml, docs/) builds with --strict, where a broken link or anchor,
a page missing from the nav or a module without a docstring is an error; the module map lists every
module; every settings key, page route and environment variable is documented; the README stays
within 200 lines and links only to pages and headings that exist."""

from __future__ import annotations

import dataclasses
import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clari_data.shared.config import SECTIONS
from clari_data.shared.pages import PAGES

ROOT = Path(__file__).resolve().parents[2]
# What a build reads: the site's config and pages, the files it includes, and the code the module map is made from.
BUILD_INPUTS = ("mkdocs.yml", "docs", "README.md", "clari.example.toml", "clari_data", "app.py", "ui", "views", "bench")
CODE = ("clari_data", "app.py", "ui", "views", "bench", "scripts", "deploy", "docker-compose.yml", "Dockerfile", ".ci")


def build(root: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(root / "mkdocs.yml"),
         "--site-dir", str(site)],
        cwd=root, capture_output=True, text=True, timeout=120, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


def problems(proc: subprocess.CompletedProcess) -> list[str]:
    """Each warning or error of the build, with its indented continuation lines."""
    found: list[str] = []
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.startswith(("WARNING", "ERROR")):
            found.append(line)
        elif found and line.startswith(" ") and found[-1].startswith(("WARNING", "ERROR")):
            found[-1] += "\n" + line
        elif found:
            found.append("")
    return [p for p in found if p]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "site"
    proc = build(ROOT, out)
    assert proc.returncode == 0 and not problems(proc), (proc.stdout + proc.stderr)[-4000:]
    return out


def text_of(page: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


def test_the_site_builds_strict_without_a_warning(site):
    assert (site / "index.html").exists() and (site / "architecture" / "modules" / "index.html").exists()


@pytest.fixture
def copy(tmp_path) -> Path:
    """The build's inputs in a folder of their own, to break on purpose."""
    for name in BUILD_INPUTS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "results"))
        else:
            shutil.copy(source, tmp_path / name)
    return tmp_path


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def test_the_build_fails_on_a_broken_link_a_broken_anchor_and_a_page_missing_from_the_nav(copy, tmp_path):
    append(copy / "docs" / "pages.md",
           "\nSee [the gone page](gone.md) and [a heading](configuration.md#no-such-heading).\n")
    (copy / "docs" / "stray.md").write_text("# A page nobody put in the nav\n")
    proc = build(copy, tmp_path / "site")
    assert proc.returncode != 0
    found = problems(proc)
    for expected in ("'gone.md'", "'#no-such-heading'", "- stray.md"):
        assert any(expected in problem for problem in found), (expected, found)
    assert len(found) == 3, found


def test_the_build_fails_on_a_module_without_a_docstring(copy, tmp_path):
    (copy / "clari_data" / "shared" / "undocumented.py").write_text("X = 1\n")
    proc = build(copy, tmp_path / "site")
    assert proc.returncode != 0
    assert any("clari_data/shared/undocumented.py has no module docstring" in p for p in problems(proc)), proc.stderr


def test_the_module_map_lists_every_module(site):
    listed = text_of(site / "architecture" / "modules" / "index.html")
    modules = [p.relative_to(ROOT).as_posix() for folder in ("clari_data", "ui", "views", "bench")
               for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts]
    assert len(modules) > 60
    assert [m for m in modules if m not in listed] == []
    assert "app.py" in listed


def test_every_settings_key_is_documented(site):
    """Every key of every [section] is in a TOML block of the Configuration page (the example file
    included there, or the secrets and scaled-out blocks beside it)."""
    page = (site / "configuration" / "index.html").read_text()
    documented, section = set(), None
    for block in re.findall(r"<pre.*?</pre>", page, flags=re.S):
        for line in html.unescape(re.sub(r"<[^>]+>", "", block)).splitlines():
            if header := re.match(r"\s*\[(\w+)\]", line):
                section = header[1]
            elif key := re.match(r"\s*#?\s*(\w+)\s*=", line):
                documented.add((section, key[1]))
    expected = {(name, f.name) for name, cls in SECTIONS.items() for f in dataclasses.fields(cls)}
    assert sorted(expected - documented) == []


def test_every_page_route_and_environment_variable_is_documented():
    pages = (ROOT / "docs" / "pages.md").read_text()
    assert [p.route for p in PAGES if f"| `/{p.route}` |" not in pages] == []
    used = set()
    for name in CODE:
        for path in [ROOT / name] if (ROOT / name).is_file() else (ROOT / name).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                used |= set(re.findall(r"\b(?:CLARI|REQUIRE)_[A-Z_]+\b", path.read_text(errors="replace")))
    docs = "".join(p.read_text() for p in (ROOT / "docs").rglob("*.md"))
    assert "CLARI_API_KEY" in used
    assert sorted(v for v in used if v not in docs) == []


def test_the_readme_is_short_and_its_links_lead_somewhere(site):
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for command in ("scripts/dashboard   #", "scripts/test        #"):
        assert command in readme
    links = re.findall(r"\]\(((?:docs/)[^)\s]*)\)", readme)
    assert len(links) > 10
    for link in links:
        path, _, anchor = link.partition("#")
        assert (ROOT / path).exists(), link
        if anchor:
            page = Path(path).relative_to("docs").with_suffix("")
            built = site / (page.parent if page.name == "index" else page) / "index.html"
            assert f'id="{anchor}"' in built.read_text(), link
