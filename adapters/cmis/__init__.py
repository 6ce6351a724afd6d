"""The CMIS 1.1 Browser Binding adapter (enaio, d.velop, nscale, Alfresco, Nuxeo ...).

Modules: :mod:`~adapters.cmis.config` (the checked ``adapter_config``), :mod:`~adapters.cmis.client` (a typed
facade over cmislib with the contract's errors and timeouts), :mod:`~adapters.cmis.properties` (xdomea
metadata as CMIS properties through the mapping), :mod:`~adapters.cmis.layout` (names, staging folder),
:mod:`~adapters.cmis.importer`, :mod:`~adapters.cmis.exporter` and :mod:`~adapters.cmis.adapter`.
"""

from adapters.cmis.adapter import CmisAdapter
from adapters.cmis.config import CmisConfig

__all__ = ["CmisAdapter", "CmisConfig"]
