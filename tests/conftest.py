"""Shared pytest configuration: each fixture family lives in its own module under tests/fixtures."""

pytest_plugins = [
    "tests.fixtures.checkpoint",
    "tests.fixtures.discord",
    "tests.fixtures.wordpress",
]
