"""Line and branch coverage per component, from the data a ./run-tests run leaves (.coverage).

    python -m tests.support.coverage_report [--data-file .coverage]

One row per component (the sidecar's shipping path also on its own row); the files are
those coverage measured, which pyproject.toml's [tool.coverage.run] source lists.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import coverage
from coverage.exceptions import NoDataError

# Component -> the files it is made of (coverage include patterns, repository-relative).
COMPONENTS = {
    "sample_service": ["sample_service/src/sample_service/*"],
    "sidecar": ["sidecar/src/sidecar/*"],
    "  of which shipping/": ["sidecar/src/sidecar/shipping/*"],
    "oncall": ["oncall/src/oncall/*"],
    "contract": ["contract/*"],
    "prometheus (generate, render)": ["prometheus/*"],
    "grafana (dashgen, admin-password)": ["grafana/*"],
    "kubernetes generator": ["deploy/kubernetes/generator/*"],
}


def totals(cov: coverage.Coverage, include: list[str]) -> dict[str, int] | None:
    """coverage's JSON totals of the files matching `include`, or None if none was measured."""
    root = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "coverage.json")
        try:
            cov.json_report(include=[str(root / p) for p in include], outfile=str(out))
        except NoDataError:
            return None
        summary: dict[str, int] = json.loads(out.read_text())["totals"]
    return summary


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "   — "


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-file", default=".coverage")
    args = parser.parse_args(argv)
    if not Path(args.data_file).exists():
        print(f"coverage: no data in {args.data_file}", file=sys.stderr)
        return 1
    cov = coverage.Coverage(data_file=args.data_file)
    cov.load()
    print("\ncoverage by component (line, branch):")
    print(f"  {'component':<36}{'lines':>17}{'branches':>17}")
    for name, include in COMPONENTS.items():
        summary = totals(cov, include)
        if summary is None:
            print(f"  {name:<36}{'not measured':>17}")
            continue
        lines, statements = summary["covered_lines"], summary["num_statements"]
        branches, all_branches = summary["covered_branches"], summary["num_branches"]
        print(
            f"  {name:<36}{_percent(lines, statements)} of {statements:>6,}"
            f"{_percent(branches, all_branches)} of {all_branches:>6,}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
