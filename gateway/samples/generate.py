"""Realistic xdomea test messages and packages of any size, for tests and benchmarks.

Everything is derived from one seed, so the same arguments give the same message and the same bytes:
a record tree as Thuringian authorities keep it (Akten with Teilakten, Vorgänge and Teilvorgänge,
Dokumente with versions; German Betreffe with umlauts; Aktenzeichen like ``061.10-2024/0815``; plausible
Laufzeiten) and primary files whose sizes add up to the requested total. File contents start with the
right magic bytes (PDF, TIFF, XML, text) and are produced chunk by chunk while the ZIP is written, from a
pre-drawn pool of random bytes, so a multi-GiB package costs neither memory nor much CPU beyond the
ZIP's CRC. Random content is stored, text is deflated.

The parties default to the fixed test pair below (:data:`SENDER`, :data:`ARCHIVE`) that the test suite is
built around; callers may pass any other Absender and Empfaenger (``xgw generate --sender/--recipient``
does, defaulting to the demo directory's district and archive so that its output is accepted by
``xgw serve --demo`` as it is).

Command line: ``xgw generate --type 0503 --documents 1000 --size 1GiB --out DIR``.
"""

from __future__ import annotations

import math
import random
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from gateway.xoev.build import (
    PRIMARY_TYPES,
    REPLIES,
    BuildError,
    BuiltMessage,
    BuiltPackage,
    ChunkSource,
    build,
    build_receipt,
    write_package,
)
from gateway.xoev.model import (
    Code,
    DocumentVersion,
    Format,
    Kopf,
    Message,
    ObjectKind,
    Party,
    Primaerdokument,
    RecordObject,
)
from gateway.xoev.schemas.registry import SchemaRegistry

#: types whose Dokumente carry primary files (0501 only lists what is offered)
WITH_FILES = ("0101", "0401", "0503")
ANSWERED_BY: dict[str, str] = {reply: answered for answered, replies in REPLIES.items() for reply in replies}

_POOL_BYTES = 4 << 20
_CHUNK = 1 << 20
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4}

SENDER = Party(
    institution="Landratsamt Gotha",
    institution_short="LRA GTH",
    organisation_unit="Fachdienst Zentrale Dienste, Registratur",
    authority_prefix="psw",
    authority_id="16067000",
)
ARCHIVE = Party(
    institution="Landesarchiv Thüringen",
    institution_short="LATh",
    organisation_unit="Thüringisches Hauptstaatsarchiv Weimar",
    authority_prefix="psw",
    authority_id="16000001",
)

