"""The transfer-directory (hotfolder) adapter, on a local directory or on WebDAV(S).

Modules: :mod:`~adapters.hotfolder.config` (the checked ``adapter_config``), :mod:`~adapters.hotfolder.adapter`
(stability, atomic hand-over, processed/failed, ledger), :mod:`~adapters.hotfolder.storage` (the file
operations it needs) with :mod:`~adapters.hotfolder.local` and :mod:`~adapters.hotfolder.webdav`.
"""

from adapters.hotfolder.adapter import HotfolderAdapter
from adapters.hotfolder.config import HotfolderConfig

__all__ = ["HotfolderAdapter", "HotfolderConfig"]
