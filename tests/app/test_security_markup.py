"""Text from Clari never renders as Markdown or HTML (issue 16, item 3).

Every page runs on a tenant whose people, field and period label are Markdown image links, links,
HTML, LaTeX and formulas. Every piece of text Streamlit renders as Markdown (titles, subheaders,
captions, markdown, banners, and the labels, help and options of buttons, tabs, expanders, metrics,
radios and every widget) must hold each such name only escaped: a hostile name appearing verbatim
in one means a viewer's browser would render it (an image from a tracker, a link). Selectbox and
multiselect options are plain text in Streamlit, so there the name must appear as it is. And the
names a spreadsheet would run as formulas reach every page's CSV downloads only neutralised."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path

import pytest
from apptest_helpers import run
from builders import Export, user
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

from clari_data.shared.pages import PAGES
from clari_data.storage.warehouse import Warehouse

NAMES = {
    "boss": "Morgan ![m](https://tracker.example/m.png) Lee",
    "m1": "**Mia** [site](http://evil.example) Manager",
    "m2": "<img src=x onerror=alert(1)> Max",
    "r1": '=HYPERLINK("http://evil.example/","Blair")',
    "r2": "@SUM(1) $\\sqrt{x}$ Ria",
    "r3": "+cmd Rob :red[alarm] `code`",
}
FORMULAS = [NAMES["r1"], NAMES["r2"], NAMES["r3"]]  # = @ +: a spreadsheet would run them
PARENT = {"boss": None, "m1": "BOSS", "m2": "BOSS", "r1": "M1", "r2": "M1", "r3": "M2"}
FIELD = "![f](https://tracker.example/f.png) Commit"
PERIOD_LABEL = "![p](https://tracker.example/p.png)"
HOSTILE = [*NAMES.values(), FIELD, PERIOD_LABEL]
WEEKS = ["2026-03-16", "2026-03-23"]
# Streamlit elements whose text is Markdown, and the attributes holding it.
MARKDOWN_VALUES = {"title", "header", "subheader", "caption", "markdown", "info", "warning", "error", "success",
                   "toast", "exception"}
PLAIN_OPTIONS = {"selectbox", "multiselect"}


def hostile_tenant(folder: Path) -> Path:
    def export(day: int, commit: float) -> dict:
        e = Export(period="2026_Q1", users=[user(uid, name, uid.upper(), PARENT[uid]) for uid, name in NAMES.items()],
                   weeks=WEEKS)
        for week in WEEKS:
            for i, uid in enumerate(NAMES):
                e.row(uid, week, commit=commit + 1000 * i, best_case=20_000, quota=100_000, closed=5_000 + day,
                      pipeline=50_000)
        document = e.document()
        document["fields"][0]["fieldName"] = FIELD
        document["timePeriods"][0]["label"] = PERIOD_LABEL
        return document

    path = folder / "markup.duckdb"
    with Warehouse(path) as wh:
        for day, commit in ((2, 10_000), (3, 30_000)):
            source = folder / f"markup-{day}.json"
            source.write_text(json.dumps(export(day, commit)))
            wh.load_export(source, forecast_id="net_arr", job_id=f"markup-{day}", requested_period="2026_Q1",
                           exported_at=datetime(2026, 4, day))
    return path


def rendered(at) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(element type, Markdown text) and (element type, plain-text option) of everything on the page."""
    markdown, plain = [], []

    def walk(node) -> None:
        kind = getattr(node, "type", "")
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for child in children.values():
                walk(child)
        for attribute in ("label", "help", "placeholder"):
            text = getattr(node, attribute, None)
            if isinstance(text, str) and text:
                markdown.append((f"{kind}.{attribute}", text))
        if kind in MARKDOWN_VALUES:
            value = getattr(node, "value", None)
            if isinstance(value, str):
                markdown.append((kind, value))
        options = getattr(node, "options", None)
        if isinstance(options, list | tuple) and kind not in ("dataframe",):
            for option in options:
                (plain if kind in PLAIN_OPTIONS else markdown).append((f"{kind}.option", str(option)))

    walk(at._tree)
    return markdown, plain


def unescaped(texts: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(kind, text) for kind, text in texts for name in HOSTILE if name in text]


PARAMS = [{}, {"team": "m1"}, {"team": "m2", "rep": "r3"}]


@pytest.mark.parametrize("script", [p.script for p in PAGES])
@pytest.mark.parametrize("params", PARAMS, ids=["top", "team", "rep"])
def test_no_clari_text_renders_as_markup(make_app, tmp_path, script, params):
    at = make_app("[alerts]\ncoverage_min = 5\nchange_pct = 1\nchange_min_amount = 1\n",
                  db=hostile_tenant(tmp_path))
    run(at, script, **params)
    markdown, plain = rendered(at)
    assert markdown, "nothing rendered"
    assert unescaped(markdown) == [], "Clari text rendered as Markdown, unescaped"
    assert not any("tracker.example/" in text.replace("\\", "").replace(":\u200b//", "://") and "![" in text
                   for _kind, text in markdown)
    for kind, text in plain:
        assert "\\[" not in text and "\\*" not in text, (kind, text)  # plain widgets show names as they are
    for chart in at.get("plotly_chart"):  # Plotly renders a subset of HTML in its text
        strings = json.dumps(json.loads(chart.proto.spec), ensure_ascii=False)
        assert "<img" not in strings and "<script" not in strings


def test_the_tenant_is_hostile_where_it_matters(tmp_path):
    """The fixture's names reach the pages: the test above would pass vacuously otherwise."""
    from clari_data.read import analytics

    with Warehouse(hostile_tenant(tmp_path)) as wh:
        labels = analytics.period_labels(wh)
        people = set(wh.cursor().execute("SELECT name FROM users").fetchall())
    assert any(PERIOD_LABEL in label for label in labels.values())
    assert {(name,) for name in NAMES.values()} <= people


@pytest.fixture
def downloads(monkeypatch):
    """The bytes each download button of a run offers, by the button's URL (AppTest keeps the media
    files of a run in memory and drops them when it ends)."""
    stored: dict[str, bytes] = {}
    keep = MemoryMediaFileStorage.load_and_get_id

    def load_and_get_id(self, path_or_data, mimetype, kind, filename=None):
        file_id = keep(self, path_or_data, mimetype, kind, filename)
        stored[self.get_url(file_id)] = path_or_data
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", load_and_get_id)
    return stored


def test_every_csv_download_neutralises_names_a_spreadsheet_would_run(make_app, tmp_path, downloads):
    at = make_app(db=hostile_tenant(tmp_path))
    neutralised = set()
    for script in (p.script for p in PAGES):
        run(at, script)
        for button in at.get("download_button"):
            rows = list(csv.reader(io.StringIO(downloads[button.proto.url].decode())))
            for cell in (cell for row in rows for cell in row):
                assert cell not in FORMULAS and not cell.startswith(("=", "+", "@")), (script, button.proto.label)
                neutralised.update(name for name in FORMULAS if cell == "'" + name)
    assert neutralised == set(FORMULAS)  # each name reached a download, with its leading apostrophe
