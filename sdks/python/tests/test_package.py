"""The package installs with pip (offline, from this folder) and works from where it was installed."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ADMIN_KEY, ROOT, Server

HAS_PIP = all(importlib.util.find_spec(m) is not None for m in ("pip", "setuptools", "wheel"))


@pytest.mark.skipif(not HAS_PIP, reason="pip, setuptools or wheel is missing (Debian: python3-pip python3-setuptools python3-wheel)")
def test_pip_installs_it(tmp_path: Path, server: Server) -> None:
    target = tmp_path / "site"
    # pip builds in the source folder (build/, *.egg-info): a copy keeps the repository clean.
    source = tmp_path / "source"
    shutil.copytree(ROOT / "sdks" / "python", source, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-build-isolation",
         "--target", str(target), str(source)],
        check=True,
        cwd=tmp_path,
    )
    assert (target / "faas_sdk" / "py.typed").exists()
    script = (
        "import faas_sdk, sys; "
        "assert faas_sdk.__file__.startswith(sys.argv[1]), faas_sdk.__file__; "
        "print(faas_sdk.FaaSClient(sys.argv[2], sys.argv[3]).health()['status'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(target), server.url, ADMIN_KEY],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(target)},
    )
    assert out.stdout.strip() == "ok"
