"""Security at the edges (issue 16, items 2 and 6): CSV downloads never carry a live spreadsheet
formula, Streamlit's own export and tracebacks are off for viewers, and a base URL that carries a
user name or password is refused without being repeated."""

from __future__ import annotations

import io
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from clari_data.ingest.client import ClariClient
from clari_data.shared.config import ConfigError, load_settings
from ui.format import csv_bytes, csv_cell

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("text, written", [
    ('=HYPERLINK("http://evil.example/","Blair")', '\'=HYPERLINK("http://evil.example/","Blair")'),
    ("+1 555 0100", "'+1 555 0100"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ("Blair Lee", "Blair Lee"),
    ("a=b", "a=b"),  # only a leading character starts a formula
    ("", ""),
])
def test_csv_cell_neutralises_formula_starts(text, written):
    assert csv_cell(text) == written


@pytest.mark.parametrize("value", [-5, -2.5, 0, 1e15, None, float("nan"), True])
def test_csv_cell_leaves_what_is_not_text(value):
    assert csv_cell(value) is value


def test_csv_download_keeps_numbers_as_numbers_and_text_safe():
    df = pd.DataFrame({
        "name": ['=HYPERLINK("http://evil.example/","Blair")', "Ana", "-Bob", None],
        "amount": [-1500.5, 2.0, -3.0, None],
        "count": pd.array([-1, 2, 3, None], dtype="Int64"),
        "when": pd.to_datetime(["2026-01-01", None, "2026-01-03", "2026-01-04"]),
        "warnings": [["=1+1"], [], ["ok"], []],
    })
    written = csv_bytes(df)
    back = pd.read_csv(io.BytesIO(written), keep_default_na=False)
    assert back["name"].tolist() == ['\'=HYPERLINK("http://evil.example/","Blair")', "Ana", "'-Bob", ""]
    numbers = pd.read_csv(io.BytesIO(written))
    assert numbers["amount"].tolist()[:3] == [-1500.5, 2.0, -3.0]  # negative numbers are not quoted
    assert numbers["count"].tolist()[:3] == [-1, 2, 3]
    assert back["when"].tolist()[0].startswith("2026-01-01")
    assert not any(str(cell).startswith(("=", "+", "-", "@", "\t", "\r"))
                   for column in ("name", "warnings") for cell in back[column])


def test_viewers_see_no_traceback_and_no_second_unsafe_export():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] in ("none", "type")
    assert config["client"]["disableDataExport"] is True


PASSWORD = "hunter2-secret"


@pytest.mark.parametrize("url", [f"https://user:{PASSWORD}@api.clari.com/v4", f"https://{PASSWORD}@api.clari.com/v4",
                                 f"ftp://user:{PASSWORD}@api.clari.com/v4"])
def test_a_base_url_with_credentials_is_refused_unquoted(tmp_path, url):
    config = tmp_path / "clari.toml"
    config.write_text(f'[clari]\nbase_url = "{url}"\n')
    for attempt in (lambda: load_settings(config, env={}), lambda: load_settings(env={"CLARI_BASE_URL": url}),
                    lambda: ClariClient(url, "key")):
        with pytest.raises(ConfigError) as caught:
            attempt()
        assert PASSWORD not in str(caught.value) and "base_url" in str(caught.value)


def test_an_ordinary_base_url_is_accepted():
    assert load_settings(env={"CLARI_BASE_URL": "http://127.0.0.1:8765/v4"}).clari.base_url.endswith(":8765/v4")
