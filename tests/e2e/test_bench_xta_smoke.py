"""benchmarks/bench_xta.py keeps working (its numbers are not checked: it runs with --quick sizes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gateway.config import REPO_ROOT


def test_bench_xta_quick(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("XGW_")}
    env["TMPDIR"] = str(tmp_path)
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "bench_xta.py"), "--quick", "--json", str(out)],
        check=True,
        env=env,
        capture_output=True,
        timeout=900,
    )
    results = json.loads(out.read_text())
    assert results["roundtrip"]["calls"] == 20
    assert results["roundtrip"]["ratio"] > 0
    assert results["limits"]["post_tls"]["per_s"] > 0  # the machine's limits, same run (issue 11)
    assert results["transfer"]["package_bytes"] > 1 << 20
    assert results["transfer"]["peak_rss_mib_a"] > 0
    assert results["transfer"]["peak_rss_mib_b"] > 0
