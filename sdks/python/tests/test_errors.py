"""The SDK's code → status map is docs/errors.md's table (the server's own test checks that table)."""

from __future__ import annotations

import re

from conftest import ROOT

from faas_sdk.errors import ERROR_STATUS


def test_every_documented_code_has_its_status() -> None:
    table = (ROOT / "docs" / "errors.md").read_text()
    documented = {code: int(status) for code, status in re.findall(r"\|\s*`(FAAS_ERR_[A-Z_]+)`\s*\|\s*(\d+)\s*\|", table)}
    assert documented, "no codes found in docs/errors.md"
    assert ERROR_STATUS == documented
