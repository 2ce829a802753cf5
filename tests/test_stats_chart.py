"""`/stats` reads at any volume: the chart for 7, 30 and 90 days at 50 and 5,000 messages a day, checked for
what a reader needs (flags visible, dates legible, colours for Discord's dark theme), not only decoded."""

from __future__ import annotations

import io
from datetime import date, timedelta
from itertools import combinations

import PIL.Image
import pytest
from matplotlib.colors import to_rgb

from bot.moderation.charts import (
    BACKGROUND,
    FLAGGED,
    MAX_DATE_TICKS,
    SIZE,
    DayCounts,
    Stats,
    build_figure,
    render_stats,
    tick_positions,
)


def volume(days: int, per_day: int) -> Stats:
    """A plausible guild: volume varying ±20% by day, ~1.5% flagged, a third of the flags acted on."""
    start = date(2026, 1, 1)
    counts = []
    for i in range(days):
        scored = int(per_day * (0.8 + 0.4 * ((i * 37) % 10) / 10))
        flagged = max(1, int(scored * (0.01 + 0.01 * ((i * 13) % 7) / 7)))
        counts.append(DayCounts((start + timedelta(days=i)).isoformat(), scored, flagged, flagged // 3))
    total = sum(c.flagged for c in counts)
    return Stats(
        counts, {"toxicity": total // 2, "insult": total // 3, "threat": total - total // 2 - total // 3}
    )


def _colour_pixels(image: PIL.Image.Image, colour: str, tolerance: int = 12) -> int:
    want = tuple(round(c * 255) for c in to_rgb(colour))
    return sum(
        n
        for n, px in image.getcolors(SIZE[0] * SIZE[1])
        if all(abs(a - b) <= tolerance for a, b in zip(px[:3], want, strict=True))
    )


@pytest.mark.parametrize("days", [7, 30, 90])
@pytest.mark.parametrize("per_day", [50, 5000])
def test_stats_chart_is_readable_at_every_volume(days: int, per_day: int) -> None:
    stats = volume(days, per_day)
    fig = build_figure(stats, f"{days} days at {per_day}/day")
    renderer = fig.canvas.get_renderer()
    fig.canvas.draw()
    _, enforcement, _ = fig.axes

    # The flagged series spans a visible height: its tallest bar fills most of its own panel, whatever the volume.
    panel = enforcement.get_window_extent(renderer)
    flagged_bars = [p for p in enforcement.patches if p.get_facecolor()[:3] == pytest.approx(to_rgb(FLAGGED))]
    assert len(flagged_bars) == days
    tallest = max(bar.get_window_extent(renderer).height for bar in flagged_bars)
    assert tallest >= 0.5 * panel.height

    # Date labels: a handful, none overlapping another, the last one today.
    labels = [t for t in enforcement.get_xticklabels() if t.get_text()]
    assert 2 <= len(labels) <= MAX_DATE_TICKS or days < 2
    boxes = [t.get_window_extent(renderer) for t in labels]
    assert not any(a.overlaps(b) for a, b in combinations(boxes, 2))
    assert labels[-1].get_text() == stats.days[-1].day[5:]

    # The PNG: the dark background Discord shows it on, and the flagged colour really drawn.
    image = PIL.Image.open(io.BytesIO(render_stats(stats))).convert("RGB")
    assert image.size == SIZE
    assert image.getpixel((2, 2)) == tuple(round(c * 255) for c in to_rgb(BACKGROUND))
    assert _colour_pixels(image, FLAGGED) > 1500


def test_tick_positions_are_thinned_and_end_today() -> None:
    assert tick_positions(7) == list(range(7))
    assert len(tick_positions(90)) <= MAX_DATE_TICKS and tick_positions(90)[-1] == 89
    assert tick_positions(0) == []
