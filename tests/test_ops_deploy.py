"""The systemd unit passes `systemd-analyze verify` with no complaint at all.

`verify` also checks that ExecStart's program exists and is executable; the unit names the documented
install path (/opt/commentwarden/.venv/bin/commentwarden), which a test machine does not have. The copy
verified here differs from the shipped file only in that path, pointed at this checkout's own installed
console script; every other line is checked as shipped. Warnings count as failures: `verify` exits 0 on a
misspelt value it merely ignores.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "commentwarden.service"
INSTALLED = "/opt/commentwarden/.venv/bin/commentwarden"

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed here (no systemd): the unit file was not verified",
)


def verify(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    unit = tmp_path / "commentwarden.service"
    unit.write_text(text)
    return subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )


def local_copy() -> str:
    text = UNIT.read_text()
    assert f"ExecStart={INSTALLED} run" in text
    console_script = Path(sys.executable).parent / "commentwarden"
    assert console_script.is_file(), "the package's console script is installed in this venv"
    return text.replace(INSTALLED, str(console_script))


def test_the_unit_verifies_cleanly(tmp_path: Path) -> None:
    result = verify(tmp_path, local_copy())
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_verify_would_catch_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: a misspelt restart policy is reported (and only ignored by systemd)."""
    result = verify(tmp_path, local_copy().replace("Restart=on-failure", "Restart=on-failur"))
    assert "on-failur" in result.stdout + result.stderr


def test_the_unit_restarts_on_failure_keeps_state_and_reads_an_environment_file() -> None:
    lines = UNIT.read_text().splitlines()
    assert "Restart=on-failure" in lines
    assert "StateDirectory=commentwarden" in lines
    assert "EnvironmentFile=/etc/commentwarden/commentwarden.env" in lines
    assert "Environment=DATABASE_PATH=%S/commentwarden/commentwarden.db" in lines
