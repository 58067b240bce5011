"""Figures and targets from a bench run's raw samples, and the Markdown table of them."""

from __future__ import annotations

import statistics
from typing import Any

from clari_data.shared import pages as pages_registry

MiB = 2**20
TARGETS = {
    "refresh_ratio": 2.0,  # refresh time / floor time
    "memory_ratio": 1.5,  # refresh peak RSS / floor peak RSS
    "warm_data_calls_ms": 100.0,  # median, per page
    "page_run_excess_ms": 300.0,  # median whole-page run minus the empty page's
    "as_of_ratio": 2.0,  # a page's own warm data calls as of a past export / live
    "lake_page_ratio": 2.0,  # a page's warm data calls (with the shared ones) on DuckLake / on the file
}
AS_OF = " as of"  # bench.pages names a page's data as of a past export "<page> as of"


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def p95(xs: list[float]) -> float:
    if len(xs) < 2:
        return max(xs)
    return statistics.quantiles(xs, n=20, method="inclusive")[-1]


def spread(xs: list[float]) -> dict[str, float]:
    """Median, range and p95 of a sample; `rel_range` = (max - min) / median."""
    m = median(xs)
    return {"median": m, "min": min(xs), "max": max(xs), "p95": p95(xs), "n": len(xs),
            "rel_range": (max(xs) - min(xs)) / m if m else 0.0}


def _fit(x: list[float], y: list[float]) -> tuple[float, float]:
    """Least-squares slope of y on x, and R²."""
    mx, my = statistics.fmean(x), statistics.fmean(y)
    sxx = sum((a - mx) ** 2 for a in x)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    syy = sum((b - my) ** 2 for b in y)
    if not sxx or not syy:
        return 0.0, 0.0
    return sxy / sxx, sxy * sxy / (sxx * syy)


def storage(series: list[dict]) -> dict[str, Any]:
    """Does the warehouse grow with the cells that changed, or with all cells?"""
    stored = [d["cells_added"] + d["cells_changed"] for d in series]
    cells = [d["cells"] for d in series]
    added = [d["bytes_added"] for d in series]
    share = [d["cells_changed"] / d["cells"] for d in series if d["cells"]]
    out: dict[str, Any] = {
        "exports": len(series),
        "cells_per_export": spread(cells) if cells else None,
        "changed_share": spread(share) if share else None,
        "changed_share_weekdays": None,
        "new_versions_total": sum(stored),
        "cells_total": sum(cells),
        "bytes_added_total": sum(added),
        "bytes_added_per_export": spread(added) if added else None,
    }
    weekdays = [d["cells_changed"] / d["cells"] for d in series
                if d["cells"] and d["cells_changed"] > 0.02 * d["cells"]]
    if weekdays:
        out["changed_share_weekdays"] = spread(weekdays)
    if len(series) >= 3:
        used = [d["used_bytes"] for d in series]
        cum_stored, cum_cells, a, b = [], [], 0, 0
        for s, c in zip(stored, cells):
            a, b = a + s, b + c
            cum_stored.append(a)
            cum_cells.append(b)
        slope, r2 = _fit(cum_stored, used)
        slope_all, r2_all = _fit(cum_cells, used)
        out.update({
            "bytes_per_new_version": slope, "r2_vs_changed_cells": r2,
            "bytes_per_cell_if_all": slope_all, "r2_vs_all_cells": r2_all,
            # What the history would have added had every export stored every cell again.
            "snapshot_bytes_estimate": slope * sum(cells),
        })
        snapshot = out["snapshot_bytes_estimate"]
        out["share_of_snapshot"] = sum(added) / snapshot if snapshot else None
        out["target_met"] = r2 >= 0.95 and r2 > r2_all and (out["share_of_snapshot"] or 0) < 0.25
    return out


def _light_floor(refresh: list[dict], floor: list[dict]) -> dict[str, Any]:
    """The same refresh against the lighter floor of earlier runs (read_json into one nested row)."""
    light = [f.get("read_json") for f in floor]
    if not all(light):
        return {}
    return {"floor_read_json_s": spread([f["seconds"] for f in light]),
            "floor_read_json_rss": spread([f["peak_rss"] for f in light]),
            "time_ratio_read_json": spread([r["seconds"] / f["seconds"] for r, f in zip(refresh, light)]),
            "memory_ratio_read_json": spread([r["peak_rss"] / f["peak_rss"] for r, f in zip(refresh, light)])}


