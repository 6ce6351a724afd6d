"""Building valid xdomea messages, receipts and packages from the typed model.

``build_message`` writes any supported message element in 3.0.0, 3.1.0 or 4.0.0; ``build_receipt``
answers a message in its own version; ``write_package`` writes a 0503/0401 ZIP with its primary files.
Everything built passes the gateway's validator before it is returned, or :class:`BuildError` says why not.
"""

from gateway.xoev.build.common import BUILD_VERSIONS, BuildError
from gateway.xoev.build.messages import build_message, buildable_elements, serialize

__all__ = ["BUILD_VERSIONS", "BuildError", "build_message", "buildable_elements", "serialize"]
