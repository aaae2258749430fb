"""Fixtures for the end-to-end tests: the Agents Playground installed with npm (cached in
.cache/playground), and partnerbot and the Playground running as real processes on loopback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.playground import (
    IN_CI,
    Partnerbot,
    Playground,
    PlaygroundUnavailable,
    install_playground,
    node_tools,
    start_partnerbot,
    start_playground,
)


@pytest.fixture(scope="session")
def playground_cli() -> tuple[str, Path]:
    """node, and the pinned Playground's cli.js (installed on first use)."""
    try:
        node, npm = node_tools()
        return node, install_playground(npm)
    except PlaygroundUnavailable as error:
        if IN_CI:
            pytest.fail(f"{error}; CI must run the end-to-end test", pytrace=False)
        pytest.skip(str(error))


@pytest.fixture
def partnerbot(tmp_path: Path) -> Iterator[Partnerbot]:
    bot = start_partnerbot(sys.executable, tmp_path)
    try:
        yield bot
    finally:
        bot.service.stop()


@pytest.fixture
def playground(
    playground_cli: tuple[str, Path], partnerbot: Partnerbot, tmp_path: Path
) -> Iterator[Playground]:
    node, cli = playground_cli
    running = start_playground(node, cli, partnerbot.messages_url, tmp_path)
    try:
        yield running
    finally:
        running.service.stop()
