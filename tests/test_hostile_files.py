"""Hostile and clumsy *input* (tests/data/hostile/files, feeds, env; huge cases generated here) through the
real entry points: `commentwarden scan`, feed mirroring with the real bot and the fake Discord, and the
settings loader. Every case ends as one line or a correct result: no traceback, no hang, no comment lost or
doubled, nothing written outside the program's own files.

Bounds the tests state: a refusal or a settings load must finish within REFUSAL_BOUND_S (measured: well
under a second each, the 200,000-attribute feed about 0.5 s); a case that is scanned loads the model first,
so it gets SCAN_BOUND_S. A case that overruns fails the test instead of hanging it (the call runs in a
daemon thread).
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.config import ConfigError, load_settings
from bot.sources.base import SourceError
from bot.sources.feed import MAX_FEED_ATTRIBUTES, MAX_FEED_TAGS, parse_feed
from bot.sources.threadfile import MAX_COMMENTS, MAX_FILE_BYTES, MAX_NUMBER_DIGITS

pytestmark = pytest.mark.usefixtures("cli_logging")

HOSTILE = Path(__file__).parent / "data" / "hostile"
FILES, FEEDS, ENVS = HOSTILE / "files", HOSTILE / "feeds", HOSTILE / "env"
REFUSAL_BOUND_S = 30.0
SCAN_BOUND_S = 300.0
# What a terminal would act on: C0 controls but the newline, DEL, C1 controls, bidi and zero-width controls.
TERMINAL_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def bounded(call: Callable[[], Any], bound: float) -> Any:
    """Run `call` in a daemon thread; fail (not hang) if it is still running after `bound` seconds."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(call())
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(bound)
    assert not worker.is_alive(), f"still running after its bound of {bound} s"
    if errors:
        raise errors[0]
    return result[0]


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, detoxify_checkpoint: Any) -> Path:
    """A clean CLI environment in its own working directory (the program's own place)."""
    for key in list(os.environ):
        if key.startswith(("DETOXIFY_", "THRESHOLD_", "DATABASE_", "DISCORD_", "ALLOW_")):
            monkeypatch.delenv(key)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("DATABASE_PATH", str(work / "cw.db"))
    for key, value in detoxify_checkpoint.env().items():
        monkeypatch.setenv(key, value)
    return work


def db_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@pytest.fixture(autouse=True)
def corpus_untouched() -> Iterator[None]:
    """Reading hostile input never writes to it."""
    before = tree_digest(HOSTILE)
    yield
    assert tree_digest(HOSTILE) == before


def assert_one_line(err: str, *needles: str) -> str:
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert not TERMINAL_CONTROL.search(lines[0]), ascii(lines[0])
    return lines[0]


# -- thread files through `commentwarden scan` ----------------------------------------------------------

REFUSED_FILES = {
    "date-year1-east.json": "out of the supported date range",
    "date-9999-west.json": "out of the supported date range",
    "date-article-overflow.json": "article.date is out of the supported date range",
    "date-year-zero.json": "not an ISO 8601 date",
    "date-offset-24h.json": "not an ISO 8601 date",
    "date-year-10000.json": "not an ISO 8601 date",
    "surrogate-id-collision.json": "repeats comments[0].id",
    "escape-in-key.json": "is not a known field",
    "id-float.json": "must be a string or an integer",
    "id-bool.json": "must be a string or an integer",
    "nan-literal.json": "not a known top-level field",
    "parent-self.json": "parent is the comment itself",
}


