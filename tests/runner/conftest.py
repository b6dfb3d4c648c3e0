from __future__ import annotations

from pathlib import Path

import pytest

from tests.git.conftest import Git


@pytest.fixture
def git(tmp_path: Path) -> Git:
    home = tmp_path / "home"
    home.mkdir()
    g = Git(home)
    g.run("config", "--global", "init.defaultBranch", "main")
    return g
