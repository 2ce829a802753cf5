"""Shared pytest configuration: each fixture family lives in its own module under tests/fixtures."""

import logging
from collections.abc import Iterator

import pytest

pytest_plugins = [
    "tests.fixtures.botprocess",
    "tests.fixtures.checkpoint",
    "tests.fixtures.discord",
    "tests.fixtures.postgres",
    "tests.fixtures.wordpress",
]


@pytest.fixture
def cli_logging() -> Iterator[None]:
    """The CLI installs its own root handler (on the test's captured stderr): put pytest's back afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield
    root.handlers[:], root.level = saved
