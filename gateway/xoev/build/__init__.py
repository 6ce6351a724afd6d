"""Building valid xdomea messages, receipts and packages from the typed model.

``build_message`` writes any supported message element in 3.0.0, 3.1.0 or 4.0.0; ``build_receipt``
answers a message in its own version; ``write_package`` writes a 0503/0401 ZIP with its primary files.
Everything built passes the gateway's validator before it is returned, or :class:`BuildError` says why not.
"""

from gateway.xoev.build.common import BUILD_VERSIONS, BuildError
from gateway.xoev.build.messages import PRIMARY_TYPES, BuiltMessage, build, build_message, buildable_elements, serialize
from gateway.xoev.build.naming import message_stem
from gateway.xoev.build.package import BuiltPackage, ChunkSource, write_package
from gateway.xoev.build.receipts import REPLIES, build_receipt, reply_message

__all__ = [
    "BUILD_VERSIONS",
    "PRIMARY_TYPES",
    "REPLIES",
    "BuildError",
    "BuiltMessage",
    "BuiltPackage",
    "ChunkSource",
    "build",
    "build_message",
    "build_receipt",
    "buildable_elements",
    "message_stem",
    "reply_message",
    "serialize",
    "write_package",
]
