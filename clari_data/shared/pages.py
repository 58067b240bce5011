"""The dashboard's pages, declared once: `app.py` builds its navigation from this list, and
notification links are made from it, so renaming or moving a page cannot break a link."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode


@dataclass(frozen=True)
class Page:
    name: str  # the key the code uses: overview, accuracy, ...
    title: str  # what people read, in the navigation and in messages
    route: str  # the URL path after the base address; "" for the front page
    script: str  # the page script, relative to app.py
    icon: str  # a Material Symbols name for Streamlit


PAGES: tuple[Page, ...] = (
    Page("overview", "Overview", "", "views/overview.py", ":material/home:"),
    Page("accuracy", "Forecast accuracy", "accuracy", "views/accuracy.py", ":material/target:"),
    Page("coverage", "Pipeline coverage", "coverage", "views/coverage.py", ":material/water_drop:"),
    Page("reps", "Rep performance", "reps", "views/reps.py", ":material/leaderboard:"),
    Page("changes", "Recent changes", "changes", "views/changes.py", ":material/swap_vert:"),
    Page("projection", "Projection", "projection", "views/projection.py", ":material/query_stats:"),
    Page("data", "Data & refresh", "data", "views/data.py", ":material/database:"),
)
BY_NAME = {p.name: p for p in PAGES}


def page(name: str) -> Page:
    """The page of this name; a KeyError names the pages there are."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no page {name!r}; the pages are {', '.join(BY_NAME)}") from None


def page_url(base: str, name: str, params: list[tuple[str, str]] | None = None) -> str:
    """A dashboard address with the public filter parameters (forecast, period, team, rep...)."""
    query = urlencode(params or [])
    return f"{base.rstrip('/')}/{page(name).route}" + (f"?{query}" if query else "")