def generated_refusals(root: Path) -> dict[str, tuple[str, str]]:
    """Cases too big or too strange to store: name -> (path, what the one line must say)."""
    root.mkdir()
    cases: dict[str, tuple[str, str]] = {}

    def write(name: str, data: bytes | str, needle: str) -> None:
        path = root / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        cases[name] = (str(path), needle)

    depth = 200_000
    write("deep-arrays.json", "[" * depth + "]" * depth, "nested over")
    write("deep-objects.json", '{"a":' * depth + "1" + "}" * depth, "nested over")
    write(
        "deep-in-comments.json",
        '{"article":{"id":"a","title":"t"},"comments":' + "[" * depth + "]" * depth + "}",
        "nested over",
    )
    write(
        "id-5000-digits.json",
        '{"article":{"id":' + "7" * 5000 + ',"title":"t"},"comments":[]}',
        f"over the limit of {MAX_NUMBER_DIGITS} digits",
    )
    write(
        "negative-100000-digits.json",
        '{"article":{"id":"a","title":"t"},"comments":[],"n":-' + "1" * 100_000 + "}",
        f"over the limit of {MAX_NUMBER_DIGITS} digits",
    )
    write(
        "latin1.json", '{"article":{"id":"a","title":"Caf\xe9"},"comments":[]}'.encode("latin-1"), "not UTF-8"
    )
    comments = ",".join(f'{{"id":{i},"author":"a","text":"t"}}' for i in range(MAX_COMMENTS + 1))
    write(
        "too-many-comments.json",
        '{"article":{"id":"a","title":"t"},"comments":[' + comments + "]}",
        f"over the limit of {MAX_COMMENTS}",
    )
    big = root / "over-size.json"  # sparse: one byte past the cap costs no disk
    with big.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    cases["over-size.json"] = (str(big), f"over the {MAX_FILE_BYTES} byte limit")
    fifo = root / "fifo.json"
    os.mkfifo(fifo)  # no writer: a blocking open or read would wait forever
    cases["fifo"] = (str(fifo), "not a regular file")
    cases["/dev/zero"] = ("/dev/zero", "not a regular file")  # st_size 0, endless
    cases["/dev/urandom"] = ("/dev/urandom", "not a regular file")
    cases["directory"] = (str(root), "is a directory")
    loop = root / "loop.json"
    loop.symlink_to(loop)
    cases["symlink-loop"] = (str(loop), "cannot read")
    cases["missing"] = (str(root / "missing.json"), "no such file")
    return cases


def test_hostile_thread_files_are_refused_in_one_line_within_the_bound(
    cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = {name: (str(FILES / name), needle) for name, needle in REFUSED_FILES.items()}
    cases.update(generated_refusals(tmp_path / "generated"))
    capsys.readouterr()
    for name, (path, needle) in cases.items():
        code = bounded(lambda path=path: main(["scan", path]), REFUSAL_BOUND_S)
        captured = capsys.readouterr()
        assert code == 2, (name, captured.err)
        assert captured.out == "", name
        assert_one_line(captured.err, needle)
    assert sorted(p.name for p in cli_env.iterdir()) == []  # refused before the database was even opened


def scan_report(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    code = bounded(lambda: main(["scan", *args]), SCAN_BOUND_S)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Traceback" not in captured.err
    return captured.out


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("surrogates.json", {"c1", "id-\ufffd", "c3"}),
        ("terminal-escapes.json", {"c1", "c2", "c3"}),
        ("parent-cycle.json", {"c1", "c2"}),
        ("id-long-digits-ok.json", {"9" * 40}),
    ],
)
def test_readable_hostile_thread_files_are_scanned_whole_and_print_no_control_sequences(
    cli_env: Path, capsys: pytest.CaptureFixture[str], name: str, expected: set[str]
) -> None:
    report = scan_report([str(FILES / name)], capsys)
    assert not TERMINAL_CONTROL.search(report), ascii(report)
    db = cli_env / "cw.db"
    assert {
        r[0] for r in db_rows(db, "SELECT external_id FROM comments")
    } == expected  # none lost, none doubled
    assert db_rows(db, "SELECT COUNT(*) FROM comments WHERE scores IS NULL") == [(0,)]
    # The report's FLAG lines are the real flags: a newline in a name or text cannot paint another one.
    flags = [line for line in report.splitlines() if line.startswith("FLAG")]
    assert len(flags) == db_rows(db, "SELECT COUNT(*) FROM cases WHERE action = 'flag'")[0][0]
    as_json = json.loads(
        scan_report([str(FILES / name), "--json"], capsys)
    )  # the JSON keeps the text, escaped
    assert {c["id"] for c in as_json["comments"]} == expected
    # Only the program's own files appear: the database and its `.commentwarden` cache folder.
    assert sorted(p.name for p in cli_env.iterdir() if not p.name.startswith("cw.db")) in (
        [],
        [".commentwarden"],
    )


