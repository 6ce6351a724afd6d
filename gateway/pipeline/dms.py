"""The participants' DMS adapters as the pipeline uses them: opened once per process, one user at a time.

A participant has an adapter when its directory entry's ``adapter_config`` names a ``kind``. Besides the
adapter's own keys, the entry may carry a ``gateway`` table with what the *pipeline* does with it::

    [participant.adapter]
    kind = "hotfolder"
    path = "/srv/dms/archiv"

    [participant.adapter.gateway]
    export_interval = 30      # seconds between export rounds of the worker; 0 = only on demand
    confirm_imports = true    # answer an imported 0401/0503 with 0402/0506 built from the adapter's results
                              # (off, and refused, with preset = "xman": x-man confirms itself)

The ``gateway`` table is removed before the rest goes to the adapter, whose configuration refuses
unknown keys. Adapters are opened lazily and kept per process (opening one builds a validator and
opens its ledger); a changed configuration opens a new one. Adapters need not be thread-safe, so each
is used under its own lock; across processes, an export round also takes a file lock in the adapter's
state directory, so two workers never offer the same outbox file twice at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.base import AdapterContext, ConfigError, DmsAdapter
from adapters.registry import open_adapter
from gateway.config import Settings

ADAPTERS_DIR = "adapters"
GATEWAY_KEY = "gateway"


class GatewayOptions(BaseModel):
    """What the pipeline does with a participant's adapter (the ``gateway`` table of its adapter_config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: seconds between two export rounds run by the worker loop; 0 exports only on demand (xgw adapter export)
    export_interval: float = Field(30.0, ge=0, le=86400)
    #: build and send the 0402/0506 import confirmation from the adapter's per-object results
    confirm_imports: bool = True


@dataclass(frozen=True, slots=True)
class AdapterSpec:
    """A participant's adapter configuration, split into the adapter's part and the pipeline's part."""

    participant: str
    kind: str
    config: dict[str, Any]
    options: GatewayOptions

    @property
    def fingerprint(self) -> str:
        return json.dumps(self.config, sort_keys=True, default=str)


def adapter_spec(participant: str, adapter_config: Mapping[str, Any] | None) -> AdapterSpec | None:
    """None when the participant has no adapter; :class:`ConfigError` naming the key when it is wrong."""
    if not adapter_config:
        return None
    config = dict(adapter_config)
    raw = config.pop(GATEWAY_KEY, None) or {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"adapter_config of {participant}: {GATEWAY_KEY}: must be a table")
    try:
        options = GatewayOptions.model_validate(dict(raw))
    except ValidationError as exc:
        problems = [
            f"{GATEWAY_KEY}.{'.'.join(str(p) for p in item['loc'])}: "
            + ("unknown key" if item["type"] == "extra_forbidden" else item["msg"])
            for item in exc.errors()
        ]
        raise ConfigError(f"adapter_config of {participant}: " + "; ".join(problems)) from None
    kind = config.get("kind")
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f'adapter_config of {participant}: kind: missing (e.g. kind = "hotfolder")')
    if config.get("preset") == "xman":
        # x-man answers with its own 0504/0506/0507; a gateway-built confirmation would be fabricated
        if raw.get("confirm_imports") is True:
            raise ConfigError(
                f'adapter_config of {participant}: {GATEWAY_KEY}.confirm_imports: not with preset = "xman" '
                "(x-man confirms the import itself)"
            )
        options = options.model_copy(update={"confirm_imports": False})
    return AdapterSpec(participant, kind, config, options)


def state_dir(settings: Settings, participant: str) -> Path:
    """The adapter's private directory (ledger, spool): one per participant below the data directory."""
    return settings.data_dir / ADAPTERS_DIR / quote(participant, safe="")


def adapter_context(settings: Settings, participant: str) -> AdapterContext:
    return AdapterContext(participant=participant, state_dir=state_dir(settings, participant), settings=settings)


@dataclass(slots=True)
class _Slot:
    lock: threading.Lock = field(default_factory=threading.Lock)
    adapter: DmsAdapter | None = None
    fingerprint: str = ""


class AdapterPool:
    """The open adapters of one process, by participant."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._slots: dict[str, _Slot] = {}

    def _slot(self, participant: str) -> _Slot:
        with self._guard:
            return self._slots.setdefault(participant, _Slot())

    @contextlib.contextmanager
    def use(self, settings: Settings, spec: AdapterSpec) -> Iterator[DmsAdapter]:
        """The participant's adapter, for this thread alone until the block ends."""
        slot = self._slot(spec.participant)
        with slot.lock:
            if slot.adapter is not None and slot.fingerprint != spec.fingerprint:
                slot.adapter.close()
                slot.adapter = None
            if slot.adapter is None:
                slot.adapter = open_adapter(spec.config, adapter_context(settings, spec.participant))
                slot.fingerprint = spec.fingerprint
            yield slot.adapter

    def close(self) -> None:
        with self._guard:
            slots = list(self._slots.values())
            self._slots.clear()
        for slot in slots:
            with slot.lock:
                if slot.adapter is not None:
                    slot.adapter.close()
                    slot.adapter = None


@contextlib.contextmanager
def export_lock(settings: Settings, participant: str) -> Iterator[bool]:
    """Whether this process may run the participant's export round now (another holds it: False)."""
    folder = state_dir(settings, participant)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "export.lock").open("a+b") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