_PLACES = (
    "Gotha", "Erfurt", "Weimar", "Jena", "Suhl", "Mühlhausen", "Sömmerda", "Ilmenau", "Nordhausen",
    "Altenburg", "Saalfeld", "Bad Langensalza", "Schmölln", "Rudolstadt", "Greußen", "Pößneck",
)  # fmt: skip
_FILE_TOPICS = (
    ("061.10", "Bauantrag Einfamilienhaus {place}, Große Straße {n}"),
    ("632.21", "Förderung Straßenausbau Gemeindeverbindungsstraße {place}"),
    ("120.03", "Widerspruch gegen Gebührenbescheid Abwasser {place}"),
    ("701.40", "Gewerbeanmeldung Bäckerei Müller, {place}"),
    ("402.11", "Schülerbeförderung Schuljahr {year}/{next}"),
    ("364.20", "Naturschutzrechtliche Genehmigung Flurstück {n}, Gemarkung {place}"),
    ("902.01", "Haushaltsplanung {year} – Zuschüsse für Vereine"),
    ("460.52", "Zuwendungsbescheid Kindertagesstätte „Sonnenschein“ {place}"),
    ("365.12", "Denkmalschutz Fachwerkhaus am Marktplatz {place}"),
    ("511.30", "Überprüfung Trinkwasserversorgung Ortsteil {place}"),
)
_PROCESS_TOPICS = (
    "Antragsprüfung", "Beteiligung der Träger öffentlicher Belange", "Widerspruchsverfahren",
    "Ortsbegehung und Gutachten", "Zahlungsabwicklung", "Schriftverkehr mit dem Antragsteller",
    "Prüfung der Förderfähigkeit", "Anhörung nach § 28 ThürVwVfG",
)  # fmt: skip
_DOCUMENT_TOPICS = (
    "Antrag", "Eingangsbestätigung", "Stellungnahme des Bauordnungsamts", "Bescheid", "Aktenvermerk",
    "Widerspruchsbescheid", "Rückfrage zur Förderfähigkeit", "Protokoll der Ortsbegehung",
    "Gutachten Schallschutz", "Schreiben an den Antragsteller", "Zahlungsanordnung", "Verfügung zdA",
)  # fmt: skip
#: (Dateiformat code, suffix, weight): PDF/A, TIFF, XML, text
_FORMATS = (("044", ".pdf", 60), ("024", ".tif", 15), ("030", ".xml", 10), ("045", ".txt", 15))
_WORD_TEXT = (
    "Antrag Bescheid Gemeinde Landratsamt Frist Prüfung Unterlagen Anlage Stellungnahme Förderung Zuwendung "
    "Maßnahme Grundstück Flurstück Gemarkung Bauvorhaben Genehmigung Auflage Widerspruch Gebühr Rückfrage "
    "Kostenschätzung Verwendungsnachweis Haushaltsjahr Sachbearbeitung Fachdienst Ortsteil Straße Brücke "
    "Schule Kindertagesstätte Abwasser Trinkwasser Naturschutz Denkmal Begehung Protokoll Gutachten "
    "übersenden bitten prüfen genehmigen ablehnen mitteilen ergänzen nachreichen bestätigen beantragen "
    "gemäß hinsichtlich bezüglich fristgerecht vollständig vorläufig abschließend ausnahmsweise "
    "der die das den dem des ein eine einer und oder mit für von zu im am auf nach bis wird wurde ist sind"
)
_WORDS = _WORD_TEXT.split()
_PUNCT = (". ", ". ", ", ", "; ", ".\n")
_TEXT_POOL_BYTES = 1 << 20


def parse_size(text: str) -> int:
    """``1GiB``, ``500MB``, ``64k``, ``12345`` -> bytes (binary units with ``i``, decimal without)."""
    m = _SIZE.match(text)
    if m is None:
        raise ValueError(f"not a size: {text!r} (examples: 1GiB, 500MB, 4096)")
    number, unit = float(m[1]), (m[2] or "").upper()
    binary = "I" in unit
    prefix = unit.replace("I", "").replace("B", "")
    factor = 1024 ** ("KMGT".index(prefix) + 1) if binary and prefix else _UNITS[prefix]
    return int(number * factor)


@dataclass(slots=True)
class Generated:
    """A generated message with the contents of its primary files (produced on demand)."""

    message: Message
    files: dict[str, ChunkSource]


class _Content:
    """Deterministic primary file contents from one pool of random bytes (drawn once per seed)."""

    def __init__(self, rng: random.Random) -> None:
        self.pool = memoryview(rng.randbytes(_POOL_BYTES))
        self.text_bytes = _text_pool(rng)
        self.text = memoryview(self.text_bytes)

    def source(self, suffix: str, size: int, offset: int) -> ChunkSource:
        if suffix in (".txt", ".xml"):
            return ChunkSource(size, lambda: self._text(suffix, size, offset))
        return ChunkSource(size, lambda: self._binary(suffix, size, offset))

    def _binary(self, suffix: str, size: int, offset: int) -> Iterator[bytes]:
        if suffix == ".pdf":
            head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Length 0 >>\nstream\n"
            tail = b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
        else:  # little-endian TIFF header, first IFD right after it
            head, tail = b"II*\x00\x08\x00\x00\x00", b""
        yield from _framed(head, tail, size, self._random(size - len(head) - len(tail), offset))

    def _random(self, size: int, offset: int) -> Iterator[bytes]:
        pos = offset % _POOL_BYTES
        while size > 0:
            take = min(size, _CHUNK, _POOL_BYTES - pos)
            yield bytes(self.pool[pos : pos + take])
            size -= take
            pos = (pos + take) % _POOL_BYTES

    def _text(self, suffix: str, size: int, offset: int) -> Iterator[bytes]:
        if suffix == ".xml":
            head = b'<?xml version="1.0" encoding="UTF-8"?>\n<Schreiben>\n'
            tail = b"</Schreiben>\n"
        else:
            head = tail = b""
        yield from _framed(head, tail, size, self._cycle_text(size - len(head) - len(tail), offset))

    def _cycle_text(self, size: int, offset: int) -> Iterator[bytes]:
        """Slices of the text pool (ASCII-safe cut points: the pool is cut at line ends)."""
        pool = self.text
        pos = offset % len(pool)
        pos = self.text_bytes.rfind(b"\n", 0, pos) + 1 if pos else 0
        while size > 0:
            take = min(size, _CHUNK, len(pool) - pos)
            piece = bytes(pool[pos : pos + take])
            if take == size:
                # the file ends here: cut on a character boundary and pad so the text stays valid UTF-8
                text = piece.decode("utf-8", errors="ignore").encode()
                piece = text + b" " * (take - len(text))
            yield piece
            size -= take
            pos = (pos + take) % len(pool)


