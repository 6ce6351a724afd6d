"""Finding an adapter by the ``kind`` in a participant's ``adapter_config``, through Python entry points.

Adapters register under the entry point group ``xoev_gateway.adapters`` (``kind = "module:Class"``), so a
vendor can ship an adapter for its DMS as its own package and the gateway finds it once installed,
without a line changed here. The gateway's own adapters register the same way, in its pyproject.toml.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from adapters.base import AdapterContext, ConfigError, DmsAdapter

GROUP = "xoev_gateway.adapters"


def adapter_kinds() -> dict[str, EntryPoint]:
    """The installed adapters by kind (loading none of them)."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def adapter_class(kind: str) -> type[DmsAdapter]:
    found = adapter_kinds().get(kind)
    if found is None:
        known = ", ".join(sorted(adapter_kinds())) or "none installed"
        raise ConfigError(f"kind: no adapter {kind!r} is installed (known: {known})")
    try:
        cls = found.load()
    except Exception as exc:  # a broken third-party package must name itself, not crash the gateway
        raise ConfigError(f"kind: the adapter {kind!r} ({found.value}) cannot be loaded: {exc!r}") from None
    if not (isinstance(cls, type) and issubclass(cls, DmsAdapter)):
        raise ConfigError(f"kind: {found.value} registered as adapter {kind!r} is not a DmsAdapter")
    return cls


def open_adapter(config: Mapping[str, Any], context: AdapterContext) -> DmsAdapter:
    """The configured adapter for one participant; :class:`ConfigError` names what is wrong."""
    kind = config.get("kind")
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f'adapter_config of {context.participant}: kind: missing (e.g. kind = "hotfolder")')
    return adapter_class(kind).from_config(config, context)
