"""Bar charts drawn on the server as SVG: no script, no CDN, readable by a screen reader.

:func:`bar_chart` lays the bars out (pure arithmetic, tested without a browser); the template
``admin/loyalty/dashboard/bar_chart.html`` draws them, with a ``<title>`` and ``<desc>`` for
assistive technology, a ``<title>`` per bar (hover shows the exact figure) and the same
figures as a table underneath.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.utils.formats import number_format


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int
    value: int
    label: str


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class GroupLabel:
    x: float
    label: str
    sublabel: str = ""  # a second line, e.g. the year under January


@dataclass(frozen=True)
class LegendEntry:
    x: float
    series: int
    label: str


@dataclass(frozen=True)
class BarChart:
    """A laid-out chart in SVG user units (``viewBox="0 0 width height"``)."""

    slug: str
    title: str
    description: str
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    series: list[str]
    groups: list[str]
    values: list[list[int]]  # values[group][series]
    bars: list[Bar]
    ticks: list[Tick]
    group_labels: list[GroupLabel]
    legend: list[LegendEntry]

    @property
    def rows(self) -> list[tuple[str, list[int]]]:
        """The figures as table rows: (group, one value per series)."""
        return list(zip(self.groups, self.values, strict=True))


def nice_step(largest: int, ticks: int = 4) -> int:
    """A round gridline step (1, 2 or 5 times a power of ten) giving about ``ticks`` lines."""
    if largest <= 0:
        return 1
    rough = largest / ticks
    power = 10 ** math.floor(math.log10(rough))
    for multiple in (1, 2, 5, 10):
        if multiple * power >= rough:
            return max(1, int(multiple * power))
    return max(1, int(10 * power))  # pragma: no cover (the loop always returns)


def bar_chart(
    *, slug: str, title: str, description: str, groups: list[str], series: list[str],
    values: list[list[int]], unit: str, width: int = 720, height: int = 300, max_bar_width: float = 40,
    axis_labels: list[tuple[str, str]] | None = None,
) -> BarChart:
    """Grouped vertical bars: one group per entry of ``groups``, one bar per series in it.

    ``axis_labels`` are shorter (line, second line) pairs for under the bars when the group
    names are too long to fit; the table and each bar's title keep the full group name.
    Negative values are drawn as zero (the charts here show amounts, never balances).
    """
    axis = axis_labels or [(group, "") for group in groups]
    largest = max((max(row, default=0) for row in values), default=0)
    step = nice_step(largest)
    top_value = max(step, math.ceil(largest / step) * step)
    tick_labels = [(value, number_format(value, force_grouping=True)) for value in range(0, top_value + 1, step)]
    # Room on the left for the longest gridline label (about 7 units per character at 12px).
    left = 14.0 + 7.0 * max(len(label) for _, label in tick_labels)
    right, top, legend_height, bottom_labels = width - 12.0, 12.0, 28.0, 38.0
    bottom = height - bottom_labels - legend_height
    scale = (bottom - top) / top_value
    ticks = [Tick(y=bottom - value * scale, label=label) for value, label in tick_labels]
    group_width = (right - left) / max(len(groups), 1)
    bar_width = min(group_width * 0.8 / max(len(series), 1), max_bar_width)
    bars, labels = [], []
    for index, (group, row) in enumerate(zip(groups, values, strict=True)):
        group_left = left + index * group_width + (group_width - bar_width * len(row)) / 2
        labels.append(GroupLabel(x=left + (index + 0.5) * group_width, label=axis[index][0], sublabel=axis[index][1]))
        for position, value in enumerate(row):
            height_ = max(value, 0) * scale
            bars.append(Bar(
                x=group_left + position * bar_width, y=bottom - height_, width=max(bar_width - 1, 1),
                height=height_, series=position, value=value,
                label=f"{group} · {series[position]}: {number_format(value, force_grouping=True)} {unit}",
            ))
    legend_step = (right - left) / max(len(series), 1)
    legend = [LegendEntry(x=left + i * min(legend_step, 180), series=i, label=name) for i, name in enumerate(series)]
    return BarChart(
        slug=slug, title=title, description=description, width=width, height=height,
        plot_left=left, plot_right=right, plot_top=top, plot_bottom=bottom,
        series=series, groups=groups, values=values, bars=bars, ticks=ticks, group_labels=labels, legend=legend,
    )
