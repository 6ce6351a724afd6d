"""The transfer-directory (hotfolder) adapter, on a local directory or on WebDAV(S).

Modules: :mod:`~adapters.hotfolder.config` (the checked ``adapter_config``), :mod:`~adapters.hotfolder.adapter`
(stability, atomic hand-over, processed/failed, ledger), :mod:`~adapters.hotfolder.storage` (the file
operations it needs) with :mod:`~adapters.hotfolder.local` and :mod:`~adapters.hotfolder.webdav`; the
x-man preset :mod:`~adapters.hotfolder.xman`, registered in ``PRESETS`` here.
"""

from adapters.hotfolder.adapter import PRESETS, HotfolderAdapter
from adapters.hotfolder.config import HotfolderConfig
from adapters.hotfolder.xman import XmanAdapter

PRESETS["xman"] = XmanAdapter

__all__ = ["HotfolderAdapter", "HotfolderConfig", "XmanAdapter"]
