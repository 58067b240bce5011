"""Known vulnerabilities in the pinned requirements: `.venv/bin/python scripts/audit.py`.

Runs pip-audit over requirements.txt and requirements-dev.txt (exactly the pins, `--no-deps`) and
decides:

- any pinned package with a known vulnerability: exit 1, naming each and the fixed versions;
- the vulnerability data could not be reached (no network, or an index that does not serve
  PyPI's JSON API, so every package comes back "not found"): exit 0 with a line saying the audit
  was skipped and why, so that CI on a machine without the index does not fail;
- otherwise exit 0, listing any single package that could not be audited.

CI runs it before the tests (`.ci/run`); docs/operations/security.md says so.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ("requirements.txt", "requirements-dev.txt")
# What pip-audit says when it got no answer about a package from the vulnerability service.
UNREACHABLE = ("not found on pypi", "connection", "timed out", "max retries", "name resolution", "network")


def decide(report: dict) -> tuple[int, str]:
    """The exit code and the message for a pip-audit JSON report."""
    deps = report.get("dependencies", [])
    vulnerable = [d for d in deps if d.get("vulns")]
    if vulnerable:
        lines = [f"{d['name']} {d.get('version', '?')}: " + ", ".join(
            f"{v.get('id')} (fixed in {', '.join(v.get('fix_versions') or ['no release yet'])})" for v in d["vulns"])
            for d in vulnerable]
        return 1, "pip-audit: known vulnerabilities in the pinned requirements:\n  " + "\n  ".join(lines)
    skipped = [d for d in deps if d.get("skip_reason")]
    if deps and len(skipped) == len(deps) and all(
            any(word in d["skip_reason"].lower() for word in UNREACHABLE) for d in skipped):
        return 0, (f"pip-audit skipped: the vulnerability data could not be reached ({len(skipped)} packages not "
                   "audited); run scripts/audit.py where PyPI answers")
    audited = len(deps) - len(skipped)
    note = "".join(f"\n  not audited: {d['name']} ({d['skip_reason']})" for d in skipped)
    return 0, f"pip-audit: no known vulnerabilities in {audited} pinned packages{note}"


def run(requirements: list[Path]) -> tuple[int, str]:
    args = [sys.executable, "-m", "pip_audit", "--no-deps", "--disable-pip", "--progress-spinner", "off",
            "--format", "json", "--timeout", "20"]
    for path in requirements:
        args += ["-r", str(path)]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return 0, "pip-audit skipped: no answer from the vulnerability data within 10 minutes"
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        error = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        if any(word in error.lower() for word in UNREACHABLE):
            return 0, f"pip-audit skipped: the vulnerability data could not be reached ({error[:200]})"
        return 2, f"pip-audit did not run: {error[:500]}"
    return decide(report)


def main(argv: list[str]) -> int:
    requirements = [Path(a) for a in argv] or [ROOT / name for name in REQUIREMENTS]
    code, message = run(requirements)
    print(message, file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
