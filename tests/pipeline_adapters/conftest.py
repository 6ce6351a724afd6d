"""Two participants on one gateway, each with a hotfolder adapter on a local directory.

Gotha (the sending authority) and the Landesarchiv (the archive) come from the pipeline fixtures, on
SQLite and PostgreSQL; here each gets ``adapter_config`` pointing at a transfer directory below
``tmp_path``: ``out/`` is what its DMS offers, ``in/`` what the gateway delivered to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.pipeline.context import PipelineContext
from tests.pipeline.conftest import ctx, database_url, empty_engine, engine, pipeline_settings
from tests.pipeline.factories import ARCHIVE_ID, GOTHA
from tests.pipeline_adapters.support import Dms, set_adapter

__all__ = ["ctx", "database_url", "empty_engine", "engine", "pipeline_settings"]


@pytest.fixture
def dms(ctx: PipelineContext, tmp_path: Path) -> Iterator[dict[str, Dms]]:
    """The two DMS transfer directories, wired to Gotha and the archive (export only on demand)."""
    folders = {GOTHA: Dms(tmp_path / "dms-gotha"), ARCHIVE_ID: Dms(tmp_path / "dms-archiv")}
    for participant, folder in folders.items():
        folder.root.mkdir()
        set_adapter(ctx, participant, folder.config())
    try:
        yield folders
    finally:
        ctx.adapters.close()
