"""`python -m benchmarks`: run the benchmarks, print a table, exit 1 when a budget is missed."""

import argparse
import os
import platform
import sys
from collections.abc import Callable, Sequence

from benchmarks import openapi_import, verifier
from benchmarks.rounds import Figure, Scale

BENCHMARKS: dict[str, Callable[[Scale], list[Figure]]] = {
    verifier.NAME: verifier.run,
    openapi_import.NAME: openapi_import.run,
}
ROUNDS = 300


def _at_least_two(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError("must be 2 or more (medians and quartiles need rounds)")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time keyward's hot paths against references measured in the same run.",
    )
    parser.add_argument(
        "--only",
        choices=sorted(BENCHMARKS),
        action="append",
        help="run only this benchmark (repeatable); default: all",
    )
    parser.add_argument(
        "--rounds", type=_at_least_two, default=ROUNDS, help=f"measured rounds (default {ROUNDS})"
    )
    parser.add_argument(
        "--size",
        type=_positive,
        default=None,
        help="data size, e.g. keys in the verifier's cache (default: each benchmark's own)",
    )
    return parser.parse_args(argv)


def table(figures: Sequence[Figure]) -> str:
    """The figures as aligned text, one row each; the IQR column is that of per-round ratios."""
    header = ("benchmark", "measurement", "ns/call", "× ref", "rounds' IQR", "budget", "")
    rows = [header]
    for figure in figures:
        low, high = figure.ratio.quartiles()
        rows.append(
            (
                figure.benchmark,
                figure.name,
                f"{figure.nanoseconds:,.0f}",
                f"{figure.ratio.value:.3f}",
                f"{low:.2f}–{high:.2f}",
                "" if figure.budget is None else f"≤ {figure.budget:.2f}",
                "" if figure.budget is None else ("ok" if figure.within_budget else "MISSED"),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    numeric = {2, 3, 4}
    lines = [
        "  ".join(
            cell.rjust(width) if column in numeric else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    scale = Scale(rounds=arguments.rounds, size=arguments.size)
    figures: list[Figure] = []
    for name in arguments.only or list(BENCHMARKS):
        figures.extend(BENCHMARKS[name](scale))
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    print(table(figures))
    missed = [figure for figure in figures if not figure.within_budget]
    for figure in missed:
        print(
            f"{figure.benchmark}: {figure.name} costs {figure.ratio.value:.3f}× the reference, "
            f"over its budget of {figure.budget:g}×.",
            file=sys.stderr,
        )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
