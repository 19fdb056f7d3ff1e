"""A real faas server for the tests: `node packages/server/src/main.ts serve` on a free port."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "sdks" / "python"))

ADMIN_KEY = "faas_test_admin_key_0123456789abcdef"


def _engine_skip_reason() -> str | None:
    try:
        subprocess.run(["docker", "info"], check=True, capture_output=True, timeout=10)
        return None
    except (OSError, subprocess.SubprocessError) as err:
        return f"docker info failed, so no Docker Engine runs containers here: {err}"


ENGINE_SKIP = _engine_skip_reason()
needs_engine = pytest.mark.skipif(ENGINE_SKIP is not None, reason=ENGINE_SKIP or "")


class Server:
    def __init__(self, url: str, data_dir: str) -> None:
        self.url = url
        self.data_dir = data_dir


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    node = os.environ.get("FAAS_TEST_NODE") or str(ROOT / "node_modules" / ".bin" / "node")
    data_dir = tempfile.mkdtemp(prefix="faas-pytest-")
    child = subprocess.Popen(
        [node, str(ROOT / "packages/server/src/main.ts"), "serve", "--port", "0", "--host", "127.0.0.1",
         "--data-dir", data_dir],
        env={**os.environ, "FAAS_ADMIN_KEY": ADMIN_KEY, "FAAS_LOG_LEVEL": "warn"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = None
    output: list[str] = []
    assert child.stdout is not None
    for line in child.stdout:
        output.append(line)
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            url = match.group(1)
            break
    if url is None:
        child.kill()
        raise RuntimeError("the server did not start:\n" + "".join(output))
    # Keep reading so that the server never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in child.stdout or []], daemon=True).start()
    try:
        yield Server(url, data_dir)
    finally:
        child.terminate()
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture()
def client(server: Server):
    from faas_sdk import FaaSClient

    return FaaSClient(server.url, ADMIN_KEY)
