"""The benchmark scripts keep working (their numbers are not checked: they run with --quick sizes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gateway.config import REPO_ROOT

from .conftest import SHARED


def test_bench_validate_quick(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    env = {**os.environ, "XGW_SCHEMA_DIR": str(SHARED), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "bench_validate.py"), "--quick", "--json", str(out)],
        check=True,
        env=env,
        capture_output=True,
        timeout=600,
    )
    results = json.loads(out.read_text())
    assert {r["version"] for r in results["tree"]} == {"2.3.0", "2.4.0", "3.0.0", "3.1.0", "4.0.0"}
    assert all(r["ratio"] > 0 for r in results["tree"])
    assert results["directory"]["messages"] == 40
    assert results["package"]["ratio"] > 0
    assert results["package"]["peak_rss_mib"] > 0
    signing = results["signing"]  # beside one raw RSA operation (issue 11)
    assert signing["sign_ratio"] > 0 and signing["verify_ratio"] > 0
    assert results["limits"]["xsd"]["xsd_validate_ms"] > 0 and results["limits"]["rsa"]["sign_ms"] > 0


def test_limits_quick(tmp_path: Path) -> None:
    """The shared limits module measures every limit (issue 11); the figures are positive, not checked."""
    env = {**os.environ, "XGW_SCHEMA_DIR": str(SHARED), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "limits.py"), "--quick"],
        check=True,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    limits = json.loads(proc.stdout)
    assert limits["xsd"]["xsd_validate_ms"] > 0
    assert limits["rsa"]["sign_ms"] > 0 and limits["rsa"]["verify_ms"] > 0
    assert limits["fsync"]["fsync_4k_ms"] > 0
    assert limits["commit_sqlite"]["grouped_commit_ms"] > 0
    assert limits["post_http"]["per_s"] > 0
