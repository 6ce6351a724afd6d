"""A package is read once after it was stored (issue 11): the upload is hashed while it is written, and the
package checks then read the stored file once -- the central directory, the message XML and each content
entry's compressed bytes -- not again for each check."""

from __future__ import annotations

import builtins
import io
from pathlib import Path
from typing import Any

import pytest

from gateway.pipeline.context import PipelineContext
from gateway.pipeline.intake import submit
from gateway.samples.generate import generate_to
from gateway.store.models import SignaturePolicy
from tests.pipeline.factories import GOTHA, directory_entry


class _Counting:
    """A file object that counts the bytes read through it."""

    def __init__(self, inner: Any, tally: list[int]) -> None:
        self._inner = inner
        self._tally = tally

    def read(self, *args: Any) -> bytes:
        data: bytes = self._inner.read(*args)
        self._tally.append(len(data))
        return data

    def readinto(self, buffer: Any) -> int:
        n: int = self._inner.readinto(buffer)
        self._tally.append(n)
        return n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __enter__(self) -> _Counting:
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.close()


def test_a_stored_package_is_read_once(ctx: PipelineContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with ctx.session() as session:
        entry = directory_entry(session, GOTHA)
        entry.signature_policy = SignaturePolicy.ACCEPT  # packages travel unsigned
        session.add(entry)
        session.commit()
    package = generate_to(tmp_path / "out", version="3.0.0", message_type="0503", documents=8, size=4 << 20)
    size = package.stat().st_size
    stored_root = ctx.payloads.root.resolve()
    tally: list[int] = []
    real_open = io.open

    def counting_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        handle = real_open(file, *args, **kwargs)
        mode = args[0] if args else kwargs.get("mode", "r")
        if isinstance(file, str | Path) and "r" in mode and stored_root in Path(file).resolve().parents:
            return _Counting(handle, tally)
        return handle

    # Path.open, Path.read_bytes and open() all go through io.open
    monkeypatch.setattr(io, "open", counting_open)
    monkeypatch.setattr(builtins, "open", counting_open)
    with package.open("rb") as source:
        data = source.read()
    result = submit(ctx, io.BytesIO(data), sender=GOTHA, filename=package.name, channel="rest")
    assert result.created
    assert result.message.state.value == "validated", result.message.error
    read = sum(tally)
    assert read > size * 0.9, "the checks read the stored package (precondition of this test)"
    # once, plus the directory, local headers and the small message XML read again
    assert read < size * 1.1, f"{read} bytes read from a stored package of {size} bytes"
