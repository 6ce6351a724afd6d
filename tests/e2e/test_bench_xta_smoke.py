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
    roundtrip = results["roundtrip"]
    assert roundtrip["calls_per_round"] == 10
    for phase in ("worker", "no_worker"):
        assert roundtrip[phase]["raw_per_s"] > 0 and roundtrip[phase]["client_per_s"] > 0
        assert roundtrip[phase]["raw_ratio"] > 0 and roundtrip[phase]["client_ratio_to_floor"] > 0
    assert roundtrip["limits"]["fsync_ms"] > 0 and roundtrip["limits"]["commit_ms"] > 0
    assert results["limits"]["post_tls"]["per_s"] > 0  # the machine's limits, same run (issue 11)
    assert results["transfer"]["package_bytes"] > 1 << 20
    assert results["transfer"]["peak_rss_mib_a"] > 0
    assert results["transfer"]["peak_rss_mib_b"] > 0
