"""A usage chart as plain geometry: stacked bars per bucket by status class, a y axis with round
steps and x labels at readable intervals, for a template to draw as SVG (no script)."""

import math
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

from keyward.domains.usage.schemas import Granularity, StatusCounts, UsageBucket, UsageOut

WIDTH = 720
HEIGHT = 260
LEFT = 56
RIGHT = 8
TOP = 12
BOTTOM = 36
PLOT_WIDTH = WIDTH - LEFT - RIGHT
PLOT_HEIGHT = HEIGHT - TOP - BOTTOM
X_LABELS = 6


@dataclass(frozen=True, slots=True)
class StatusClass:
    """One status class as the chart shows it: its name, the field it is counted in, a
    description for the legend, and its colour (distinct to people with a red-green deficiency
    too: blue, purple, orange, red)."""

    name: str
    field: str
    label: str
    colour: str


CLASSES = (
    StatusClass("2xx", "success", "2xx success", "#1f6fb2"),
    StatusClass("3xx", "redirection", "3xx redirection", "#7b52ab"),
    StatusClass("4xx", "client_error", "4xx refused", "#e08a00"),
    StatusClass("5xx", "server_error", "5xx failure", "#c0392b"),
)


@dataclass(frozen=True, slots=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    """What the template draws: the frame, the axes, and the bars and table rows already
    written out (with thousands of buckets, markup built here costs a fraction of a template
    loop's)."""

    width: int
    height: int
    left: int
    top: int
    plot_width: int
    plot_height: int
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    totals: dict[str, int]
    total: int
    classes: tuple[StatusClass, ...]
    unit: str
    bars: Markup  # a path per status class, then a rect.bucket per bucket with its counts
    rows: Markup  # a table row per bucket that counted any response
    counted: int  # how many buckets did

    @property
    def bottom(self) -> int:
        return self.top + self.plot_height


def _counts(counts: StatusCounts) -> dict[str, int]:
    return {status.name: int(getattr(counts, status.field)) for status in CLASSES}


def round_maximum(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (at least 1)."""
    if value <= 1:
        return 1
    power: int = 10 ** (len(str(value)) - 1)
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def bucket_label(start: datetime, granularity: Granularity) -> str:
    if granularity is Granularity.DAY:
        return start.strftime("%Y-%m-%d")
    return start.strftime("%Y-%m-%d %H:%M UTC")


def _x_label(start: datetime, granularity: Granularity) -> str:
    if granularity is Granularity.DAY:
        return start.strftime("%b %d")
    return start.strftime("%b %d %H:%M")


def _y_label(value: int) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return str(value)


def _bucket(start: str, counts: list[int], label: str, x: float, width: float) -> str:
    """A bucket's column, over the bars: its counts as data attributes and, when it has any, a
    tooltip saying them (the bars themselves are one path per status class)."""
    data = (
        f'<rect class="bucket" x="{x:.1f}" y="{TOP}" width="{width:.1f}" height="{PLOT_HEIGHT}" '
        f'data-start="{start}" data-2xx="{counts[0]}" data-3xx="{counts[1]}" '
        f'data-4xx="{counts[2]}" data-5xx="{counts[3]}"'
    )
    if not any(counts):
        return data + "/>"
    shown = ", ".join(
        f"{count} {status.name}" for status, count in zip(CLASSES, counts, strict=True) if count
    )
    return f"{data}><title>{label}: {shown}</title></rect>"


def _row(counts: list[int], label: str) -> str:
    cells = "".join(f"<td>{count}</td>" for count in counts)
    return f'<tr><th scope="row">{label}</th>{cells}<td>{sum(counts)}</td></tr>'


def chart(usage: UsageOut) -> Chart:
    """The chart of `usage`: a bar per bucket, its status classes stacked, 2xx at the bottom."""
    buckets: list[UsageBucket] = usage.data
    counted = [
        [bucket.success, bucket.redirection, bucket.client_error, bucket.server_error]
        for bucket in buckets
    ]
    top = round_maximum(max((sum(c) for c in counted), default=0))
    slot = PLOT_WIDTH / max(len(buckets), 1)
    gap = slot * 0.15 if slot >= 4 else 0.0
    width = max(slot - gap, 0.5)
    # Each status class's part of every bar, as the subpaths of one path.
    shapes: list[list[str]] = [[] for _ in CLASSES]
    columns = []
    rows = []
    bottom = float(TOP + PLOT_HEIGHT)
    for index, (bucket, counts) in enumerate(zip(buckets, counted, strict=True)):
        x = LEFT + index * slot + gap / 2
        label = escape(bucket_label(bucket.start, usage.granularity))
        columns.append(_bucket(bucket.start.isoformat(), counts, label, x, width))
        if not any(counts):
            continue
        rows.append(_row(counts, label))
        base = bottom
        for shape, count in zip(shapes, counts, strict=True):
            if count:
                height = count / top * PLOT_HEIGHT
                base -= height
                shape.append(f"M{x:.1f} {base:.2f}h{width:.1f}v{height:.2f}h-{width:.1f}z")
    bars = [
        f'<path class="status-{status.name}" fill="{status.colour}" d="{"".join(shape)}"/>'
        for status, shape in zip(CLASSES, shapes, strict=True)
        if shape
    ]
    bars.append(f'<g class="buckets" fill="transparent">{"".join(columns)}</g>')
    y_ticks = tuple(
        Tick(round(TOP + PLOT_HEIGHT - PLOT_HEIGHT * i / 4, 2), _y_label(top * i // 4))
        for i in range(5)
        if top * i % 4 == 0
    )
    every = max(1, math.ceil(len(buckets) / X_LABELS))
    x_ticks = tuple(
        Tick(round(LEFT + (i + 0.5) * slot, 2), _x_label(buckets[i].start, usage.granularity))
        for i in range(0, len(buckets), every)
    )
    totals = _counts(usage.totals)
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        top=TOP,
        plot_width=PLOT_WIDTH,
        plot_height=PLOT_HEIGHT,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        totals=totals,
        total=sum(totals.values()),
        classes=CLASSES,
        unit=usage.granularity.value,
        bars=Markup("".join(bars)),  # noqa: S704 - numbers, ids of ours and escaped labels
        rows=Markup("".join(rows)),  # noqa: S704 - the same
        counted=len(rows),
    )
