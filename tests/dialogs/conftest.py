"""Fixtures shared by the dialog tests."""

from __future__ import annotations

import pytest

from tests.dialogs.conversation import FrozenClock


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()
