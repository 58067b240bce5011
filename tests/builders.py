"""Export documents built in code, in Clari's result shape, for tests that need exact numbers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIELDS = [
    {"fieldId": "fc_commit", "fieldName": "Commit", "fieldType": "forecast"},
    {"fieldId": "fc_best_case", "fieldName": "Best Case", "fieldType": "forecast"},
    {"fieldId": "fc_quota", "fieldName": "Quota", "fieldType": "quota"},
    {"fieldId": "crm_closed_won", "fieldName": "Closed Won", "fieldType": "crm"},
    {"fieldId": "crm_pipeline", "fieldName": "Pipeline", "fieldType": "crm"},
]
VALUE_KEY = {"fc_commit": "forecastValue", "fc_best_case": "forecastValue", "fc_quota": "quotaValue",
             "crm_closed_won": "aggregationTotal", "crm_pipeline": "aggregationTotal"}


def user(user_id: str, name: str, role: str, parent_role: str | None = None) -> dict[str, Any]:
    return {"userId": user_id, "name": name, "email": f"{user_id}@example.com", "crmId": f"crm-{user_id}",
            "hierarchyId": role, "hierarchyName": role, "parentHierarchyId": parent_role,
            "parentHierarchyName": parent_role, "scopeId": f"{user_id}::X"}


@dataclass
class Export:
    """A result document under construction: `set(user, week, field, value, **extra)` adds one cell."""

    period: str = "2026_Q1"
    start: str = "2026-01-01"
    end: str = "2026-03-31"
    users: list[dict] = field(default_factory=list)
    weeks: list[str] = field(default_factory=list)  # "2026-01-05", ... (Mondays)
    entries: list[dict] = field(default_factory=list)

    def set(self, user_id: str, week: str, field_id: str, value: Any, **extra: Any) -> Export:
        entry = {"userId": user_id, "fieldId": field_id, "timePeriodId": self.period, "timeFrameId": f"TF:{week}",
                 VALUE_KEY[field_id]: value, "currency": {"code": "USD", "symbol": "$"}}
        entry.update(extra)
        self.entries.append(entry)
        return self

    def row(self, user_id: str, week: str, *, commit=None, best_case=None, quota=None, closed=None, pipeline=None,
            **extra_commit: Any) -> Export:
        """All five role fields of one user and week at once (None leaves a field out)."""
        for field_id, value in (("fc_commit", commit), ("fc_best_case", best_case), ("fc_quota", quota),
                                ("crm_closed_won", closed), ("crm_pipeline", pipeline)):
            if value is not None:
                self.set(user_id, week, field_id, value, **(extra_commit if field_id == "fc_commit" else {}))
        return self

    def document(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "users": self.users,
            "fields": [dict(f) for f in FIELDS],  # a copy: callers may rename fields
            "timePeriods": [{"timePeriodId": self.period, "label": self.period[-2:], "year": self.period[:4],
                             "type": "quarter", "startDate": self.start, "endDate": self.end, "crmId": "crm-p"}],
            "timeFrames": [{"timeFrameId": f"TF:{w}", "startDate": w, "endDate": w} for w in self.weeks],
        }

    def write(self, path: Path, document: dict | None = None) -> Path:
        path.write_text(json.dumps(document or self.document()))
        return path


def small_org() -> list[dict]:
    """A CRO with two managers; Mia manages reps Rex and Ria, Max manages rep Rob."""
    return [
        user("cro", "Cleo Root", "CRO"),
        user("m1", "Mia Manager", "MGR-1", "CRO"),
        user("m2", "Max Manager", "MGR-2", "CRO"),
        user("r1", "Rex Rep", "REP-1", "MGR-1"),
        user("r2", "Ria Rep", "REP-2", "MGR-1"),
        user("r3", "Rob Rep", "REP-3", "MGR-2"),
    ]


HOSTILE_NAMES = {
    "boss": "<script>alert('x')</script>",
    "r1": "**bold** [link](http://evil.example) $x$",
    "r2": "<img src=x onerror=alert(1)>",
}
HOSTILE_FIELD = "<b onmouseover=alert(2)>Commit</b>"


def hostile_warehouse(folder: Path, name: str = "hostile.duckdb") -> Path:
    """A warehouse whose people and Commit field are named like HTML, Markdown and script, with two
    exports a day apart (so the changes page has moves to show)."""
    from datetime import datetime

    from clari_data.storage.warehouse import Warehouse

    def export(commit: float) -> dict:
        e = Export(period="2026_Q1", users=[user(uid, label, uid.upper(), None if uid == "boss" else "BOSS")
                                            for uid, label in HOSTILE_NAMES.items()], weeks=["2026-03-23"])
        for uid in HOSTILE_NAMES:
            e.row(uid, "2026-03-23", commit=commit, best_case=20_000, quota=100_000, closed=5_000, pipeline=50_000)
        document = e.document()
        document["fields"][0]["fieldName"] = HOSTILE_FIELD
        return document

    path = folder / name
    with Warehouse(path) as wh:
        for day, commit in ((2, 10_000), (3, 30_000)):
            source = folder / f"hostile-{day}.json"
            source.write_text(json.dumps(export(commit)))
            wh.load_export(source, forecast_id="net_arr", job_id=f"hostile-{day}", requested_period="2026_Q1",
                           exported_at=datetime(2026, 4, day))
    return path