def _framed(head: bytes, tail: bytes, size: int, body: Iterator[bytes]) -> Iterator[bytes]:
    """``head + body + tail`` cut to exactly ``size`` bytes (tiny files get a truncated head only)."""
    if size <= len(head) + len(tail):
        yield (head + tail)[:size]
        return
    yield head
    yield from body
    yield tail


def _text_pool(rng: random.Random) -> bytes:
    """About 1 MiB of German-looking prose with numbers: compresses like real letters (about 3:1)."""
    parts: list[str] = []
    length = 0
    while length < _TEXT_POOL_BYTES:
        words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 18))]
        if rng.random() < 0.3:
            words.insert(
                rng.randrange(len(words)), f"{rng.randint(1, 31)}.{rng.randint(1, 12)}.{rng.randint(1990, 2025)}"
            )
        if rng.random() < 0.2:
            plan = f"{rng.randint(100, 999)}.{rng.randint(10, 99)}"
            words.append(f"Az. {plan}-{rng.randint(1990, 2025)}/{rng.randint(1, 9999):04d}")
        sentence = " ".join(words)
        sentence = sentence[:1].upper() + sentence[1:] + rng.choice(_PUNCT)
        parts.append(sentence)
        length += len(sentence.encode())
    text = "".join(parts).encode()
    return text[: text.rfind(b"\n") + 1]


