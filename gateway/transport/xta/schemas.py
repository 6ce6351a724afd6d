"""The XTA 2 schema set, compiled once, for checking request parts and every reply element.

The WSDL's ``types`` section includes the two XTA schema documents and imports the two OSCI ones; we
compile the same set (plus the SOAP 1.2 envelope schema, which OSCI2_02.xsd imports anyway) from a small
in-memory driver document whose base URL is the bundle folder, so every relative ``schemaLocation``
resolves inside ``<schema_dir>/xta/xta2v3`` and nothing is fetched from the network. libxml2 compiles the
set in milliseconds; the object is cached per folder and is safe to share between threads for
validation.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

from gateway.transport.xta.ns import OSCI, OSCIMETA, SOAP12, WSA, XTA

XTA_BUNDLE = ("xta", "xta2v3")
WSDL_NAME = "XTA.wsdl"

_DRIVER = f"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="{XTA}"
  elementFormDefault="qualified">
  <xs:import namespace="{OSCIMETA}" schemaLocation="OSCI_MessageMetaData_V2.02.xsd"/>
  <xs:import namespace="{OSCI}" schemaLocation="OSCI2_02.xsd"/>
  <xs:import namespace="{WSA}" schemaLocation="ws-addr.xsd"/>
  <xs:import namespace="{SOAP12}" schemaLocation=".xsd"/>
  <xs:include schemaLocation="XTA-Webservice-Globale-Elemente.xsd"/>
  <xs:include schemaLocation="XTA-Webservice-Exceptions.xsd"/>
</xs:schema>"""


def bundle_dir(schema_dir: Path) -> Path:
    """The XTA 2 folder inside the settings' schema directory."""
    return schema_dir.joinpath(*XTA_BUNDLE)


class SchemaInvalid(Exception):
    """An element does not conform to the XTA schemas; the message names the first problem."""


class XtaSchemas:
    """The compiled XTA schema set with element-level validation."""

    def __init__(self, folder: Path) -> None:
        if not (folder / WSDL_NAME).is_file():
            raise FileNotFoundError(f"XTA 2 bundle not found in {folder}")
        self.folder = folder
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        driver = etree.fromstring(_DRIVER.encode(), parser, base_url=(folder / "_driver.xsd").as_uri())
        self._schema = etree.XMLSchema(driver)
        self._lock = threading.Lock()

    def check(self, element: etree._Element) -> None:
        """Raise :class:`SchemaInvalid` unless ``element`` (a global element of the set) is valid.

        The element is copied into a document of its own, so it is validated exactly as it stands,
        with only the namespace declarations in scope at that point.
        """
        alone = copy.deepcopy(element)
        with self._lock:  # the error log of an XMLSchema object is per object
            ok = self._schema.validate(alone)
            log: Iterable[Any] = self._schema.error_log  # type: ignore[assignment]  # lxml-stubs lack __iter__
            first = next(iter(log), None) if not ok else None
        if not ok:
            where = etree.QName(element).localname
            raise SchemaInvalid(f"{where}: {first.message if first is not None else 'invalid'}")

    def is_valid(self, element: etree._Element) -> bool:
        try:
            self.check(element)
        except SchemaInvalid:
            return False
        return True


@lru_cache(maxsize=4)
def load_schemas(folder: Path) -> XtaSchemas:
    """The compiled set for ``folder`` (compiled on first use, then shared)."""
    return XtaSchemas(folder)
