"""How a scan looks to a person at a terminal, and to a program reading `--json`."""

from __future__ import annotations

import json
import sys
import time
import unicodedata
from typing import Any, TextIO

from tqdm import tqdm

from bot.scan import ScanReport, ScanRow
from bot.terminal import terminal_line

EXCERPT = 48
AUTHOR = 18
# Table rows are indented, so only a real flag starts a line with "FLAG" (an author may be called that).
ROW = "  "


def _columns(ch: str) -> int:
    """Terminal cells a character takes: CJK and emoji take two, combining marks none."""
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _clean(text: str, width: int) -> str:
    """One line, control characters gone, cut to `width` cells and padded to it, so columns line up."""
    flat = " ".join(terminal_line(text).split())
    if sum(map(_columns, flat)) > width:
        out, used = [], 0
        for ch in flat:
            if used + _columns(ch) > width - 1:
                break
            out.append(ch)
            used += _columns(ch)
        flat = "".join(out) + "…"
    return flat + " " * (width - sum(map(_columns, flat)))


def summary(report: ScanReport) -> str:
    """One line: what was scored now, what was already known, what was flagged, by which model."""
    return (
        f"{report.rescored} new or changed, {report.unchanged} unchanged, {len(report.flagged)} flagged, "
        f"{report.new_cases} new cases (model: {report.model})"
    )


def _shown(report: ScanReport, flagged_only: bool) -> list[ScanRow]:
    return report.flagged if flagged_only else report.rows


def render_table(report: ScanReport, *, flagged_only: bool = False) -> str:
    lines = [
        terminal_line(f"{report.article.title}  ({report.source})"),
        # The model name can come from a checkpoint's file name: as untrusted as any other text here.
        terminal_line(summary(report)),
        "",
        f"{ROW}{'author':<{AUTHOR}}  {'comment':<{EXCERPT}}  {'top label':<16} {'score':>5}  flag",
        f"{ROW}{'-' * AUTHOR}  {'-' * EXCERPT}  {'-' * 16} {'-' * 5}  ----",
    ]
    for row in _shown(report, flagged_only):
        label = row.score.top_label or "-"
        mark = ("FLAG" if row.verdict.flag else "") + (
            f" partial {row.score.coverage:.0%}" if row.score.partial else ""
        )
        lines.append(
            f"{ROW}{_clean(row.comment.author, AUTHOR)}  {_clean(row.comment.text, EXCERPT)}  "
            f"{label:<16} {row.score.top_score:>5.2f}  {mark}"
        )
    for row in report.flagged:
        lines.append("")
        lines.append(terminal_line(f"FLAG {row.comment.author}: {row.verdict.reason()}"))
        if row.score.evidence:
            lines.append(f'  because of: "{_clean(row.score.evidence, 100).rstrip()}"')
    return "\n".join(lines)


def to_json(report: ScanReport, *, flagged_only: bool = False) -> str:
    return json.dumps(
        {
            "source": report.source,
            "article": {
                "id": report.article.external_id,
                "title": report.article.title,
                "url": report.article.url,
            },
            "model": report.model,
            "new_or_changed": report.rescored,
            "unchanged": report.unchanged,
            "new_cases": report.new_cases,
            "comments": [
                {
                    "id": r.comment.external_id,
                    "parent": r.comment.parent_id,
                    "author": r.comment.author,
                    "scores": r.score.scores,
                    "top_label": r.score.top_label,
                    "top_score": r.score.top_score,
                    "evidence": r.score.evidence,
                    "flagged": r.verdict.flag,
                    "coverage": r.score.coverage,
                    "partial": r.score.partial,
                    "crossed": [
                        {"label": c.label, "score": c.score, "threshold": c.threshold}
                        for c in r.verdict.flagged
                    ],
                }
                for r in _shown(report, flagged_only)
            ],
        },
        ensure_ascii=False,
        indent=2,
    )


def loading_line(stream: TextIO = sys.stderr) -> None:
    """On a terminal, one line before the model loads (seconds the first time), so it never looks hung.

    Elsewhere (a pipe, a log file) stderr stays for errors alone; the loader logs what it loads instead.
    """
    if _is_terminal(stream):
        stream.write("loading the scoring model…\n")
        stream.flush()


class ProgressBar:
    """Scoring progress on stderr for long threads: a tqdm bar with rate and ETA on a terminal, and
    otherwise a plain line every tenth of the way, so a log file or CI output shows progress too."""

    FORMAT = "{desc}: {n_fmt}/{total_fmt} ({percentage:.0f}%), {rate_fmt}, ETA {remaining}"

    def __init__(self, stream: TextIO = sys.stderr, minimum: int = 50, steps: int = 10) -> None:
        self.stream, self.minimum, self.steps = stream, minimum, steps
        self._bar: Any = None
        self._start = 0.0
        self._next_line = 0

    def __call__(self, done: int, total: int) -> None:
        if total < self.minimum:
            return
        if self._bar is None and not self._start:
            self._start_bar(total)
        if self._bar is not None:
            self._bar.update(done - self._bar.n)
            if done >= total:
                self._bar.close()
        elif done >= self._next_line or done >= total:
            elapsed = time.monotonic() - self._start
            line = tqdm.format_meter(
                done, total, elapsed, unit="comment", prefix="scoring", bar_format=self.FORMAT
            )
            self.stream.write(line + "\n")
            self.stream.flush()
            self._next_line = done + max(1, total // self.steps)

    def _start_bar(self, total: int) -> None:
        self._start = time.monotonic()
        if _is_terminal(self.stream):
            self._bar = tqdm(
                total=total, file=self.stream, desc="scoring", unit="comment", dynamic_ncols=True
            )


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or exotic stream: treat as a file
        return False
