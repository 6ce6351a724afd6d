"""benchmarks/bench_server.py keeps working (its numbers are not checked: it runs with --quick sizes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gateway.config import REPO_ROOT


def test_bench_server_quick(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("XGW_")}
    env["TMPDIR"] = str(tmp_path)
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "bench_server.py"), "--quick", "--json", str(out)],
        check=True,
        env=env,
        capture_output=True,
        timeout=900,
    )
    results = json.loads(out.read_text())
    assert results["requests"]["guarded_rps_1conn"] > 0
    assert results["limits"]["post_http"]["per_s"] > 0  # the machine's limits, same run (issue 11)
    assert results["upload"]["guarded_mib_s"] > 0
    assert results["memory"]["header_connections"] == 2
    assert results["memory"]["guarded_headers_peak_growth_mib"] >= 0