def summarise(result: dict) -> dict[str, Any]:
    sizes = []
    for size in result["sizes"]:
        refresh, floor = size["refresh"], size["floor"]
        export = refresh[-1]["export"]
        time_ratios = [r["seconds"] / f["seconds"] for r, f in zip(refresh, floor)]
        mem_ratios = [r["peak_rss"] / f["peak_rss"] for r, f in zip(refresh, floor)]
        phases = {k: median([r["phases"][k] for r in refresh]) for k in refresh[0]["phases"]}
        s: dict[str, Any] = {
            "users": size["users"], "fraction": size["fraction"], "file_bytes": export["file_bytes"],
            "entries": export["entries"], "cells": export["cells"], "weeks": export["weeks"],
            "cells_changed": export["cells_changed"], "same_file": all(f.get("same_file") for f in floor),
            "refresh_s": spread([r["seconds"] for r in refresh]),
            "refresh_excl_clari_s": spread([r["seconds"] - r["phases"]["queue_and_poll"] for r in refresh]),
            "floor_s": spread([f["seconds"] for f in floor]),
            "time_ratio": spread(time_ratios),
            "time_ratio_excl_clari": spread([(r["seconds"] - r["phases"]["queue_and_poll"]) / f["seconds"]
                                             for r, f in zip(refresh, floor)]),
            "phases_s": phases,
            "refresh_rss": spread([r["peak_rss"] for r in refresh]),
            "floor_rss": spread([f["peak_rss"] for f in floor]),
            "refresh_baseline_rss": median([r["baseline_rss"] for r in refresh]),
            "refresh_memory_limit": refresh[-1].get("memory_limit"), "refresh_threads": refresh[-1].get("threads"),
            "floor_baseline_rss": median([f["baseline_rss"] for f in floor]),
            "memory_ratio": spread(mem_ratios),
            **_light_floor(refresh, floor),
            # Peak minus the process at rest after its imports: what reading and loading the file added.
            "memory_ratio_above_rest": spread([(r["peak_rss"] - r["baseline_rss"]) / (f["peak_rss"] - f["baseline_rss"])
                                               for r, f in zip(refresh, floor)]),
            "storage": storage(size["history"]["series"]),
            "history_build_s": size["history"]["timings"]["total_s"],
            "daily_load_s_last_week": median([d["load_s"] for d in size["history"]["series"][-7:]]),
        }
        s["targets"] = {"refresh": s["time_ratio"]["median"] <= TARGETS["refresh_ratio"],
                        "memory": s["memory_ratio"]["median"] <= TARGETS["memory_ratio"]}
        s["caps"] = [{
            "memory_limit": c["memory_limit"],
            "refresh_ok": "error" not in c["refresh"], "refresh_error": c["refresh"].get("error"),
            "refresh_rss": c["refresh"].get("peak_rss"), "refresh_s": c["refresh"].get("seconds"),
            "duckdb_setting": c["refresh"].get("memory_limit"),
            "floor_ok": "error" not in c["floor"], "floor_error": c["floor"].get("error"),
            "floor_rss": c["floor"].get("peak_rss"),
        } for c in size["caps"]]
        pages = {}
        calls = size["data_calls"]["pages"]
        app = size["apptest"]["pages"]
        scripts = {p.name: p.script for p in pages_registry.PAGES}
        for page, c in calls.items():
            a = app.get(scripts[page]) if page in scripts else None  # pacing, waterfall, as of: data only
            entry = {
                "own_cold_ms": spread([x * 1000 for x in c["cold_own"]]),
                "own_warm_ms": spread([x * 1000 for x in c["warm_own"]]),
                "all_cold_ms": spread([x * 1000 for x in c["cold"]]),
                "all_warm_ms": spread([x * 1000 for x in c["warm"]]),
                "calls_warm_ms": {name: median(v["warm"]) * 1000 for name, v in c["calls"].items()},
            }
            if a:
                excess = [(w - e) * 1000 for w, e in zip(a["warm"], a["empty_warm"])]
                entry.update({
                    "run_first_ms": a["first"] * 1000,
                    "run_warm_ms": spread([x * 1000 for x in a["warm"]]),
                    "empty_warm_ms": spread([x * 1000 for x in a["empty_warm"]]),
                    "run_excess_ms": spread(excess),
                    "run_first_excess_ms": (a["first"] - median(a["empty_warm"])) * 1000,
                })
            entry["targets"] = {
                "data_calls": entry["own_warm_ms"]["median"] <= TARGETS["warm_data_calls_ms"],
                "data_calls_with_shared": entry["all_warm_ms"]["median"] <= TARGETS["warm_data_calls_ms"],
                "page_run": a is not None and entry["run_excess_ms"]["median"] <= TARGETS["page_run_excess_ms"],
            }
            pages[page] = entry
        for page, entry in pages.items():
            live = pages.get(page.removesuffix(AS_OF))
            if page.endswith(AS_OF) and live:
                ratio = entry["own_warm_ms"]["median"] / live["own_warm_ms"]["median"]
                entry["as_of_ratio"] = ratio
                entry["targets"]["as_of"] = ratio <= TARGETS["as_of_ratio"]
        s["pages"] = pages
        s["shared_warm_ms"] = spread([(a - o) * 1000 for p in calls.values() for a, o in zip(p["warm"], p["warm_own"])])
        s["apptest_process_start"] = size["apptest"]["process_start"]
        if size.get("lake", {}).get("refresh"):
            s["lake"] = _lake(size["lake"], refresh, pages)
        sizes.append(s)
    return {"sizes": sizes, "targets": TARGETS}


