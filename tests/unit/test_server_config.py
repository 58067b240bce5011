"""The server settings in .streamlit/config.toml that the dashboard's speed depends on."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_full_garbage_collection_after_every_run():
    # Each open page's refresh indicator is a fragment run every 2 s; a full collection after each
    # one made ten idle pages cost the server 22% of a core (`python -m bench idle`; docs/performance/browser.md).
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False
