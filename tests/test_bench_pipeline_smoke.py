"""``benchmarks/bench_pipeline.py --quick`` keeps working: it runs end to end and reports every figure.

The numbers are not checked (they are tiny sizes on a shared machine); only that each part produced its
keys with positive values, that every message went all the way through, and that the upload was stored.
PostgreSQL is measured only when ``XGW_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gateway.config import REPO_ROOT

from .conftest import SHARED

INGEST_KEYS = (
    "validate_per_second",
    "intake_per_second",
    "workers_per_second",
    "ingest_per_second",
    "ratio",
    "intake_ratio",
    "workers_ratio",
    "settled_seconds",
)
UPLOAD_KEYS = (
    "sha256_seconds",
    "upload_seconds",
    "ratio",
    "server_rss_ready_mib",
    "server_peak_rss_mib",
    "trivial_post_seconds",
    "ratio_to_trivial_post",
)


def test_bench_pipeline_quick(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    env = {
        **os.environ,
        "XGW_SCHEMA_DIR": str(SHARED),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "TMPDIR": str(tmp_path),  # the benchmark's working directory lands in tmp_path
    }
    for name in ("XGW_DATA_DIR", "XGW_DATABASE_URL"):
        env.pop(name, None)
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "bench_pipeline.py"), "--quick", "--json", str(out)],
        check=True,
        env=env,
        capture_output=True,
        timeout=900,
    )
    results = json.loads(out.read_text())
    expected = {("sqlite", 1), ("sqlite", 2)}
    if os.environ.get("XGW_TEST_POSTGRES_URL"):
        expected |= {("postgresql", 1), ("postgresql", 2)}
    assert {(r["backend"], r["workers"]) for r in results["ingest"]} == expected
    for run in results["ingest"]:
        assert all(run[key] > 0 for key in INGEST_KEYS), run
        assert run["signed"] == run["messages"] // 2  # the 0501 offers; the 0503 packages travel unsigned
        assert run["states"]["out/rest/acknowledged"] == run["messages"], run["states"]
        assert sum(run["steps_per_worker"]) >= run["messages"]
        assert run["machine_allows_per_second"] > 0 and run["share_of_machine"] > 0  # issue 11
    limits = results["limits"]  # the machine's own limits, measured in the same run (benchmarks/limits.py)
    assert limits["rsa"]["sign_ms"] > 0 and limits["xsd"]["xsd_validate_ms"] > 0
    assert limits["fsync"]["fsync_4k_ms"] > 0 and limits["commit_sqlite"]["grouped_commit_ms"] > 0
    assert limits["post_http"]["per_s"] > 0
    upload = results["upload"]
    assert upload["state"] == "validated"
    assert upload["package_bytes"] > 0
    assert all(upload[key] > 0 for key in UPLOAD_KEYS), upload
