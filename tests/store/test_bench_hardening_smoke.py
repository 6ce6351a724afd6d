"""``benchmarks/bench_hardening.py`` keeps working (its numbers are not checked: it runs with --quick)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_hardening.py"


def test_bench_hardening_quick(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(out)], check=True, capture_output=True, timeout=600
    )
    results = json.loads(out.read_text())
    assert results["visibility"]["sqlite"]["recipient_ratio"] > 0
    assert results["stage"]["ratio"] > 0 and results["cleanup"]["ratio"] > 0 and results["spool"]["ratio"] > 0