class _Tree:
    """Draws the record tree; every random choice goes through one ``random.Random``."""

    def __init__(self, rng: random.Random, with_files: bool, v4: bool, created: datetime) -> None:
        self.rng = rng
        self.with_files = with_files
        self.v4 = v4
        self.created = created
        self.files: list[tuple[Primaerdokument, str]] = []  # (primary, suffix) in document order

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def day(self, start: date, end: date) -> date:
        return start + timedelta(days=self.rng.randint(0, max(0, (end - start).days)))

    def akten(self, documents: int) -> list[RecordObject]:
        count = max(1, math.ceil(documents / 250))
        shares = _split(documents, count, self.rng)
        return [self.akte(share, n + 1) for n, share in enumerate(shares)]

    def akte(self, documents: int, number: int) -> RecordObject:
        plan, pattern = self.rng.choice(_FILE_TOPICS)
        year = self.rng.randint(1996, 2018)
        betreff = pattern.format(
            place=self.rng.choice(_PLACES), n=self.rng.randint(1, 4800), year=year, next=(year + 1) % 100
        )
        begin = date(year, self.rng.randint(1, 12), self.rng.randint(1, 28))
        end = begin + timedelta(days=self.rng.randint(200, 6 * 365))
        aktenzeichen = f"{plan}-{year}/{self.rng.randint(1, 9999):04d}"
        akte = RecordObject(
            kind=ObjectKind.AKTE,
            id=self.uuid(),
            kennzeichen=aktenzeichen,
            betreff=betreff,
            laufzeit_begin=begin,
            laufzeit_end=end,
            bewertungsvorschlag=Code(self.rng.choice("AAV")),
            number_in_parent=str(number),
        )
        loose = documents // 10 if documents >= 10 else 0
        akte.children.extend(self.dokument(begin, end, i + 1) for i in range(loose))
        rest = documents - loose
        processes = max(1, round(rest / 8)) if rest else 0
        shares = _split(rest, processes, self.rng) if processes else []
        target = akte
        for i, share in enumerate(shares):
            if processes > 3 and i == processes // 2:  # the second half of a larger Akte goes to a Teilakte
                target = RecordObject(
                    kind=ObjectKind.TEILAKTE,
                    id=self.uuid(),
                    kennzeichen=f"{aktenzeichen}-T1",
                    betreff=f"{betreff} – Teilakte Nachträge",
                    laufzeit_begin=begin,
                    laufzeit_end=end,
                    number_in_parent="1",
                )
                akte.children.append(target)
            target.children.append(self.vorgang(share, aktenzeichen, i + 1, begin, end, ObjectKind.VORGANG))
        return akte

    def vorgang(self, documents: int, az: str, number: int, begin: date, end: date, kind: ObjectKind) -> RecordObject:
        start = self.day(begin, end)
        stop = self.day(start, end)
        vorgang = RecordObject(
            kind=kind,
            id=self.uuid(),
            kennzeichen=f"{az}-{number}",
            betreff=self.rng.choice(_PROCESS_TOPICS),
            laufzeit_begin=start,
            laufzeit_end=stop,
            number_in_parent=str(number),
        )
        own = documents
        if kind is ObjectKind.VORGANG and documents >= 6 and self.rng.random() < 0.3:
            sub = documents // 3
            own -= sub
            vorgang.children.append(self.vorgang(sub, f"{az}-{number}", 1, start, stop, ObjectKind.TEILVORGANG))
        docs = [self.dokument(start, stop, i + 1) for i in range(own)]
        vorgang.children[0:0] = docs
        return vorgang

    def dokument(self, begin: date, end: date, number: int) -> RecordObject:
        doc = RecordObject(
            kind=ObjectKind.DOKUMENT,
            id=self.uuid(),
            betreff=self.rng.choice(_DOCUMENT_TOPICS),
            number_in_parent=str(number),
        )
        if not self.with_files:
            return doc
        written = self.day(begin, end)
        versions = 1 if self.rng.random() < 0.8 else 2
        for v in range(1, versions + 1):
            code, suffix, _ = self.rng.choices(_FORMATS, weights=[f[2] for f in _FORMATS])[0]
            stamp = datetime.combine(written, datetime.min.time(), tzinfo=UTC) + timedelta(
                hours=self.rng.randint(7, 17), minutes=self.rng.randint(0, 59), days=v - 1
            )
            primary = Primaerdokument(
                filename=f"{self.uuid()}{suffix}",
                original_filename=f"{doc.betreff} v{v}{suffix}",
                created_at=stamp,
                creator="Sachbearbeitung Fachdienst",
            )
            self.files.append((primary, suffix))
            fmt = Format(name=Code(code), version="1.7" if suffix == ".pdf" else "", primary=primary)
            doc.versions.append(DocumentVersion(number=str(v), formats=[fmt]))
        return doc


def _split(total: int, parts: int, rng: random.Random) -> list[int]:
    """``total`` as ``parts`` positive-ish integers with some spread, summing exactly to ``total``."""
    if parts <= 0:
        return []
    weights = [rng.uniform(0.5, 1.5) for _ in range(parts)]
    scale = total / sum(weights)
    out = [int(w * scale) for w in weights]
    for i in range(total - sum(out)):
        out[i % parts] += 1
    return out


def _sizes(total: int, count: int, rng: random.Random) -> list[int]:
    """File sizes summing to ``total``: log-normal spread, as real Akten mix short letters and scans."""
    if count == 0:
        return []
    weights = [rng.lognormvariate(0, 0.8) for _ in range(count)]
    scale = total / sum(weights)
    out = [int(w * scale) for w in weights]
    out[-1] += total - sum(out)
    return out


