"""``xgw serve`` freezes its start-up heap before it serves (issue 11: no full GC pass over it per request)
and has made the payload store's folders (so that the first upload does not pay for them).

Run in a child process, with uvicorn's ``Server.run`` replaced by a probe, so that neither the freeze nor
the server's logging set-up leaks into the test process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

PROBE = textwrap.dedent(
    """
    import gc, json, os, sys
    import uvicorn
    from gateway.cli.serve import serve_command

    seen = {}

    def run(self, sockets=None):
        seen["frozen"] = gc.get_freeze_count()
        seen["tracked"] = len(gc.get_objects())
        seen["app_frozen"] = not gc.is_tracked(self.config.app) or self.config.app not in gc.get_objects()
        seen["prepared"] = os.path.isdir(os.path.join(os.environ["XGW_DATA_DIR"], "payloads", "ff"))

    uvicorn.Server.run = run
    gc.unfreeze()
    try:
        serve_command.main(["--port", "0", "--no-worker", "--log-level", "warning"], standalone_mode=False)
    finally:
        print(json.dumps(seen))
    """
)


def test_serve_freezes_what_start_up_made_before_serving(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XGW_")}
    env["XGW_DATA_DIR"] = str(tmp_path / "data")
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    # the start-up heap (schemas, ORM and web set-up: some 200,000 objects) is frozen, the app among it;
    # what stays tracked is the little made since
    assert seen["frozen"] > 50_000
    assert seen["tracked"] < seen["frozen"] / 10
    assert seen["app_frozen"] is True
    assert seen["prepared"] is True  # the payload store's folders are made at start-up, not by the first upload
