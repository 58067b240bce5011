"""The README's screenshots, docs/images/overview.png and changes.png: a fresh demo dashboard (its
history loaded, as on a fresh clone) in Chromium, each image reduced to a 128-colour palette.

    .venv/bin/python docs/screenshots.py            # about a minute on 2 cores
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from bench.dashboard import CHROMIUM_ARGS, Dashboard, chromium_path  # noqa: E402

SHOTS = {"overview": "/", "changes": "/changes?from=quarter"}  # /changes from the quarter's start: a quarter of moves
TIMEOUT = 60_000


def settled(page: Page) -> None:
    page.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]', timeout=TIMEOUT)
    page.wait_for_selector('[data-test-script-state="notRunning"]', timeout=TIMEOUT)
    expect(page.locator('[data-testid="stCaptionContainer"]').filter(has_text="Data as of").first).to_be_visible(
        timeout=TIMEOUT)
    expect(page.locator('[data-testid="stPlotlyChart"] .main-svg').first).to_be_visible(timeout=TIMEOUT)


def main(out: Path = ROOT / "docs" / "images") -> None:
    folder = Path(tempfile.mkdtemp(prefix="clari-screenshots-"))
    (folder / "clari.toml").write_text("")  # every default: the demo tenant
    env = {**os.environ, "CLARI_CONFIG": str(folder / "clari.toml"), "CLARI_DB_PATH": str(folder / "w.duckdb"),
           "PYTHONPATH": str(ROOT)}
    env.pop("CLARI_API_KEY", None)
    server = Dashboard(folder, env)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{server.url}/data")
            expect(page.get_by_text("Loaded demo history")).to_be_visible(timeout=180_000)
            for name, path in SHOTS.items():
                page.goto(server.url + path)
                settled(page)
                shot = folder / f"{name}.png"
                page.screenshot(path=str(shot))
                image = Image.open(shot).convert("RGB")
                image.quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
                    out / f"{name}.png", optimize=True)
                print(out / f"{name}.png")
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