def generate_message(
    version: str = "3.0.0",
    message_type: str = "0503",
    *,
    documents: int = 10,
    size: int = 64 * 1024,
    seed: int = 0,
    created: datetime | None = None,
    sender: Party = SENDER,
    recipient: Party = ARCHIVE,
) -> Generated:
    """A message of a primary type (0101, 0401, 0501, 0503) from ``sender`` to ``recipient``, with file contents.

    The parties do not enter the seeded choices, so the same seed gives the same record tree whoever sends it.
    """
    element = PRIMARY_TYPES.get(message_type)
    if element is None:
        raise BuildError(f"the generator writes {', '.join(PRIMARY_TYPES)} (and replies to them), not {message_type}")
    # reproducible test data, not secrets: a seeded PRNG is the point
    rng = random.Random(f"xgw:{seed}:{version}:{message_type}:{documents}:{size}")  # noqa: S311
    created = created or datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
    tree = _Tree(rng, message_type in WITH_FILES, version.startswith("4."), created)
    process_id = tree.uuid()
    kopf = Kopf(
        process_id=process_id,
        message_type=Code(message_type),
        created_at=created,
        sender=sender,
        recipient=recipient,
        receipt_requested=True,
        import_confirmation_requested=message_type in ("0401", "0503"),
        archive_id_requested=message_type == "0503",
        message_uuid=tree.uuid(),
    )
    objects = tree.akten(documents)
    content = _Content(rng)
    files: dict[str, ChunkSource] = {}
    sizes = _sizes(size, len(tree.files), rng)
    for (primary, suffix), file_size in zip(tree.files, sizes, strict=True):
        files[primary.filename] = content.source(suffix, file_size, rng.randrange(_POOL_BYTES))
    message = Message(version=version, element=element, kopf=kopf, objects=objects)
    return Generated(message, files)


def generate_reply(
    version: str,
    message_type: str,
    *,
    documents: int = 10,
    seed: int = 0,
    registry: SchemaRegistry | None = None,
    sender: Party = SENDER,
    recipient: Party = ARCHIVE,
) -> BuiltMessage:
    """A reply type (0102, 0402, 0403, 0502, 0504-0507) answering a generated message of its protocol.

    ``sender`` and ``recipient`` are the parties of the primary message (district -> archive); each reply
    goes the way its protocol says (an 0504 from the archive to the district, an 0505 back again).
    """
    answered = ANSWERED_BY.get(message_type)
    if answered is None or message_type == "0202":
        raise BuildError(f"{message_type} is not a reply the generator can produce")
    if answered == "0502":
        offer = generate_message(
            version, "0501", documents=documents, size=0, seed=seed, sender=sender, recipient=recipient
        ).message
        appraisal = build_receipt(offer, "0502", sender=recipient, now=offer.kopf.created_at, registry=registry)
        return build_receipt(appraisal.message, message_type, now=offer.kopf.created_at, registry=registry)
    original = generate_message(
        version, answered, documents=documents, size=0, seed=seed, sender=sender, recipient=recipient
    ).message
    return build_receipt(original, message_type, now=original.kopf.created_at, registry=registry)


def generate_to(
    out_dir: Path,
    *,
    version: str = "3.0.0",
    message_type: str = "0503",
    documents: int = 10,
    size: int = 64 * 1024,
    seed: int = 0,
    verify: bool = True,
    registry: SchemaRegistry | None = None,
    sender: Party = SENDER,
    recipient: Party = ARCHIVE,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write one generated message (as ZIP package when it carries files, else as XML) into ``out_dir``.

    ``progress`` is called with the number of bytes of primary file content each time a chunk of it has
    been produced (they add up to ``size``), so that a command line can show how far a large package is.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    if message_type not in PRIMARY_TYPES:
        built = generate_reply(
            version, message_type, documents=documents, seed=seed, registry=registry, sender=sender, recipient=recipient
        )
        target = out_dir / f"{built.stem}.xml"
        target.write_bytes(built.to_bytes())
        return target
    generated = generate_message(
        version, message_type, documents=documents, size=size, seed=seed, sender=sender, recipient=recipient
    )
    if generated.files:
        files = generated.files if progress is None else {n: _reported(s, progress) for n, s in generated.files.items()}
        package: BuiltPackage = write_package(
            generated.message, out_dir, files, registry=registry, verify=verify, compresslevel=1
        )
        return package.path
    built = build(generated.message, registry=registry)
    target = out_dir / f"{built.stem}.xml"
    target.write_bytes(built.to_bytes())
    return target


def _reported(source: ChunkSource, progress: Callable[[int], None]) -> ChunkSource:
    def chunks() -> Iterator[bytes]:
        for chunk in source.chunks():
            yield chunk
            progress(len(chunk))

    return ChunkSource(source.size, chunks)
