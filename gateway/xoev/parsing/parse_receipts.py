"""What receipts and answers say about the objects they answer for.

Messages such as 0502 Bewertungsverzeichnis, 0402 ImportBestaetigen or 0506 AussonderungImportBestaetigen
do not carry Schriftgutobjekte but reference them by id, each with an outcome:

=============================  =======================================  ===========================================
element (message)              2.x / 3.x                                4.0.0
=============================  =======================================  ===========================================
BewertetesObjekt (0502)        ID, Aussonderungsart                     (renamed BewertetesSGO) xdomeaUUID, ...
AbgegebenesObjekt (0402)       3.x: IDSGO, Erfolgreich, Fehlermeldung   xdomeaUUID, ErfolgOderMisserfolg
AusgesondertesSGO (0506)       3.x: IDSGO, Erfolgreich, Archivkennung   xdomeaUUID, ErfolgOderMisserfolg, Archivk.
ErfolgOderMisserfolg (message) 2.x 0402/0506 (+ Rueckgabeparameter:     0402/0506/0514 overall result
                               ID, Archivkennung)
BewerteteAktenplaneinheit      0513/0514: ID, Aussonderungsart/result   xdomeaUUID, ...
Ausgelagertes-/Rueckuebertra-  07xx: IDSGO, Erfolgreich                 (not in the 4.0.0 bundle)
genesObjekt
RueckzuleihendesObjekt ...     07xx: the UUID as text                   (not in the 4.0.0 bundle)
=============================  =======================================  ===========================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from lxml import etree

from gateway.xoev.model import Code, ObjectOutcome
from gateway.xoev.parsing.parse_common import Names, child, child_text, code, text, to_bool
from gateway.xoev.parsing.parse_objects import aussonderungsart

_REFERENCE_ELEMENTS = (
    "BewertetesObjekt",
    "BewertetesSGO",
    "AbgegebenesObjekt",
    "AusgesondertesSGO",
    "AusgelagertesObjekt",
    "RueckuebertragenesObjekt",
    "BewerteteAktenplaneinheit",
    "RueckzuleihendesObjekt",
    "RueckzuuebertragendesObjekt",
)


@lru_cache(maxsize=32)
def reference_tags(n: Names) -> frozenset[str]:
    return frozenset("{" + n.namespace + "}" + local for local in _REFERENCE_ELEMENTS)


@dataclass(slots=True)
class OverallResult:
    """A message-level ErfolgOderMisserfolg."""

    success: bool | None = None
    errors: list[str] = field(default_factory=list)
    outcomes: list[ObjectOutcome] = field(default_factory=list)


def parse_reference(el: etree._Element, n: Names) -> ObjectOutcome:
    """One referencing element; an element without children is the referenced UUID itself (07xx)."""
    if len(el) == 0:
        return ObjectOutcome(id=text(el) or "")
    result = child(el, n.ErfolgOderMisserfolg)
    holder = result if result is not None else el
    return ObjectOutcome(
        id=child_text(el, n.ID, n.IDSGO, n.xdomeaUUID) or "",
        aussonderungsart=aussonderungsart(child(el, n.Aussonderungsart), n),
        success=to_bool(child_text(holder, n.Erfolgreich)),
        archive_id=child_text(el, n.Archivkennung),
        errors=_errors(holder, n),
        error_codes=_error_codes(holder, n),
    )


def parse_overall(el: etree._Element, n: Names) -> OverallResult:
    """The message-level ErfolgOderMisserfolg, with 2.x's per-object Rueckgabeparameter inside it."""
    result = OverallResult(success=to_bool(child_text(el, n.Erfolgreich)), errors=_errors(el, n))
    for item in el.iterchildren(n.Rueckgabeparameter):
        result.outcomes.append(parse_reference(item, n))
    return result


def _errors(el: etree._Element, n: Names) -> list[str]:
    return [value for value in (text(item) for item in el.iterchildren(n.Fehlermeldung)) if value]


def _error_codes(el: etree._Element, n: Names) -> list[Code]:
    return [value for value in (code(item) for item in el.iterchildren(n.FehlermeldungCode)) if value]
