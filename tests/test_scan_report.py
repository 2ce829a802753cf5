"""What `scan` tells a person: new or changed vs unchanged, flagged only, progress with rate and ETA.

The scans run the real CLI with the lite model (real scores, no download) on thread files.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest

from bot.cli import main
from bot.report import ProgressBar, loading_line
from bot.scoring import loader

DATA = Path(__file__).resolve().parent / "data"


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as stderr is when a person runs the scan."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def scan_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith(("DETOXIFY_", "THRESHOLD_", "DATABASE_", "DISCORD_")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DETOXIFY_MODEL", "lite")
    monkeypatch.setattr(loader, "_cache", {})
    return tmp_path


@pytest.mark.usefixtures("cli_logging")
def test_the_summary_counts_new_or_changed_and_unchanged_comments(
    scan_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    thread = json.loads((DATA / "thread-basic.json").read_text())
    path = scan_env / "thread.json"
    path.write_text(json.dumps(thread))
    total = len(thread["comments"])
    assert main(["scan", str(path)]) == 0
    assert f"{total} new or changed, 0 unchanged" in capsys.readouterr().out
    thread["comments"][0]["text"] = "Edited: you are a complete moron."
    path.write_text(json.dumps(thread))
    assert main(["scan", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["new_or_changed"], report["unchanged"]) == (1, total - 1)
    assert report["model"] == "lite-profanity"
    assert main(["scan", str(path), "--json", "--flagged-only"]) == 0
    flagged = json.loads(capsys.readouterr().out)["comments"]
    assert [c["id"] for c in flagged] == [thread["comments"][0]["id"]] and flagged[0]["flagged"]


def test_progress_off_a_terminal_is_a_line_every_tenth_with_rate_and_eta() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream, minimum=50)
    for done in range(64, 641, 64):
        bar(done, 640)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10 and "\r" not in stream.getvalue()
    assert re.fullmatch(r"scoring: 64/640 \(10%\), .+comment/s, ETA .+", lines[0]), lines[0]
    assert lines[-1].startswith("scoring: 640/640 (100%)")


def test_progress_on_a_terminal_is_a_tqdm_bar_and_short_threads_show_none() -> None:
    terminal = Terminal()
    bar = ProgressBar(terminal, minimum=50)
    for done in (100, 200, 300):
        bar(done, 300)
    shown = terminal.getvalue()
    assert "300/300" in shown and "comment/s" in shown and "\r" in shown
    quiet = Terminal()
    ProgressBar(quiet, minimum=50)(10, 10)
    assert quiet.getvalue() == ""


def test_the_loading_line_shows_on_a_terminal_only() -> None:
    terminal, pipe = Terminal(), io.StringIO()
    loading_line(terminal)
    loading_line(pipe)
    assert terminal.getvalue() == "loading the scoring model…\n" and pipe.getvalue() == ""
