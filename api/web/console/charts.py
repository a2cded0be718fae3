"""Charts drawn on the server as inline SVG: geometry here, markup in the template.

No script and no external resource: the console's Content Security Policy
allows neither. A suppressed count (None) is drawn as an empty, labelled bar,
never as zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 640
HEIGHT = 220
MARGIN_LEFT = 48
MARGIN_BOTTOM = 36
MARGIN_TOP = 12


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str
    series: int
    suppressed: bool


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    """One bar chart: grouped bars per category, a y axis and a legend."""

    title: str
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    categories: tuple[tuple[float, str], ...]
    legend: tuple[str, ...]
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def baseline(self) -> float:
        return self.height - MARGIN_BOTTOM

    @property
    def empty(self) -> bool:
        return not self.bars


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[int | None]]],
) -> Chart:
    """Bars of each series (name, one value per category) grouped by category."""
    values = [v for _, vs in series for v in vs if v is not None]
    top = _nice_ceiling(max(values, default=0))
    plot_width = WIDTH - MARGIN_LEFT - 8
    plot_height = HEIGHT - MARGIN_BOTTOM - MARGIN_TOP
    slot = plot_width / max(len(categories), 1)
    bar_width = max(min(slot * 0.8 / max(len(series), 1), 40), 1)
    bars: list[Bar] = []
    for index, (name, data) in enumerate(series):
        for position, (category, value) in enumerate(zip(categories, data, strict=True)):
            x = MARGIN_LEFT + position * slot + slot * 0.1 + index * bar_width
            height = 0.0 if value is None or top == 0 else plot_height * value / top
            bars.append(
                Bar(
                    x=round(x, 1),
                    y=round(HEIGHT - MARGIN_BOTTOM - height, 1),
                    width=round(bar_width, 1),
                    height=round(height, 1),
                    label=f"{name}, {category}",
                    value="suppressed" if value is None else str(value),
                    series=index,
                    suppressed=value is None,
                )
            )
    ticks = tuple(
        Tick(round(HEIGHT - MARGIN_BOTTOM - plot_height * step / 4, 1), f"{top * step / 4:g}")
        for step in range(5)
    )
    every = max(1, len(categories) // 8)
    labels = tuple(
        (round(MARGIN_LEFT + position * slot + slot / 2, 1), category)
        for position, category in enumerate(categories)
        if position % every == 0
    )
    return Chart(title, tuple(bars), ticks, labels, tuple(name for name, _ in series))


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 4, 5 or 10 times a power of ten at or above `value` (4 at least)."""
    if value <= 4:
        return 4
    magnitude = 1
    while magnitude * 10 < value:
        magnitude *= 10
    for step in (1, 2, 4, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude
