"""A stored message as a download: the file name it is offered under and its bytes in chunks.

One piece of code for the three faces that hand a payload out (the API's ``/payload``, the console's download
link, ``xgw queue payload``), so that they name and stream it alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from gateway.store.models import Message
from gateway.store.payloads import CHUNK_BYTES


def download_name(message: Message) -> str:
    """The file name given at submission, else ``<ProzessID>_<type>.<xml|zip>``; never a path."""
    if message.filename and Path(message.filename).name == message.filename and message.filename not in (".", ".."):
        return message.filename
    return f"{message.process_id}_{message.message_type}.{message.content_kind}"


def stream(handle: BinaryIO) -> Iterator[bytes]:
    """The open payload in chunks; closed when the response ends or the client goes away."""
    try:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk
    finally:
        handle.close()
