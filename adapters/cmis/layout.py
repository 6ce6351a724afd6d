"""What the adapter's objects look like in the repository: names, the staging folder, the lookup by xdomea id.

Shared by import and export so that both agree on it. Names are for people browsing the DMS (the metadata
lives in properties): a folder is called ``<Kennzeichen> <Betreff>``, a document by the original file name of
its first version; characters CMIS forbids in ``cmis:name`` ("/") are replaced, and a name already taken in
the folder gets the object's short id appended.
"""

from __future__ import annotations

from adapters.base import MessageKey
from gateway.xoev.model import RecordObject

MAX_NAME = 200
STAGING_PREFIX = ".xgw-import-"


def clean_name(text: str) -> str:
    name = " ".join(text.replace("/", "_").replace("\\", "_").split())
    return name[:MAX_NAME].strip() or "_"


def folder_name(obj: RecordObject) -> str:
    parts = [p for p in (obj.kennzeichen, obj.betreff) if p]
    return clean_name(" ".join(parts) if parts else obj.id)


def document_name(obj: RecordObject) -> str:
    for version in obj.versions:
        for fmt in version.formats:
            if fmt.primary is not None:
                return clean_name(fmt.primary.original_filename or fmt.primary.filename)
    return clean_name(obj.betreff or obj.id)


def disambiguated(name: str, xdomea_id: str) -> str:
    """``Antrag v1.pdf`` -> ``Antrag v1 [1a2b3c4d].pdf``: the same name for the same object every time."""
    stem, dot, suffix = name.rpartition(".")
    tag = f" [{xdomea_id[:8]}]"
    if dot and stem and len(suffix) <= 5:
        return f"{stem}{tag}.{suffix}"
    return name + tag


def staging_name(key: MessageKey) -> str:
    """The hidden folder an import is built in before its objects are moved into place."""
    return f"{STAGING_PREFIX}{key.process_id}-{key.message_type}-{key.sequence}"


def ql_string(value: str) -> str:
    """A CMIS QL string literal (backslash escapes, CMIS 1.1 section 2.1.14.2.4.1)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
