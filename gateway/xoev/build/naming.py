"""File names for built messages and packages, following each version's naming rule.

2.x/3.x: ``<ProzessID>_<Gruppe.Name.Code>`` (``…_Aussonderung.Aussonderung.0503``); 4.0.0:
``<ProzessID>_<Code>_<LfdNr>`` (``…_0503_1``). The receiving archive matches messages to its process by
these names; :mod:`gateway.xoev.validation.naming` checks them on the way in, this writes them on the way out.
"""

from __future__ import annotations

from gateway.xoev.model import Message


def message_stem(msg: Message) -> str:
    process_id = msg.kopf.process_id
    if msg.version.startswith("4."):
        return f"{process_id}_{msg.code}_{msg.kopf.sequence_number or 1}"
    return f"{process_id}_{msg.element}"
