"""How a scan looks to a person at a terminal, and to a program reading `--json`."""

from __future__ import annotations

import json
import sys
import unicodedata
from typing import TextIO

from bot.scan import ScanReport
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


def render_table(report: ScanReport) -> str:
    lines = [
        terminal_line(f"{report.article.title}  ({report.source})"),
        f"{len(report.rows)} comments scored, {len(report.flagged)} flagged, {report.new_cases} new cases",
        "",
        f"{ROW}{'author':<{AUTHOR}}  {'comment':<{EXCERPT}}  {'top label':<16} {'score':>5}  flag",
        f"{ROW}{'-' * AUTHOR}  {'-' * EXCERPT}  {'-' * 16} {'-' * 5}  ----",
    ]
    for row in report.rows:
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


def to_json(report: ScanReport) -> str:
    return json.dumps(
        {
            "source": report.source,
            "article": {
                "id": report.article.external_id,
                "title": report.article.title,
                "url": report.article.url,
            },
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
                for r in report.rows
            ],
        },
        ensure_ascii=False,
        indent=2,
    )


class ProgressBar:
    """A one-line bar on stderr, only for long threads and only on a terminal (logs stay clean)."""

    def __init__(self, stream: TextIO = sys.stderr, minimum: int = 50, width: int = 30) -> None:
        self.stream, self.minimum, self.width = stream, minimum, width

    def __call__(self, done: int, total: int) -> None:
        if total < self.minimum or not self.stream.isatty():
            return
        filled = int(self.width * done / total)
        self.stream.write(f"\rscoring [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()
