"""The `/stats` chart: messages scored, flagged and actioned per day, and the mix of flagged labels.

Rendered with matplotlib's object API on the Agg canvas (no pyplot global state), so it is safe in a worker
thread; `render_stats_png` runs it there because drawing a figure takes long enough to stall the gateway.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


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


def render_stats(stats: Stats, title: str = "Moderation activity") -> bytes:
    fig = Figure(figsize=(9, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    per_day, mix = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})

    days = [d.day[5:] for d in stats.days]  # MM-DD keeps the axis readable
    x = range(len(days))
    width = 0.27
    per_day.bar(
        [i - width for i in x], [d.scored for d in stats.days], width, label="scored", color="#7f8c8d"
    )
    per_day.bar(list(x), [d.flagged for d in stats.days], width, label="flagged", color="#e67e22")
    per_day.bar(
        [i + width for i in x], [d.actioned for d in stats.days], width, label="actioned", color="#c0392b"
    )
    per_day.set_xticks(list(x), days, rotation=45, ha="right", fontsize=8)
    per_day.set_title("Per day (UTC)")
    per_day.legend(fontsize=8)

    if stats.labels:
        ordered = sorted(stats.labels.items(), key=lambda kv: kv[1])
        mix.barh([k for k, _ in ordered], [v for _, v in ordered], color="#e67e22")
        mix.tick_params(axis="y", labelsize=8)
    else:
        mix.text(0.5, 0.5, "no flags", ha="center", va="center")
        mix.set_xticks([])
        mix.set_yticks([])
    mix.set_title("Flagged labels")

    fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


async def render_stats_png(stats: Stats, title: str = "Moderation activity") -> bytes:
    return await asyncio.to_thread(render_stats, stats, title)
