"""Fixtures for the supervisor's tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from coalition.runtime.member import START_MEMBER_ENV


@pytest.fixture
def fake_member_env() -> dict[str, str]:
    """An environment in which ``coalition up`` runs `fake_member` instead of the committees.

    The member processes import it by name, so this directory goes on their PYTHONPATH.
    """
    here = str(Path(__file__).parent)
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
    return os.environ | {START_MEMBER_ENV: "fake_member:start_fake_member", "PYTHONPATH": path}
