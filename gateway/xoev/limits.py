"""The safety limits for everything that arrives: sizes, depths, counts and ratios of XML and ZIP packages.

They belong to the standard's parsing and validation (as xmlschema keeps its ``limits.py``), so the code
in :mod:`gateway.xoev` and :mod:`gateway.transport` takes them from here. The application settings
(:class:`gateway.config.Settings`) carry them as the ``limits`` section; ``from gateway.config import Limits``
still works. This module is a leaf: it imports nothing of the gateway, so the settings can import it without
a circle.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Limits(BaseModel):
    """Safety limits for everything that arrives; each one is a setting because archives differ in size."""

    max_xml_bytes: int = Field(256 * 1024 * 1024, description="Largest message XML accepted, in bytes.")
    max_xml_depth: int = Field(200, description="Deepest element nesting accepted in a message XML.")
    max_xml_elements: int = Field(5_000_000, description="Most elements accepted in one message XML.")
    max_text_bytes: int = Field(
        10 * 1024 * 1024, description="Longest single text node, in bytes (base64 content is not inline)."
    )
    max_record_depth: int = Field(
        12, description="Deepest nesting of Akte/Teilakte/Vorgang/Teilvorgang/Dokument accepted."
    )
    max_package_bytes: int = Field(
        8 * 1024 * 1024 * 1024, description="Largest ZIP package accepted (compressed size), in bytes."
    )
    max_package_entries: int = Field(100_000, description="Most entries accepted in one ZIP package.")
    max_unpacked_bytes: int = Field(
        16 * 1024 * 1024 * 1024, description="Largest sum of declared uncompressed sizes in a package."
    )
    max_entry_bytes: int = Field(
        8 * 1024 * 1024 * 1024, description="Largest declared uncompressed size of one package entry."
    )
    max_compression_ratio: float = Field(
        200.0, description="Highest uncompressed/compressed ratio accepted for an entry above 1 MiB."
    )
