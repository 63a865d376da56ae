"""Runs the benchmarks in sequence and prints a summary table: ``python -m bench [name ...]``."""

from __future__ import annotations

import sys
from collections.abc import Callable

from bench import (
    Check,
    Outcome,
    Row,
    calls,
    coldstart,
    coldstart_package,
    format_ns,
    format_speedup,
    hostile,
    import_cost,
    leaderboard_metrics,
    preprocess,
    report_scale,
    serializers,
    text_preprocess,
    training,
    warm,
)

BENCHMARKS: dict[str, Callable[[], list[Outcome]]] = {
    serializers.NAME: serializers.run,
    preprocess.NAME: preprocess.run,
    text_preprocess.NAME: text_preprocess.run,
    coldstart.NAME: coldstart.run,
    coldstart_package.NAME: coldstart_package.run,
    calls.NAME: calls.run,
    report_scale.NAME: report_scale.run,
    leaderboard_metrics.NAME: leaderboard_metrics.run,
    hostile.NAME: hostile.run,
    import_cost.NAME: import_cost.run,
    training.NAME: training.run,
    warm.NAME: warm.run,
}


def _summary(outcomes: list[Outcome]) -> bool:
    """Prints the summary; True when every check passed and every goal was met."""
    rows = [outcome for outcome in outcomes if isinstance(outcome, Row)]
    checks = [outcome for outcome in outcomes if isinstance(outcome, Check)]
    header = ("benchmark", "case", "sagewire p50", "peer p50", "sagewire vs peer", "goal")
    table = [header]
    for row in rows:
        table.append(
            (
                row.benchmark,
                row.case,
                format_ns(row.ours.p50_ns),
                format_ns(row.peer.p50_ns),
                format_speedup(row.speedup),
                ", ".join(f"{g.text}: {'met' if g.met else 'MISSED'}" for g in row.goals),
            )
        )
    widths = [max(len(line[column]) for line in table) for column in range(len(header))]
    print("summary")
    for line in table:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    for check in checks:
        print(f"{'PASS' if check.passed else 'FAIL'}  {check.benchmark}: {check.name}")
    return all(check.passed for check in checks) and all(
        goal.met for row in rows for goal in row.goals
    )


def main(names: list[str]) -> int:
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    outcomes: list[Outcome] = []
    for name in names or list(BENCHMARKS):
        outcomes.extend(BENCHMARKS[name]())
        print()
    return 0 if _summary(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
