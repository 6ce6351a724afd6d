"""A per-peer circuit breaker: stop hammering a peer that is down, and notice when it is back.

Closed: calls go through; every transient failure (after the client's own retries of one try, each try
counts) increments a counter, every answer that shows the peer is working -- a success, but also a
permanent fault, since a peer that refuses a request is alive -- resets it. After ``threshold``
consecutive failures the circuit opens: calls fail at once with :class:`CircuitOpen` for ``cooldown``
seconds. Then it is half-open: one trial call goes through; success closes the circuit, failure opens it
for another cool-down. The state is readable for health checks and metrics (:meth:`snapshot`).

Breakers live in a :class:`BreakerRegistry` keyed by peer URL, shared by every client of the process,
so that all messages for one peer see the same state. The clock is injectable so tests need not sleep.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """What health checks and metrics show for one peer."""

    peer: str
    state: BreakerState
    consecutive_failures: int
    opened_count: int
    retry_in_seconds: float


class CircuitBreaker:
    """The circuit of one peer; thread-safe."""

    def __init__(self, peer: str, threshold: int, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.peer = peer
        self.threshold = max(1, threshold)
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self._opened_count = 0

    def _state(self, now: float) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if now - self._opened_at >= self.cooldown:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state(self._clock())

    def allow(self) -> float | None:
        """None if a call may go now; otherwise the seconds until the next trial call."""
        with self._lock:
            now = self._clock()
            state = self._state(now)
            if state is BreakerState.CLOSED:
                return None
            assert self._opened_at is not None
            if state is BreakerState.HALF_OPEN and not self._trial_running:
                self._trial_running = True
                return None
            return max(0.0, self._opened_at + self.cooldown - now)

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_running = False

    def record_failure(self) -> None:
        with self._lock:
            now = self._clock()
            self._failures += 1
            trial = self._trial_running
            self._trial_running = False
            if trial or (self._opened_at is None and self._failures >= self.threshold):
                self._opened_at = now
                self._opened_count += 1

    def snapshot(self) -> BreakerSnapshot:
        with self._lock:
            now = self._clock()
            state = self._state(now)
            wait = 0.0 if self._opened_at is None else max(0.0, self._opened_at + self.cooldown - now)
            return BreakerSnapshot(self.peer, state, self._failures, self._opened_count, wait)


class BreakerRegistry:
    """One breaker per peer URL, created on first use with the registry's thresholds."""

    def __init__(self, threshold: int, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self._lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, peer: str) -> CircuitBreaker:
        with self._lock:
            breaker = self._breakers.get(peer)
            if breaker is None:
                breaker = CircuitBreaker(peer, self.threshold, self.cooldown, self.clock)
                self._breakers[peer] = breaker
            return breaker

    def snapshots(self) -> list[BreakerSnapshot]:
        with self._lock:
            breakers = list(self._breakers.values())
        return [b.snapshot() for b in breakers]
