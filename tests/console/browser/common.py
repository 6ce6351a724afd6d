"""What the console's browser tests share: Debian's Chromium, its arguments, and where screenshots go.

Screenshots are test artifacts: under ``$XGW_TEST_ARTIFACTS`` when set (a CI job keeps that folder),
else ``<repo>/test-artifacts/console/`` (ignored by git).
"""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[3]


def artifacts_dir(*parts: str) -> Path:
    base = os.environ.get("XGW_TEST_ARTIFACTS")
    folder = (Path(base) if base else REPO / "test-artifacts" / "console").joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
