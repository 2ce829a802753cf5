"""The `commentwarden` CLI: the scan job on the embedded default, idempotency, and one-line errors.

These run the real product path: settings from the environment, the demo model built and loaded through
Detoxify, the thread-file source, the SQLite store.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main, sample_thread

pytestmark = pytest.mark.usefixtures("cli_logging")

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("demo-model")


@pytest.fixture
def cli_env(tmp_path, demo_dir, monkeypatch):
    """A clean environment: no .env of the developer's, a temporary database, the demo model."""
    for key in list(os.environ):
        if key.startswith(("DETOXIFY_", "THRESHOLD_", "DATABASE_", "DISCORD_")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "cw.db"))
    monkeypatch.setenv("DETOXIFY_MODEL", "demo")
    monkeypatch.setenv("DEMO_MODEL_DIR", str(demo_dir))
    return tmp_path


def rows(db: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_scan_embedded_default_prints_report_and_stores_scores(cli_env, capsys):
    assert main(["scan"]) == 0
    out = capsys.readouterr().out
    thread = json.loads(sample_thread().read_text())
    assert thread["article"]["title"] in out
    assert "FLAG" in out  # the sample thread has comments the demo model is trained to flag
    db = cli_env / "cw.db"
    assert rows(db, "SELECT COUNT(*) FROM comments WHERE scores IS NOT NULL")[0][0] == len(thread["comments"])
    assert rows(db, "SELECT COUNT(*) FROM cases WHERE action = 'flag' AND guild_id = 0")[0][0] >= 1


def test_scan_twice_adds_no_rows(cli_env, capsys):
    source = str(sample_thread())
    assert main(["scan", source]) == 0
    db = cli_env / "cw.db"
    before = rows(
        db,
        "SELECT (SELECT COUNT(*) FROM comments), (SELECT COUNT(*) FROM cases), "
        "(SELECT COUNT(*) FROM articles), (SELECT COUNT(*) FROM sources)",
    )
    assert main(["scan", source]) == 0
    after = rows(
        db,
        "SELECT (SELECT COUNT(*) FROM comments), (SELECT COUNT(*) FROM cases), "
        "(SELECT COUNT(*) FROM articles), (SELECT COUNT(*) FROM sources)",
    )
    assert before == after
    assert ", 0 new cases" in capsys.readouterr().out


def test_scan_json_is_machine_readable(cli_env, capsys):
    assert main(["scan", str(sample_thread()), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    flagged = [c for c in first["comments"] if c["flagged"]]
    assert flagged and all(c["crossed"] for c in flagged)
    assert first["new_cases"] == len(flagged)
    assert main(["scan", str(sample_thread()), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["new_cases"] == 0


def test_export_writes_the_scan_cases_as_csv(cli_env, capsys):
    assert main(["scan", str(sample_thread())]) == 0
    out = cli_env / "cases.csv"
    assert main(["db", "export", "--guild", "0", "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("case_number,")
    assert len(lines) - 1 == rows(cli_env / "cw.db", "SELECT COUNT(*) FROM cases")[0][0]


@pytest.mark.parametrize(
    ("env", "args", "needle"),
    [
        ({"POLL_INTERVAL_SECONDS": "soon"}, ["scan"], "POLL_INTERVAL_SECONDS"),
        ({"DETOXIFY_CHECKPOINT": "/nonexistent/toxic.ckpt"}, ["scan"], "DETOXIFY_CHECKPOINT"),
        ({}, ["scan", str(DATA / "thread-malformed.json")], "thread-malformed.json"),
        ({}, ["scan", "/nonexistent/thread.json"], "thread.json"),
        ({}, ["run"], "DISCORD_TOKEN"),
    ],
)
def test_user_errors_are_one_line_and_non_zero(cli_env, capsys, env, args, needle, monkeypatch):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_unreadable_checkpoint_file_is_one_clear_line(cli_env, capsys, monkeypatch):
    bogus = cli_env / "broken.ckpt"
    bogus.write_bytes(b"not a torch checkpoint")
    monkeypatch.setenv("DETOXIFY_CHECKPOINT", str(bogus))
    assert main(["scan"]) == 2
    err = capsys.readouterr().err.strip()
    assert "DETOXIFY_CHECKPOINT" in err or "broken.ckpt" in err
    assert len(err.splitlines()) == 1


def test_bad_env_file_value_from_python_m_bot(cli_env):
    (cli_env / ".env").write_text("THRESHOLD_INSULT=lots\n")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "scan"],
        cwd=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "commentwarden: THRESHOLD_INSULT='lots' is not valid: expected a number between 0 and 1"
    ]


@pytest.fixture
def wp_post(wordpress_site):
    """A post with 120 comments on the real WordPress (two REST pages), a few the demo model flags."""
    post = wordpress_site.create_post("Scan me", "<p>An article to scan.</p>")
    specs = [
        {"content": f"<p>Reader comment number {i}, thanks.</p>", "author": f"reader{i}"} for i in range(117)
    ]
    specs.append({"content": "<p>you are an <b>idiot</b></p>", "author": "rude", "parent_index": 3})
    specs.append({"content": "I will hurt you", "author": "menace"})
    specs.append({"content": "held for moderation", "author": "held", "approved": 0})
    wordpress_site.create_comments(post["id"], specs)
    return wordpress_site, post


@pytest.mark.wordpress
def test_scan_a_wordpress_post_url_scores_every_comment(cli_env, capsys, monkeypatch, wp_post):
    site, post = wp_post
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "true")  # the fixture site is on loopback
    assert main(["scan", f"{site.url}/?p={post['id']}", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["article"]["title"] == "Scan me"
    assert (
        len(report["comments"]) == 119
    )  # every approved comment, across both pages; the held one is not public
    assert all(c["top_label"] for c in report["comments"])
    flagged = {c["author"] for c in report["comments"] if c["flagged"]}
    assert flagged == {"rude", "menace"}
    rude = next(c for c in report["comments"] if c["author"] == "rude")
    assert rude["parent"] is not None


@pytest.mark.wordpress
def test_scan_a_comment_feed_url(cli_env, capsys, monkeypatch, wp_post):
    site, post = wp_post
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "true")
    assert main(["scan", f"{site.url}/?p={post['id']}&feed=rss2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # A feed is a window of the newest comments (WordPress serves 10 by default), each scored.
    assert 0 < len(report["comments"]) <= 119
    assert {"menace"} <= {c["author"] for c in report["comments"] if c["flagged"]}


def test_scan_refuses_a_loopback_url_unless_allowed(cli_env, capsys):
    assert main(["scan", "http://127.0.0.1:9/?p=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "loopback" in err and "ALLOW_PRIVATE_URLS" in err, err


def test_a_rescan_keeps_the_evidence_and_partial_coverage_is_marked(cli_env, capsys):
    first_json = None
    for _ in range(2):  # the second scan reads every score back from the database
        assert main(["scan", str(sample_thread()), "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        evidence = {c["id"]: c["evidence"] for c in report["comments"]}
        first_json = first_json or evidence
        assert evidence == first_json and any(evidence.values())
        assert all(c["coverage"] == 1.0 and not c["partial"] for c in report["comments"])

    huge = cli_env / "huge.json"
    huge.write_text(
        json.dumps(
            {
                "article": {
                    "id": "a9",
                    "title": "Long one",
                    "url": None,
                    "author": None,
                    "date": None,
                    "body": "",
                },
                "comments": [
                    {
                        "id": "c1",
                        "parent": None,
                        "author": "Verbose",
                        "text": "Quite a calm sentence here. " * 12000,
                    }
                ],
            }
        )
    )
    for _ in range(2):
        assert main(["scan", str(huge), "--json"]) == 0
        [row] = json.loads(capsys.readouterr().out)["comments"]
        assert row["partial"] and 0 < row["coverage"] < 1
    assert main(["scan", str(huge)]) == 0
    assert "partial" in capsys.readouterr().out
