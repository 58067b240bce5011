"""Where a page's data calls spend their time: a pyinstrument profile of them on a bench warehouse.

    .venv/bin/python -m bench --keep                      # leaves the warehouses in bench/results/work-*
    .venv/bin/python -m bench.profile_pages bench/results/work-*/u2000/pages.duckdb accuracy [--shared]

(pyinstrument and py-spy are in requirements-dev.txt.) A load is profiled from outside with py-spy,
e.g. `.venv/bin/py-spy record -f raw -o load.txt -- .venv/bin/python my_load.py`, where my_load.py
calls `Warehouse(...).load_export(...)` on a kept warehouse and an export written by
`bench.tenant.write_export`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyinstrument import Profiler  # noqa: E402

from bench.pages import PAGES, default_selection, page_calls, shared_calls  # noqa: E402
from clari_data.storage.warehouse import Warehouse  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_pages")
    parser.add_argument("db", help="a bench warehouse (run the bench with --keep)")
    parser.add_argument("page", choices=PAGES)
    parser.add_argument("--shared", action="store_true", help="also the calls every page run makes (filters, alerts)")
    parser.add_argument("--runs", type=int, default=20)
    opts = parser.parse_args(argv)
    wh = Warehouse(opts.db)
    with wh.snapshot() as cur:
        sel = default_selection(wh, cur)
        calls = (shared_calls(wh, cur, sel) if opts.shared else []) + page_calls(opts.page, wh, cur, sel)
        for _name, call in calls:  # warm up
            call()
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for _ in range(opts.runs):
            for _name, call in calls:
                call()
        profiler.stop()
    wh.close()
    print(profiler.output_text(unicode=True, color=False))


if __name__ == "__main__":
    main()