def _lake(lake: dict, file_refresh: list[dict], file_pages: dict[str, Any]) -> dict[str, Any]:
    """The lake's figures, and their ratios to the file's of the same run (refreshes pairwise, in
    the order they ran; pages by warm medians)."""
    refresh = lake["refresh"]
    out: dict[str, Any] = {
        "refresh_s": spread([r["seconds"] for r in refresh]),
        "refresh_ratio": spread([r["seconds"] / f["seconds"] for r, f in zip(refresh, file_refresh)]),
        "phases_s": {k: median([r["phases"][k] for r in refresh]) for k in refresh[0]["phases"]},
        "refresh_rss": spread([r["peak_rss"] for r in refresh]),
        "import_s": spread(lake["import_s"]),
    }
    if "storage" in lake:
        out["storage"], out["file_storage"] = lake["storage"], lake["file_storage"]
    calls = lake.get("data_calls")
    if calls:
        out["mirror_s"] = spread(calls["mirror_s"]) if calls.get("mirror_s") else None
        pages = {}
        for page, c in calls["pages"].items():
            file_entry = file_pages[page]
            entry = {"own_cold_ms": spread([x * 1000 for x in c["cold_own"]]),
                     "own_warm_ms": spread([x * 1000 for x in c["warm_own"]]),
                     "all_warm_ms": spread([x * 1000 for x in c["warm"]])}
            entry["ratio"] = entry["all_warm_ms"]["median"] / file_entry["all_warm_ms"]["median"]
            entry["own_ratio"] = entry["own_warm_ms"]["median"] / max(file_entry["own_warm_ms"]["median"], 1e-9)
            entry["targets"] = {"ratio": entry["ratio"] <= TARGETS["lake_page_ratio"]}
            pages[page] = entry
        out["pages"] = pages
    return out


# -- Markdown -----------------------------------------------------------------------------------

def _mb(n: float | None) -> str:
    return "–" if n is None else f"{n / MiB:,.0f}"


def _rng(s: dict, fmt: str = "{:.2f}") -> str:
    return f"{fmt.format(s['median'])} ({fmt.format(s['min'])}–{fmt.format(s['max'])})"


def _ok(flag: bool) -> str:
    return "met" if flag else "**missed**"


def _header(*titles: str) -> str:
    return "| " + " | ".join(titles) + " |"


