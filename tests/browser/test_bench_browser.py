"""`python -m bench browser` at a tiny size (docs/performance/browser.md): it serves a page, waits
for it in Chromium and writes its table and samples. Never how fast anything is."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_browser_benchmark_opens_a_page_and_writes_its_table(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("CLARI_API_KEY", "CLARI_DB_PATH", "CLARI_CONFIG")}
    proc = subprocess.run([sys.executable, "-m", "bench", "browser", "--users", "30", "--pages", "/reps",
                           "--repeats", "1", "--out", str(tmp_path), "--screenshots", str(tmp_path / "shots")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (size,) = json.loads((tmp_path / "browser-latest.json").read_text())["sizes"]
    (row,) = size["pages"]
    assert size["users"] == 30 and row["route"] == "/reps" and row["exceptions"] == 0
    assert row["charts"] == 2 and 0 < row["points"] and row["elements"] > 100
    # What is shown settles no later than the last change of any kind (the grid's hidden copy).
    assert 0 < row["new_s"][0] <= row["new_any_change_s"][0]
    assert "| 30 | `/reps` |" in (tmp_path / "browser-latest.md").read_text()
    assert (tmp_path / "shots" / "browser-30-reps.png").stat().st_size > 0
