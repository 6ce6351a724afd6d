"""Opaque pagination cursors: the position after the last item of a page, bound to the query's filters.

Listings are ordered newest first by ``(created_at, id)``, which never changes for a message, so a page
boundary stays put while messages arrive or change state: no message is skipped or shown twice. The
cursor is URL-safe base64 of a small JSON object; it also carries a fingerprint of the filters, so a
cursor used with other filters is refused (400) instead of silently returning a wrong page. It grants
nothing: visibility is applied to every page anyway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.api.problems import INVALID_CURSOR, ApiProblem


@dataclass(frozen=True, slots=True)
class Position:
    created_at: datetime
    id: uuid.UUID


def fingerprint(filters: dict[str, Any]) -> str:
    text = json.dumps(filters, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode(position: Position, filters: dict[str, Any]) -> str:
    raw = {"t": position.created_at.isoformat(), "i": str(position.id), "f": fingerprint(filters)}
    return base64.urlsafe_b64encode(json.dumps(raw, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(cursor: str, filters: dict[str, Any]) -> Position:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        created_at = datetime.fromisoformat(raw["t"])
        position = Position(created_at, uuid.UUID(raw["i"]))
        bound = raw["f"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeError):
        raise ApiProblem(INVALID_CURSOR, "the cursor is damaged; start again without one") from None
    if created_at.tzinfo is None:
        raise ApiProblem(INVALID_CURSOR, "the cursor is damaged; start again without one")
    if bound != fingerprint(filters):
        raise ApiProblem(INVALID_CURSOR, "the cursor belongs to a listing with other filters")
    return position
