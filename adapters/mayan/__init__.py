"""The Mayan EDMS adapter: records in and out of a DMS through its REST API (v4).

Modules: :mod:`~adapters.mayan.config` (the checked ``adapter_config``), :mod:`~adapters.mayan.client` (the
API calls, errors as adapter errors), :mod:`~adapters.mayan.schema` (document type and metadata types),
:mod:`~adapters.mayan.importer` and :mod:`~adapters.mayan.exporter` (xdomea into Mayan and back),
:mod:`~adapters.mayan.adapter` (the contract, ledger and outbox).
"""

from adapters.mayan.adapter import MayanAdapter
from adapters.mayan.client import MayanClient, MayanRefused
from adapters.mayan.config import MayanConfig

__all__ = ["MayanAdapter", "MayanClient", "MayanConfig", "MayanRefused"]