def test_terminal_escapes_cannot_forge_a_flag(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = scan_report([str(FILES / "terminal-escapes.json")], capsys)
    flags = [line for line in report.splitlines() if line.startswith("FLAG")]
    assert len(flags) == 1 and flags[0].startswith("FLAG FLAG admin: "), (
        flags
    )  # c1, the one with the toxic word
    assert report.splitlines()[0].startswith(
        "Report bold FLAG fake  ("
    )  # one line; the OSC window title is gone


def test_one_thread_file_is_one_source_however_it_is_named(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Relative, ./, absolute and a symlink: one source, one set of flag cases."""
    doc = json.loads((FILES / "terminal-escapes.json").read_text())
    (cli_env / "t.json").write_text(json.dumps(doc))
    (cli_env / "link.json").symlink_to(cli_env / "t.json")
    for spec in ("t.json", "./t.json", str(cli_env / "t.json"), "link.json", f"{cli_env}/../work/t.json"):
        scan_report([spec], capsys)
    db = cli_env / "cw.db"
    assert db_rows(db, "SELECT kind, url FROM sources") == [("file", str(cli_env.resolve() / "t.json"))]
    assert db_rows(db, "SELECT COUNT(*) FROM comments") == [(3,)]
    assert db_rows(db, "SELECT COUNT(*) FROM cases WHERE action = 'flag'") == [(1,)]


# -- feeds: parsed, scanned over loopback and mirrored --------------------------------------------------

ACCEPTED_FEEDS = {  # file -> the comment ids expected, in posting order where the feed dates them
    "utf16le-bom.xml": ["u1", "u2", "u3"],
    "utf16be-bom.xml": ["u1", "u2", "u3"],
    "utf32le-bom.xml": ["u1", "u2", "u3"],
    "dates-past-9999.xml": None,  # three comments, whatever order the undated ones take
    "atom-dates-past-9999.xml": None,
    "invalid-char-refs.xml": ["r1", "r2", "r3\ufffd"],
    "idless-duplicates.xml": None,
    "terminal-escapes.xml": ["t1"],
    "unknown-charset-header.xml": ["h1"],
}
FEED_COUNTS = {"dates-past-9999.xml": 3, "atom-dates-past-9999.xml": 2, "idless-duplicates.xml": 5}


def huge_feeds() -> dict[str, tuple[bytes, str]]:
    """Feeds built here (MB-sized): name -> (bytes, what the refusal names)."""
    head = b'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>'
    tail = b"<item><guid>x</guid><description>x</description></item></channel></rss>"
    attrs = b" ".join(b'a%d="x"' % i for i in range(200_000))
    bare = b" ".join(b"b%d" % i for i in range(200_000))
    quoted_gt = b" ".join(b'a%d="x>"' % i for i in range(200_000))  # `>` in values must not split the count
    elements = b"<x/>" * (MAX_FEED_TAGS + 1)
    bound = f"the bound is {MAX_FEED_ATTRIBUTES}"
    return {
        "attributes-200000": (head + b"<item " + attrs + b">" + tail[6:], bound),
        "bare-attributes-200000": (head + b"<item " + bare + b">" + tail[6:], bound),
        "quoted-gt-attributes": (head + b"<item " + quoted_gt + b">" + tail[6:], bound),
        "malformed-attributes": (
            head + b"<item " + attrs + b" & <<>" + tail,
            bound,
        ),  # not XML: no strict parse
        "elements": (head + elements + tail, f"over {MAX_FEED_TAGS} tags"),
    }


@pytest.mark.parametrize("name", sorted(ACCEPTED_FEEDS))
def test_readable_hostile_feeds_parse_whole(name: str) -> None:
    thread = bounded(
        lambda: parse_feed((FEEDS / name).read_bytes(), url="https://news.example/feed"), REFUSAL_BOUND_S
    )
    ids = [c.external_id for c in thread.comments]
    assert len(ids) == len(set(ids)), ids  # no comment doubled
    expected = ACCEPTED_FEEDS[name]
    assert ids == expected if expected is not None else len(ids) == FEED_COUNTS[name], ids
    for comment in thread.comments:
        comment.text.encode("utf-8")
        comment.author.encode("utf-8")
        comment.external_id.encode("utf-8")


def test_utf16_feed_keeps_its_text() -> None:
    thread = parse_feed((FEEDS / "utf16le-bom.xml").read_bytes(), url="https://news.example/feed")
    assert [c.author for c in thread.comments] == ["Zoë", "李", "Ann"]
    assert thread.comments[0].text == "Grüße aus Köln ✓"


def test_identical_idless_comments_are_kept_apart_and_keep_their_ids_as_the_feed_moves() -> None:
    body = (FEEDS / "idless-duplicates.xml").read_bytes()
    first = parse_feed(body, url="https://news.example/feed")
    plus = [c for c in first.comments if c.author == "Anonymous" and c.posted_at and c.posted_at.minute == 0]
    assert len(plus) == 3
    legacy = hashlib.sha256(f"Anonymous\x00{plus[0].posted_at}\x00+1".encode()).hexdigest()[:32]
    assert [c.external_id for c in plus] == [
        legacy,
        f"{legacy}-2",
        f"{legacy}-3",
    ]  # the first keeps the old id
    # A new comment arrives at the top of the feed (RSS lists newest first): every known id stays.
    newer = body.replace(
        b"<description>d</description>\n",
        b"<description>d</description>\n<item><title>By: Anonymous</title><dc:creator>Anonymous"
        b"</dc:creator><pubDate>Tue, 10 Mar 2026 09:00:00 +0000</pubDate><description>+1"
        b"</description></item>\n",
        1,
    )
    second = parse_feed(newer, url="https://news.example/feed")
    assert {c.external_id for c in first.comments} < {c.external_id for c in second.comments}
    assert len(second.comments) == len(first.comments) + 1


@pytest.mark.parametrize("name", sorted(huge_feeds()))
def test_structure_bombs_in_feeds_are_refused_quickly(name: str) -> None:
    body, needle = huge_feeds()[name]
    with pytest.raises(SourceError) as info:
        bounded(lambda: parse_feed(body, url="https://news.example/feed"), REFUSAL_BOUND_S)
    assert needle in info.value.reason and "\n" not in info.value.reason


class FeedServer:
    """The hostile feeds on a loopback HTTP server, each under /<name>/feed (with `Content-Type` as sent)."""

    def __init__(self, bodies: dict[str, tuple[bytes, str]]) -> None:
        bodies_ = bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                body, content_type = bodies_.get(self.path.split("/")[1], (b"", "text/plain"))
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def feed_bodies() -> dict[str, tuple[bytes, str]]:
    bodies = {path.stem: (path.read_bytes(), "application/rss+xml") for path in FEEDS.iterdir()}
    bodies["unknown-charset-header"] = (
        bodies["unknown-charset-header"][0],
        "application/rss+xml; charset=x-nope",
    )
    bodies.update({name: (body, "application/rss+xml") for name, (body, _) in huge_feeds().items()})
    return bodies


REFUSED_FEEDS = {
    "unknown-encoding": "unknown character encoding",
    "unknown-charset-header": "unknown character encoding",
    **{name: needle for name, (_, needle) in huge_feeds().items()},
}


def test_hostile_feeds_through_scan(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "true")  # the feeds are served on loopback
    with FeedServer(feed_bodies()) as base:
        for name, needle in REFUSED_FEEDS.items():
            capsys.readouterr()
            code = bounded(lambda name=name: main(["scan", f"{base}/{name}/feed"]), REFUSAL_BOUND_S)
            captured = capsys.readouterr()
            assert code == 2, (name, captured)
            assert_one_line(captured.err, needle)
        report = json.loads(scan_report([f"{base}/utf16le-bom/feed", "--json"], capsys))
        assert [c["author"] for c in report["comments"]] == ["Zoë", "李", "Ann"]
        report = json.loads(scan_report([f"{base}/idless-duplicates/feed", "--json"], capsys))
        assert len(report["comments"]) == 5
        again = json.loads(scan_report([f"{base}/idless-duplicates/feed", "--json"], capsys))
        assert again["new_cases"] == 0
    db = cli_env / "cw.db"
    assert db_rows(db, "SELECT COUNT(*) FROM comments") == [(8,)]  # 3 + 5, the rescan added none


# -- settings ---------------------------------------------------------------------------------------------

REFUSED_SETTINGS = {
    "timeout-inf.env": "HTTP_TIMEOUT_SECONDS",
    "poll-nan.env": "POLL_INTERVAL_SECONDS",
    "wait-minus-inf.env": "SCORING_BATCH_WAIT_MS",
    "torch-threads-huge.env": "TORCH_THREADS",
    "torch-threads-zero.env": "TORCH_THREADS",
    "batch-exponent.env": "SCORING_BATCH_SIZE",
    "response-5000-digits.env": "MAX_RESPONSE_BYTES",
    "threshold-nan.env": "THRESHOLD_INSULT",
    "binary.env": "not UTF-8 text",
    "escape-in-value.env": "LOG_LEVEL",
}
WARNED_SETTINGS = {
    "threshold-misspelt.env": ["THRESHOLD_TOXICTY ignored", "THRESHOLD_INSULTS ignored"],
    "unknown-keys.env": ["DATABSE_PATH in", "DISCORD_TOKNE in"],
}


@pytest.mark.parametrize("name", sorted(REFUSED_SETTINGS))
def test_hostile_settings_files_are_one_line_naming_the_key(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        bounded(lambda: load_settings(ENVS / name, environ={}, env_file_required=True), REFUSAL_BOUND_S)
    assert REFUSED_SETTINGS[name] in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("name", sorted(WARNED_SETTINGS))
def test_ignored_keys_warn_naming_the_key(name: str) -> None:
    settings = load_settings(ENVS / name, environ={}, env_file_required=True)
    assert len(settings.warnings) == len(WARNED_SETTINGS[name])
    for warning, needle in zip(settings.warnings, WARNED_SETTINGS[name], strict=True):
        assert warning.startswith(needle), warning


def test_settings_files_that_are_not_files(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.env"
    os.mkfifo(fifo)
    for path, needle in [
        (fifo, "not a regular file"),
        (tmp_path, "not a regular file"),
        (Path("/dev/zero"), "not a regular file"),
        (tmp_path / "missing.env", "does not exist"),
    ]:
        with pytest.raises(ConfigError) as info:
            bounded(
                lambda path=path: load_settings(path, environ={}, env_file_required=True), REFUSAL_BOUND_S
            )
        assert needle in str(info.value)
    assert load_settings(os.devnull, environ={}, env_file_required=True).warnings == ()


def test_cli_settings_errors_and_warnings_are_single_lines(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for args, needle in [
        (["--env-file", str(ENVS / "binary.env"), "db", "migrate"], "not UTF-8 text"),
        (["--env-file", str(cli_env / "nope.env"), "db", "migrate"], "does not exist"),
        (["--env-file", str(ENVS / "escape-in-value.env"), "db", "migrate"], "LOG_LEVEL"),
    ]:
        assert main(args) == 2
        assert_one_line(capsys.readouterr().err, needle)
    assert main(["--env-file", str(ENVS / "threshold-misspelt.env"), "db", "migrate"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "commentwarden: warning: THRESHOLD_TOXICTY ignored: 'toxicty' is not a label "
        "(did you mean THRESHOLD_TOXICITY?)",
        "commentwarden: warning: THRESHOLD_INSULTS ignored: 'insults' is not a label "
        "(did you mean THRESHOLD_INSULT?)",
    ]


# -- paths and output the operator gives ----------------------------------------------------------------


def test_database_and_output_paths_that_cannot_work_are_one_line(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (cli_env / "a-file").write_text("not a folder")
    assert main(["db", "migrate"]) == 0  # `db export` refuses a missing database before it looks at --output
    capsys.readouterr()
    for args, needle in [
        (["--db", str(cli_env / "a-file" / "cw.db"), "db", "migrate"], "cannot create the folder"),
        (["--db", "/proc/commentwarden/cw.db", "db", "migrate"], "cannot create the folder"),
        (["db", "export", "--output", str(cli_env)], "Is a directory"),
        (["db", "export", "--output", "/proc/commentwarden/out.csv"], "cannot write there"),
    ]:
        assert main(args) == 2, args
        assert_one_line(capsys.readouterr().err, needle)
    assert not (Path("/proc/commentwarden")).exists()


def test_scan_into_a_closed_pipe_exits_quietly(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`commentwarden scan | head`: the reader has gone when the report is printed."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    with open(write_end, "w", closefd=True) as closed_pipe:
        saved, sys.stdout = sys.stdout, closed_pipe
        try:
            code = bounded(lambda: main(["scan", str(FILES / "parent-cycle.json")]), SCAN_BOUND_S)
        finally:
            sys.stdout = saved
    assert code == 141
    assert "Traceback" not in capsys.readouterr().err


# -- feed mirroring: the real bot, the fake Discord, the feeds on loopback ---------------------------------

MIRRORED_FEEDS = {
    "utf16le-bom": 3,
    "utf16be-bom": 3,
    "utf32le-bom": 3,
    "dates-past-9999": 3,
    "atom-dates-past-9999": 2,
    "invalid-char-refs": 3,
    "idless-duplicates": 5,
}
MIRROR_REFUSED = {
    "unknown-encoding": "unknown character encoding",
    "attributes-200000": "the bound is",
    "elements": "tags",
}


async def test_hostile_feeds_mirrored_whole_or_refused_with_a_reason(
    fake_discord: Any, discord_world: Any, bot_runner: Any, tmp_path: Path, detoxify_checkpoint: Any
) -> None:
    from aiohttp import web

    from bot.config import Settings
    from tests.loopback import serving
    from tests.test_hostile_input import settled
    from tests.test_mirror_discord import make_bot, mirrored
    from tests.test_mirror_wordpress import wait_for

    w = discord_world
    bodies = feed_bodies()
    names = [*MIRRORED_FEEDS, *MIRROR_REFUSED]

    async def feed(request: web.Request) -> web.Response:
        body, content_type = bodies[request.match_info["name"]]
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/{name}/feed", feed)
    settings = Settings(
        database_path=tmp_path / "cw.db",
        allow_private_urls=True,
        poll_interval=3600,
        **detoxify_checkpoint.settings_kwargs(),
    )
    async with serving(app) as base, bot_runner(make_bot(settings), within=120) as bot:  # a loaded CI box
        for name in names:
            added = await fake_discord.invoke_slash(
                "mirror add",
                {"url": f"{base}/{name}/feed", "channel": w.general},
                user=w.moderator,
                channel=w.general,
            )
            assert "Mirroring source #" in added.followups[-1].content, (name, added.followups[-1].content)
        await wait_for(lambda: settled(bot, w.guild.id), within=SCAN_BOUND_S)
        rows = {r.url.split("/")[-2]: r for r in await bot.store.mirror.sources(w.guild.id)}
        for name, needle in MIRROR_REFUSED.items():
            assert rows[name].status == "failing" and needle in (rows[name].last_error or ""), rows[name]
            assert "\n" not in rows[name].last_error
        threads = {t.id: t for t in fake_discord.state.threads_of(w.general.id)}
        for name, count in MIRRORED_FEEDS.items():
            assert rows[name].status == "ok", (name, rows[name].last_error)
            article = await bot.store.db.fetchone(
                "SELECT id, thread_id FROM articles WHERE source_id = ?", (rows[name].id,)
            )
            stored = await bot.store.db.fetchall(
                "SELECT external_id FROM comments WHERE article_id = ?", (article["id"],)
            )
            assert len(stored) == count, (name, [r[0] for r in stored])
            await fake_discord.wait_until(
                lambda a=article, n=count: (
                    len({m[0] for m in mirrored(fake_discord, threads[a["thread_id"]])}) == n
                ),
                within=30,
            )
            shown = [m[0] for m in mirrored(fake_discord, threads[article["thread_id"]]) if m[1] == 1]
            assert sorted(shown) == sorted(r[0] for r in stored), name  # each comment once, none lost


# -- JSON from sites (WordPress REST) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
        (b'{"id": ' + b"9" * 5000 + b"}", "invalid JSON"),
        (b'{"id": 1', "invalid JSON"),
    ],
)
def test_site_json_bombs_are_one_line(body: bytes, needle: str) -> None:
    from multidict import CIMultiDict, CIMultiDictProxy

    from bot.net.http import FetchError, Response

    response = Response(
        url="https://blog.example/wp-json/wp/v2/comments",
        status=200,
        headers=CIMultiDictProxy(CIMultiDict()),
        body=body,
    )
    with pytest.raises(FetchError) as info:
        bounded(response.json, REFUSAL_BOUND_S)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_wordpress_dates_out_of_range_and_surrogates_keep_the_comment() -> None:
    from multidict import CIMultiDict, CIMultiDictProxy

    from bot.net.http import Response
    from bot.sources.wordpress import _comment_list, _comments

    body = (
        b'[{"id": 7, "author_name": "A\\ud800", "date_gmt": "0001-01-01T00:00:00+01:00",'
        b' "content": {"rendered": "<p>kept \\ud800</p>"}}]'
    )
    response = Response(
        url="https://blog.example/wp-json/wp/v2/comments",
        status=200,
        headers=CIMultiDictProxy(CIMultiDict()),
        body=body,
    )
    [comment] = _comments(_comment_list(response))
    assert comment.posted_at is None and comment.text == "kept \ufffd" and comment.author == "A\ufffd"
