"""benchmarks/bench_dashboard_scale.py keeps working (quick sizes; SQLite, and PostgreSQL when set)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gateway.config import REPO_ROOT


def test_bench_dashboard_scale_quick(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    script = REPO_ROOT / "benchmarks" / "bench_dashboard_scale.py"
    subprocess.run(
        [sys.executable, str(script), "--quick", "--json", str(out)],
        check=True,
        capture_output=True,
        timeout=900,
        env=dict(os.environ),
    )
    results = json.loads(out.read_text())
    assert (results["small"], results["large"]) == (500, 5000)
    backends = ["sqlite"] + (["postgresql"] if os.environ.get("XGW_TEST_POSTGRES_URL") else [])
    for backend in backends:
        run = results[backend]
        assert run["large"]["events"] > run["small"]["events"] > 500
        for name in ("dashboard", "charts", "search"):
            assert run["ratio_large_to_small"][name] > 0
