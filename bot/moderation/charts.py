"""The `/stats` chart: messages scored, flagged and actioned per day, and the mix of flagged labels.

Readable at any volume: flags and actions are a small fraction of what is scored (a few in thousands), so
they get a panel and a y-axis of their own instead of sharing one with the volume, where they would be a
pixel high. Date ticks are thinned to a handful whatever the number of days, and the colours are chosen for
Discord's dark theme, where the chart is seen.

Rendered with matplotlib's object API on the Agg canvas (no pyplot global state), so it is safe in a worker
thread; `render_stats_png` runs it there because drawing a figure takes long enough to stall the gateway.
"""

from __future__ import annotations

import asyncio
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

SIZE = (1000, 560)  # pixels
DPI = 100
MAX_DATE_TICKS = 8

# Discord's dark theme: the chat background, its text and divider colours, and bright series on them.
BACKGROUND = "#313338"
PANEL = "#2B2D31"
TEXT = "#DBDEE1"
GRID = "#4E5058"
SCORED = "#5865F2"  # blurple
FLAGGED = "#FEE75C"  # yellow
ACTIONED = "#ED4245"  # red


@dataclass(frozen=True)
class DayCounts:
    day: str  # YYYY-MM-DD
    scored: int = 0
    flagged: int = 0
    actioned: int = 0


@dataclass(frozen=True)
class Stats:
    days: Sequence[DayCounts]
    labels: Mapping[str, int] = field(default_factory=dict)  # flagged label -> count
    top_places: Sequence[tuple[str, int]] = ()  # channel/article -> flags, for the text beside the chart


def tick_positions(count: int, most: int = MAX_DATE_TICKS) -> list[int]:
    """At most `most` evenly spaced day indexes, always the last day (today) among them."""
    if count <= 0:
        return []
    step = max(1, math.ceil(count / most))
    return sorted({*range(count - 1, -1, -step)})


def _style(ax: Axes, title: str) -> None:
    ax.set_facecolor(PANEL)
    ax.set_title(title, color=TEXT, fontsize=10, loc="left")
    ax.tick_params(colors=TEXT, labelsize=8)
    for spine in ax.spines.values():
        spine.set_color(GRID)
    ax.grid(axis="y", color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)


def build_figure(stats: Stats, title: str = "Moderation activity") -> Figure:
    """The chart as a matplotlib figure (the PNG is this, saved); tests inspect its parts."""
    fig = Figure(figsize=(SIZE[0] / DPI, SIZE[1] / DPI), dpi=DPI, facecolor=BACKGROUND)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, 2, width_ratios=[2.4, 1], height_ratios=[1, 1])
    volume = fig.add_subplot(grid[0, 0])
    enforcement = fig.add_subplot(grid[1, 0], sharex=volume)
    mix = fig.add_subplot(grid[:, 1])

    x = list(range(len(stats.days)))
    volume.bar(x, [d.scored for d in stats.days], 0.8, color=SCORED, label="scored")
    _style(volume, "Messages scored per day (UTC)")
    width = 0.4
    enforcement.bar(
        [i - width / 2 for i in x], [d.flagged for d in stats.days], width, color=FLAGGED, label="flagged"
    )
    enforcement.bar(
        [i + width / 2 for i in x], [d.actioned for d in stats.days], width, color=ACTIONED, label="actioned"
    )
    _style(enforcement, "Flagged and actioned per day (own scale)")
    for ax in (volume, enforcement):
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        ax.set_ylim(bottom=0)
    # Above the panel, beside its title: inside it would cover the first days' bars.
    legend = enforcement.legend(
        fontsize=8,
        facecolor=PANEL,
        edgecolor=GRID,
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncol=2,
        borderaxespad=0.2,
    )
    for text in legend.get_texts():
        text.set_color(TEXT)
    ticks = tick_positions(len(stats.days))
    enforcement.set_xticks(ticks, [stats.days[i].day[5:] for i in ticks])  # MM-DD
    volume.tick_params(labelbottom=False)
    if x:
        volume.set_xlim(-0.6, len(x) - 0.4)

    _style(mix, "Flagged labels")
    if stats.labels:
        ordered = sorted(stats.labels.items(), key=lambda kv: kv[1])
        mix.barh([k for k, _ in ordered], [v for _, v in ordered], color=FLAGGED)
        mix.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        mix.grid(axis="x", color=GRID, linewidth=0.6)
        mix.grid(axis="y", visible=False)
    else:
        mix.text(0.5, 0.5, "no flags", ha="center", va="center", color=TEXT, transform=mix.transAxes)
        mix.set_xticks([])
        mix.set_yticks([])

    fig.suptitle(title, color=TEXT)
    fig.tight_layout()
    return fig


def render_stats(stats: Stats, title: str = "Moderation activity") -> bytes:
    buffer = io.BytesIO()
    build_figure(stats, title).savefig(buffer, format="png", facecolor=BACKGROUND)
    return buffer.getvalue()


async def render_stats_png(stats: Stats, title: str = "Moderation activity") -> bytes:
    return await asyncio.to_thread(render_stats, stats, title)
