"""A usage chart as plain geometry: stacked bars per bucket by status class, a y axis with round
steps and x labels at readable intervals, for a template to draw as SVG (no script)."""

import math
from dataclasses import dataclass
from datetime import datetime

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
class Segment:
    """One status class's part of a bar."""

    status: StatusClass
    count: int
    y: float
    height: float


@dataclass(frozen=True, slots=True)
class Bar:
    start: datetime
    label: str
    counts: dict[str, int]
    total: int
    x: float
    width: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    left: int
    top: int
    plot_width: int
    plot_height: int
    bars: tuple[Bar, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    totals: dict[str, int]
    total: int
    classes: tuple[StatusClass, ...]
    unit: str

    @property
    def bottom(self) -> int:
        return self.top + self.plot_height

    @property
    def counted(self) -> tuple[Bar, ...]:
        """The bars with any response: what the table lists."""
        return tuple(bar for bar in self.bars if bar.total)


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


def chart(usage: UsageOut) -> Chart:
    """The chart of `usage`: a bar per bucket, its status classes stacked, 2xx at the bottom."""
    buckets: list[UsageBucket] = usage.data
    counted = [_counts(bucket) for bucket in buckets]
    top = round_maximum(max((sum(c.values()) for c in counted), default=0))
    slot = PLOT_WIDTH / max(len(buckets), 1)
    gap = slot * 0.15 if slot >= 4 else 0.0
    bars = []
    for index, (bucket, counts) in enumerate(zip(buckets, counted, strict=True)):
        base = float(TOP + PLOT_HEIGHT)
        segments = []
        for status in CLASSES:
            count = counts[status.name]
            if not count:
                continue
            height = count / top * PLOT_HEIGHT
            base -= height
            segments.append(Segment(status, count, round(base, 2), round(height, 2)))
        bars.append(
            Bar(
                start=bucket.start,
                label=bucket_label(bucket.start, usage.granularity),
                counts=counts,
                total=sum(counts.values()),
                x=round(LEFT + index * slot + gap / 2, 2),
                width=round(max(slot - gap, 0.5), 2),
                segments=tuple(segments),
            )
        )
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
        bars=tuple(bars),
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        totals=totals,
        total=sum(totals.values()),
        classes=CLASSES,
        unit=usage.granularity.value,
    )
