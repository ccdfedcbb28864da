"""Shared pytest setup: the tiny models the test session makes for itself."""

pytest_plugins = ["tests.fixtures.plugin"]
