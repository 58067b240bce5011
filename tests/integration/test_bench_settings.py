"""`python -m bench settings` (docs/performance/index.md, "Settings"): the command behind the choice
of the own settings converter runs and says each of its findings; never how fast anything is."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_settings_comparison_runs_and_reports_each_finding():
    done = subprocess.run([sys.executable, "-m", "bench", "settings", "--runs", "1", "--loops", "1"], cwd=ROOT,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    for finding in ("Code lines for typing and loading: own ", "Import time, median of 1: clari_data.shared.config ",
                    "One load_settings", "pydantic-settings installs ", "tests/unit/test_config.py with the prototype"):
        assert finding in done.stdout, (finding, done.stdout[-2000:])