def markdown(result: dict) -> str:
    summary = result.get("summary") or summarise(result)
    sizes = summary["sizes"]
    full = sizes[-1]
    m = result["machine"]
    lines: list[str] = []
    add = lines.append
    mem = f"{m['memory_bytes'] / 2**30:.0f} GiB" if m.get("memory_bytes") else "?"
    add(f"Run {result['started_at']} on {m.get('cpus_usable', m['cpus'])} cores, {mem} RAM "
        f"({m['platform']}; Python {m['python']}, DuckDB {m['versions']['duckdb']}, "
        f"Streamlit {m['versions']['streamlit']}); "
        f"load average {result.get('load_average_start')} at start, {result.get('load_average_end')} at end; "
        f"{result.get('runtime_s', 0):.0f} s in all.")
    add("")
    add(f"Tenant: {full['users']:,} users, {result['fields']} fields, quarter {result['quarter']} "
        f"({full['weeks']} weeks) and 4 past quarters; history of {result['options']['days']} daily exports. "
        f"Medians with (min–max) over {full['refresh_s']['n']} refresh/floor pairs and "
        f"{result['options']['page_repeats']} warm page runs.")
    add("")
    add("**Refresh and memory** (one export of the full current quarter over HTTP, with the [warehouse] defaults, "
        "against DuckDB alone reading the same file and unnesting its entries into a table)")
    add("")
    add(_header("users", "file", "entries", "refresh s", "floor s", "time ratio (target ≤ 2)", "refresh peak RSS MiB",
                "floor peak RSS MiB", "memory ratio (target ≤ 1.5)"))
    add("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in sizes:
        add(f"| {s['users']:,} | {s['file_bytes'] / 1e6:.1f} MB | {s['entries']:,} | {_rng(s['refresh_s'])} | "
            f"{_rng(s['floor_s'])} | {_rng(s['time_ratio'])} {_ok(s['targets']['refresh'])} | "
            f"{_mb(s['refresh_rss']['median'])} ({_mb(s['refresh_rss']['min'])}–{_mb(s['refresh_rss']['max'])}) | "
            f"{_mb(s['floor_rss']['median'])} ({_mb(s['floor_rss']['min'])}–{_mb(s['floor_rss']['max'])}) | "
            f"{_rng(s['memory_ratio'])} {_ok(s['targets']['memory'])} |")
    add("")
    if all("memory_ratio_read_json" in s for s in sizes):
        add("Against the lighter floor of earlier runs (DuckDB's `read_json` of the file into one nested row, "
            "entries not unnested):")
        add("")
        add(_header("users", "read_json s", "time ratio", "read_json peak RSS MiB", "memory ratio"))
        add("|---:|---:|---:|---:|---:|")
        for s in sizes:
            rss = s["floor_read_json_rss"]
            add(f"| {s['users']:,} | {_rng(s['floor_read_json_s'])} | {_rng(s['time_ratio_read_json'])} | "
                f"{_mb(rss['median'])} ({_mb(rss['min'])}–{_mb(rss['max'])}) | {_rng(s['memory_ratio_read_json'])} |")
        add("")
    ph = full["phases_s"]
    add(f"Refresh phases at {full['users']:,} users (median s): queue + Clari's job + poll {ph['queue_and_poll']:.2f}, "
        f"download {ph['download']:.2f}, load + change detection {ph['load']:.2f}, open {ph['open']:.2f}. "
        f"Without the export job's time on Clari's side the ratio is {_rng(full['time_ratio_excl_clari'])}. "
        f"Processes at rest after imports: refresh {_mb(full['refresh_baseline_rss'])} MiB, floor "
        f"{_mb(full['floor_baseline_rss'])} MiB; memory added by the work itself (peak minus rest), refresh against "
        f"floor: " + ", ".join(f"{s['memory_ratio_above_rest']['median']:.2f} at {s['users']:,} users" for s in sizes)
        + f". The floor read the very file the refresh downloaded (same SHA-256): {full['same_file']}.")
    if full["caps"]:
        add("")
        add(f"**Memory cap** (DuckDB `memory_limit`, refresh of the {full['file_bytes'] / 1e6:.0f} MB file "
            f"at {full['users']:,} users)")
        add("")
        add("| memory_limit | refresh | refresh peak RSS MiB | floor (read_json + unnest) | floor peak RSS MiB |")
        add("|---|---|---:|---|---:|")
        add(f"| default ({full['refresh_memory_limit']} for the refresh, DuckDB's own for the floor) | completes, "
            f"{full['refresh_s']['median']:.2f} s | {_mb(full['refresh_rss']['median'])} | "
            f"completes | {_mb(full['floor_rss']['median'])} |")
        for c in full["caps"]:
            ref = f"completes, {c['refresh_s']:.2f} s" if c["refresh_ok"] else f"fails: {_short(c['refresh_error'])}"
            flo = "completes" if c["floor_ok"] else f"fails: {_short(c['floor_error'])}"
            add(f"| {c['memory_limit']} | {ref} | {_mb(c['refresh_rss'])} | {flo} | {_mb(c['floor_rss'])} |")
    add("")
    st = full["storage"]
    if st.get("bytes_per_new_version") is not None:
        add(f"**Storage** ({st['exports']} daily exports at {full['users']:,} users)")
        add("")
        add(_header("cells per export", "changed per export (share)", "new versions stored", "warehouse growth",
                    "per export (median)", "per new version", "growth if every cell were stored again",
                    "fit to changed cells / to all cells (R²)", "target"))
        add("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        sh = st["changed_share"]
        weekdays = st["changed_share_weekdays"]
        add(f"| {st['cells_per_export']['median']:,.0f} (median) | {100 * sh['median']:.1f}% median, "
            f"{100 * sh['min']:.1f}–{100 * sh['max']:.1f}% "
            + (f"(weekdays {100 * weekdays['median']:.1f}%) " if weekdays else "")
            + f"| {st['new_versions_total']:,} of {st['cells_total']:,} cells exported | "
            f"{st['bytes_added_total'] / 1e6:.1f} MB | {st['bytes_added_per_export']['median'] / 1e3:,.0f} kB | "
            f"{st['bytes_per_new_version']:.0f} B | {st['snapshot_bytes_estimate'] / 1e6:,.0f} MB "
            f"({100 * st['share_of_snapshot']:.0f}% of it used) | "
            f"{st['r2_vs_changed_cells']:.3f} / {st['r2_vs_all_cells']:.3f} | "
            f"{_ok(st['target_met'])} |")
        add("")
    add(f"**Pages** at {full['users']:,} users (ms; data calls: median (p95); a page's own calls, then with the "
        "shared calls every page run makes: filters, status, alert rules)")
    add("")
    add(_header("page", "own data calls cold", "own data calls warm (target ≤ 100)", "with shared calls, warm",
                "AppTest run, first (cache empty)", "AppTest run warm", "minus empty page (target ≤ 300)"))
    add("|---|---:|---:|---:|---:|---:|---:|")
    for page, p in full["pages"].items():
        run = (f"{p['run_first_ms']:,.0f} | {p['run_warm_ms']['median']:,.0f} ({p['run_warm_ms']['p95']:,.0f}) | "
               f"{p['run_excess_ms']['median']:,.0f} ({p['run_excess_ms']['p95']:,.0f}) {_ok(p['targets']['page_run'])}"
               if "run_warm_ms" in p else "– | – | –")
        add(f"| {page} | {_pp(p['own_cold_ms'])} | {_pp(p['own_warm_ms'])} {_ok(p['targets']['data_calls'])} | "
            f"{_pp(p['all_warm_ms'])} | {run} |")
    empty = statistics.median([p["empty_warm_ms"]["median"] for p in full["pages"].values()
                               if "empty_warm_ms" in p] or [0])
    add("")
    add(f"Empty page run (AppTest of a script with one `st.write`): {empty:.0f} ms median. "
        f"Shared calls alone, warm: {_pp(full['shared_warm_ms'])} ms.")
    as_of = {page.removesuffix(AS_OF): p for page, p in full["pages"].items() if "as_of_ratio" in p}
    if as_of:
        add("")
        add(f"**Time travel** at {full['users']:,} users: each page's own data calls as of the export taken "
            "14 days before the latest, against the same calls live (ms, warm median (p95))")
        add("")
        add(_header("page", "live", "as of a past export", "ratio (target ≤ 2)"))
        add("|---|---:|---:|---:|")
        for page, p in as_of.items():
            add(f"| {page} | {_pp(full['pages'][page]['own_warm_ms'])} | {_pp(p['own_warm_ms'])} | "
                f"{p['as_of_ratio']:.2f} {_ok(p['targets']['as_of'])} |")
    _lake_markdown(add, sizes, full)
    add("")
    add("**Growth** (the same figures at each size)")
    add("")
    add(_header("users", "file", "cells", "refresh s", "floor s", "time ratio", "refresh RSS MiB", "floor RSS MiB",
                "memory ratio", "worst page, own warm data calls ms", "worst page, run minus empty ms",
                "daily load, last week s"))
    add("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in sizes:
        worst_calls = max(s["pages"].items(), key=lambda kv: kv[1]["own_warm_ms"]["median"])
        runs = [(k, v["run_excess_ms"]["median"]) for k, v in s["pages"].items() if "run_excess_ms" in v]
        worst_run = max(runs, key=lambda kv: kv[1]) if runs else ("–", float("nan"))
        add(f"| {s['users']:,} | {s['file_bytes'] / 1e6:.1f} MB | {s['cells']:,} | {s['refresh_s']['median']:.2f} | "
            f"{s['floor_s']['median']:.2f} | {s['time_ratio']['median']:.2f} | {_mb(s['refresh_rss']['median'])} | "
            f"{_mb(s['floor_rss']['median'])} | {s['memory_ratio']['median']:.2f} | "
            f"{worst_calls[1]['own_warm_ms']['median']:.0f} ({worst_calls[0]}) | {worst_run[1]:.0f} ({worst_run[0]}) | "
            f"{s['daily_load_s_last_week']:.2f} |")
    add("")
    add("**Noise**: " + "; ".join(
        f"{s['users']:,} users: refresh ±{50 * s['refresh_s']['rel_range']:.0f}%, "
        f"floor ±{50 * s['floor_s']['rel_range']:.0f}%, "
        f"time ratio {s['time_ratio']['min']:.2f}–{s['time_ratio']['max']:.2f}, memory ratio "
        f"{s['memory_ratio']['min']:.2f}–{s['memory_ratio']['max']:.2f}" for s in sizes)
        + " (± is half the min–max range over the median).")
    return "\n".join(lines) + "\n"


def _lake_markdown(add, sizes: list[dict], full: dict) -> None:
    lakes = [s for s in sizes if "lake" in s]
    if not lakes:
        return
    add("")
    add("**DuckLake** (the same refreshes into a lake on PostgreSQL holding the same history, interleaved with the "
        "file's; the pages' data calls as a dashboard replica reads the lake: through its mirror, caught up before "
        "each page run; ratios to the file in this run)")
    add("")
    add(_header("users", "refresh file s", "refresh lake s", "ratio", "lake refresh RSS MiB", "history import s",
                "replica's first mirror copy s", "lake data files MB (file used MB)",
                "worst page, lake / file warm data calls (target ≤ 2)"))
    add("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for s in lakes:
        lk = s["lake"]
        worst = max(lk.get("pages", {}).items(), key=lambda kv: kv[1]["ratio"], default=None)
        worst_text = (f"{worst[1]['ratio']:.2f} ({worst[0]}) {_ok(worst[1]['targets']['ratio'])}" if worst else "–")
        mirror = f"{lk['mirror_s']['median']:.2f}" if lk.get("mirror_s") else "–"
        stored = (f"{lk['storage']['used_bytes'] / 1e6:.1f} ({lk['file_storage']['used_bytes'] / 1e6:.1f})"
                  if "storage" in lk else "–")
        add(f"| {s['users']:,} | {s['refresh_s']['median']:.2f} | {_rng(lk['refresh_s'])} | "
            f"{_rng(lk['refresh_ratio'])} | {_mb(lk['refresh_rss']['median'])} | {lk['import_s']['median']:.1f} | "
            f"{mirror} | {stored} | {worst_text} |")
    lk = full.get("lake")
    if lk and lk.get("pages"):
        ph = lk["phases_s"]
        add("")
        add(f"Lake refresh phases at {full['users']:,} users (median s): queue + Clari's job + poll "
            f"{ph['queue_and_poll']:.2f}, download {ph['download']:.2f}, load + change detection + compaction "
            f"{ph['load']:.2f}, open {ph['open']:.2f}.")
        add("")
        add(_header("page", "file: with shared calls, warm", "lake: with shared calls, warm", "ratio (target ≤ 2)",
                    "file: own calls, warm", "lake: own calls, warm", "lake: own calls, cold"))
        add("|---|---:|---:|---:|---:|---:|---:|")
        for page, p in lk["pages"].items():
            f = full["pages"][page]
            add(f"| {page} | {_pp(f['all_warm_ms'])} | {_pp(p['all_warm_ms'])} | {p['ratio']:.2f} "
                f"{_ok(p['targets']['ratio'])} | {_pp(f['own_warm_ms'])} | {_pp(p['own_warm_ms'])} | "
                f"{_pp(p['own_cold_ms'])} |")


def _pp(s: dict) -> str:
    return f"{s['median']:,.0f} ({s['p95']:,.0f})"


def _short(text: str | None) -> str:
    text = (text or "").replace("|", "/")
    if "Out of Memory" in text:
        i = text.index("Out of Memory")
        return text[i:i + 90].rstrip(" .,(") + "…"
    return text[:90]
