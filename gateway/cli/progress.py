"""Progress for long commands: one status line on standard error, rewritten in place, never on standard output.

``xgw generate`` of 2 GiB works for half a minute and ``xgw validate`` of a large package for seconds; silence
that long looks like a hang. The line goes to standard error so that scripts reading standard output (file
names, ``--json``) see exactly what they saw before, and by default it appears only on a terminal: a CI log
or a pipe gets no carriage-return noise unless ``--progress`` asks for it (then each update is its own line,
at most one per second). A ticker thread keeps the elapsed time moving while one step runs for long.
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TextIO

import click

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_bytes(n: float) -> str:
    """``1536`` -> ``1.5 KiB``; binary units, as ``--size`` accepts them."""
    for unit in _UNITS:
        if abs(n) < 1024 or unit == _UNITS[-1]:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


#: ``--progress/--no-progress`` for a command; not given (``None``) means: on a terminal only
progress_option = click.option(
    "--progress/--no-progress", default=None, help="Show progress on standard error (default: on a terminal only)."
)


class Progress:
    """A status line: ``label``, done/total (bytes or items), percentage and elapsed seconds.

    Use as a context manager; :meth:`advance` and :meth:`update` may be called from any thread.
    """

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        enabled: bool | None = None,
        as_bytes: bool = False,
        stream: TextIO | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.enabled = self.interactive if enabled is None else enabled
        self.label = label
        self.total = total
        self.as_bytes = as_bytes
        self.done = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._last = 0.0
        self._width = 0
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> Progress:
        if self.enabled:
            self._ticker = threading.Thread(target=self._tick, name="xgw-progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
        if self.enabled:
            with self._lock:
                self._draw(final=True)

    def advance(self, amount: int) -> None:
        with self._lock:
            self.done += amount
            self._maybe_draw()

    def update(self, label: str | None = None, *, done: int | None = None, total: int | None = None) -> None:
        with self._lock:
            if label is not None:
                self.label = label
            if done is not None:
                self.done = done
            if total is not None:
                self.total = total
            self._maybe_draw(force=label is not None)

    def echo(self, line: str) -> None:
        """Print ``line`` on standard output without tearing the status line (cleared, then drawn again)."""
        with self._lock:
            if self.enabled and self.interactive and self._width:
                self.stream.write("\r" + " " * self._width + "\r")
                self.stream.flush()
                self._width = 0
            click.echo(line)
            if self.enabled and self.interactive:
                self._draw()

    def text(self) -> str:
        elapsed = time.monotonic() - self._started
        amount = human_bytes if self.as_bytes else str
        parts = [self.label]
        if self.total:
            parts.append(f"{amount(self.done)} of {amount(self.total)} ({100 * self.done / self.total:.0f}%)")
        elif self.done and self.as_bytes:  # a count without a total says nothing; bytes do
            parts.append(amount(self.done))
        parts.append(f"{elapsed:.0f} s")
        return "  ".join(parts)

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                self._maybe_draw()

    def _maybe_draw(self, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if force or now - self._last >= (0.2 if self.interactive else 1.0):
            self._last = now
            self._draw()

    def _draw(self, *, final: bool = False) -> None:
        line = self.text()
        if self.interactive:
            pad = " " * max(0, self._width - len(line))
            self.stream.write("\r" + line + pad + ("\n" if final else ""))
            self._width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
