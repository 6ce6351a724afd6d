"""The adapter benchmark keeps working (its numbers are not checked: it runs with --quick sizes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gateway.config import REPO_ROOT
from tests.conftest import SHARED


def test_bench_adapters_quick(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    env = {**os.environ, "XGW_SCHEMA_DIR": str(SHARED), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "bench_adapters.py"), "--quick", "--json", str(out)],
        check=True,
        env=env,
        capture_output=True,
        timeout=600,
    )
    runs = json.loads(out.read_text())["runs"]
    assert [r["target"] for r in runs] == ["local", "webdav", "cmis"]
    for r in runs:
        assert r["documents"] == 10 and r["documents_per_second"] > 0
        assert abs(r["dms_share"] + r["adapter_share"] - 1) < 0.01
