"""DMS adapters: records out of and into each authority's document management system.

The contract is :class:`DmsAdapter` (:mod:`adapters.base`); adapters are found by kind through the
``xoev_gateway.adapters`` entry points (:mod:`adapters.registry`); :mod:`adapters.ledger` makes
at-least-once delivery exactly-once in effect; :mod:`adapters.mapping` translates DMS fields to xdomea and
back; :mod:`adapters.inbound` re-validates a delivered message; :mod:`adapters.runner` runs one export
round against a gateway callable. One package per adapter kind: :mod:`adapters.hotfolder`.
"""

from adapters.base import (
    Acknowledgement,
    AdapterContext,
    AdapterError,
    AuthenticationFailed,
    Check,
    ConfigError,
    DmsAdapter,
    ExportedFile,
    Health,
    ImportResult,
    ImportStatus,
    MessageKey,
    ObjectResult,
    ObjectStatus,
    Unavailable,
)
from adapters.registry import GROUP, adapter_class, adapter_kinds, open_adapter
from adapters.runner import export_once

__all__ = [
    "GROUP",
    "Acknowledgement",
    "AdapterContext",
    "AdapterError",
    "AuthenticationFailed",
    "Check",
    "ConfigError",
    "DmsAdapter",
    "ExportedFile",
    "Health",
    "ImportResult",
    "ImportStatus",
    "MessageKey",
    "ObjectResult",
    "ObjectStatus",
    "Unavailable",
    "adapter_class",
    "adapter_kinds",
    "export_once",
    "open_adapter",
]
