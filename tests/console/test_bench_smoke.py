"""benchmarks/bench_console.py keeps working (quick size; its numbers are not checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gateway.config import REPO_ROOT


def test_bench_console_quick(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    script = REPO_ROOT / "benchmarks" / "bench_console.py"
    subprocess.run(
        [sys.executable, str(script), "--quick", "--json", str(out)], check=True, capture_output=True, timeout=600
    )
    results = json.loads(out.read_text())
    assert results["messages"] == 2000
    for name in ("dashboard", "search", "search_deep"):
        assert results["sqlite"][name]["ratio_to_count"] > 0


def test_bench_console_auth_quick(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    script = REPO_ROOT / "benchmarks" / "bench_console_auth.py"
    subprocess.run(
        [sys.executable, str(script), "--quick", "--json", str(out)], check=True, capture_output=True, timeout=600
    )
    results = json.loads(out.read_text())
    for name in ("page_view_ratio_to_trivial", "sign_in_ratio_to_trivial", "session_check_share_of_page_view"):
        assert results["sqlite"][name] > 0
    assert results["sqlite"]["refuse_300mib_multipart_ms"] > 0
