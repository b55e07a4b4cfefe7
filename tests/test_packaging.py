"""What an installed copy ships: every file the packages read at run time or their model cards name."""

from __future__ import annotations

import glob
import subprocess
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _shipped(package: str) -> set[str]:
    """The package's files that ``[tool.setuptools.package-data]`` matches (setuptools' glob rules)."""
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][package]
    return {found for pattern in patterns for found in glob.glob(pattern, root_dir=REPO / package, recursive=True)
            if (REPO / package / found).is_file()}


def _tracked(folder: str) -> set[str]:
    listed = subprocess.run(["git", "ls-files", folder], cwd=REPO, capture_output=True, text=True, check=True)
    return {line.removeprefix("pipeline/") for line in listed.stdout.splitlines()}


def test_every_model_asset_ships_however_deep():
    tracked = _tracked("pipeline/assets")
    assert "assets/default_model/training/from-2.0.0/config.json" in tracked
    assert tracked - _shipped("pipeline") == set()
