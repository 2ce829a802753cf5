"""`commentwarden run` as an operator meets it, in a process of its own against the fake Discord: a wrong
token, privileged intents not enabled in the portal, and Discord unreachable. Each is one line and no
traceback; the first two exit 2 (README: exit codes), the third keeps retrying and connects once Discord is
back. Bound: each run ends, or shows its retries, within BOUND_S (start-up loads the model)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from bot.connect import INTENTS_REFUSED, TOKEN_REFUSED
from tests.fakediscord import FakeDiscord
from tests.fakediscord.server import API_PREFIX

ROOT = Path(__file__).resolve().parent.parent
BOUND_S = 180  # model loading in a fresh process on a loaded 2-core CI box, not the input bound


def run_env(tmp_path: Path, checkpoint: Any, token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "DETOXIFY_", "THRESHOLD_"))}
    return {
        **env,
        "PYTHONPATH": str(ROOT),
        "DISCORD_TOKEN": token,
        "DATABASE_PATH": str(tmp_path / "cw.db"),
        "LOG_LEVEL": "WARNING",
        **checkpoint.env(),
    }


async def start_run(base: str, gateway: str, env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.runcli",
        base + API_PREFIX,
        gateway,
        "--env-file",
        os.devnull,
        "run",
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finished(proc: asyncio.subprocess.Process) -> tuple[int, list[str]]:
    _, err = await asyncio.wait_for(proc.communicate(), BOUND_S)
    assert proc.returncode is not None
    return proc.returncode, err.decode().splitlines()


def assert_one_line_error(lines: list[str], expected: str) -> None:
    assert "Traceback" not in "\n".join(lines), "\n".join(lines)
    errors = [line for line in lines if line.startswith("commentwarden: ")]
    assert errors == [f"commentwarden: {expected}"], "\n".join(lines)


async def test_wrong_token_is_one_line_naming_the_portal(tmp_path: Path, detoxify_checkpoint: Any) -> None:
    fake = FakeDiscord()
    await fake.start()
    try:
        env = run_env(tmp_path, detoxify_checkpoint, "not-the-" + fake.token)
        code, lines = await finished(await start_run(fake.base_url, fake.gateway_url, env, tmp_path))
    finally:
        await fake.stop()
    assert code == 2
    assert_one_line_error(lines, TOKEN_REFUSED)
    assert [(r.path, r.status) for r in fake.requests] == [
        ("/users/@me", 401)
    ]  # refused before anything else
    assert not (tmp_path / "cw.db").exists()  # nothing was set up for a bot that cannot log in


async def test_privileged_intents_refused_is_one_line_naming_the_portal(
    tmp_path: Path, detoxify_checkpoint: Any
) -> None:
    fake = FakeDiscord(privileged_intents=0)  # the portal's switches all off
    await fake.start()
    fake.create_default_world()
    try:
        env = run_env(tmp_path, detoxify_checkpoint, fake.token)
        code, lines = await finished(await start_run(fake.base_url, fake.gateway_url, env, tmp_path))
    finally:
        await fake.stop()
    assert code == 2
    assert_one_line_error(lines, INTENTS_REFUSED)
    assert not fake.gateway.live_sessions


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_discord_is_retried_one_line_per_attempt_until_it_answers(
    tmp_path: Path, detoxify_checkpoint: Any
) -> None:
    port = free_port()
    base, gateway = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws"
    fake = FakeDiscord()
    proc = await start_run(base, gateway, run_env(tmp_path, detoxify_checkpoint, fake.token), tmp_path)
    assert proc.stderr is not None
    retries: list[str] = []
    try:
        while len(retries) < 2:  # two failed attempts: the first retry waits 2 s, the second 2-4 s
            line = (await asyncio.wait_for(proc.stderr.readline(), BOUND_S)).decode()
            assert line, f"run exited ({await proc.wait()}) instead of retrying: {retries}"
            assert "Traceback" not in line and not line.startswith(" "), line
            if "cannot reach Discord" in line:
                retries.append(line.strip())
        assert retries[0].endswith("(attempt 1)") and retries[1].endswith("(attempt 2)"), retries
        await fake.start(port=port)  # Discord is back: the next attempt logs in and connects
        fake.create_default_world()
        deadline = asyncio.get_running_loop().time() + BOUND_S
        while not fake.gateway.live_sessions:
            assert proc.returncode is None and asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.1)
        assert ("/users/@me", 200) in [(r.path, r.status) for r in fake.requests]
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        rest = (await asyncio.wait_for(proc.communicate(), BOUND_S))[1].decode()
        await fake.stop()
    assert "Traceback" not in rest, rest
