"""The W3C/merlin and xmlsec interop vectors shipped in signxml's source distribution.

The sdist of the installed signxml version is fetched with pip into pytest's cache directory
(``.pytest_cache``, git-ignored) once and reused; the vectors are never committed. The test skips only
when PyPI cannot be reached. Expectations live in ``interop_vectors.toml``: what the cryptographic
engine says about each vector, and the named reason our verifier refuses it with.
"""

from __future__ import annotations

import base64
import importlib.metadata
import os
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from lxml import etree
from signxml.algorithms import DigestAlgorithm as SxDigest
from signxml.algorithms import SignatureMethod as SxMethod
from signxml.exceptions import InvalidSignature
from signxml.verifier import SignatureConfiguration, XMLVerifier

from gateway.xoev.limits import Limits
from gateway.xoev.signatures.signature import NS, DigestAlgorithm, SignatureAlgorithm
from gateway.xoev.signatures.verifying import SignatureReason, TrustDirectory, verify_message

MANIFEST = tomllib.loads((Path(__file__).parent / "interop_vectors.toml").read_text(encoding="utf-8"))["vector"]
VERSION = importlib.metadata.version("signxml")


def _fetch_sdist(cache: Path) -> Path:
    """Download and unpack ``signxml==VERSION`` into ``cache``; safe when several test workers race."""
    target = cache / f"signxml-{VERSION}"
    if (target / "test" / "interop").is_dir():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "--disable-pip-version-check",
                "--quiet",
                f"signxml=={VERSION}",
                "-d",
                scratch,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        archives = list(Path(scratch).glob("signxml-*.tar.gz"))
        if result.returncode != 0 or not archives:
            pytest.skip(f"PyPI unreachable, signxml {VERSION} sdist not downloaded: {result.stderr.strip()[-300:]}")
        with tarfile.open(archives[0]) as archive:
            archive.extractall(scratch, filter="data")
        unpacked = Path(scratch) / f"signxml-{VERSION}"
        try:
            os.rename(unpacked, target)
        except OSError:  # another worker was faster
            if not (target / "test" / "interop").is_dir():
                raise
    return target


@pytest.fixture(scope="session")
def interop_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = request.config.cache
    root = cache.mkdir("signxml-sdist") if cache is not None else tmp_path_factory.mktemp("signxml-sdist")
    return _fetch_sdist(Path(root)) / "test" / "interop"


def test_manifest_covers_every_merlin_and_aleksey_enveloped_vector(interop_dir: Path) -> None:
    listed = {v["file"] for v in MANIFEST}
    shipped = {
        str(p.relative_to(interop_dir))
        for folder in ("merlin-xmldsig-twenty-three", "aleksey-xmldsig-01-enveloped")
        for p in (interop_dir / folder).glob("*.xml")
    }
    assert listed == shipped


@pytest.mark.parametrize("vector", MANIFEST, ids=lambda v: v["file"].split("/", 1)[1])
def test_gateway_refuses_vector_with_named_reason(interop_dir: Path, vector: dict[str, Any]) -> None:
    data = (interop_dir / vector["file"]).read_bytes()
    result = verify_message(data, "psw:0", TrustDirectory([]), limits=Limits())
    assert result.reason is SignatureReason(vector["reason"])
    assert result.finding is not None
    assert result.finding.rule == vector["rule"]


def _engine_config(vector: dict[str, Any]) -> SignatureConfiguration:
    if vector.get("legacy"):
        hmac = "hmac_key" in vector
        methods = frozenset(m for m in SxMethod if m.name.startswith("HMAC_") == hmac)
        digests = frozenset(SxDigest)
    else:  # exactly what the gateway accepts
        methods = frozenset(SxMethod(a.value) for a in SignatureAlgorithm)
        digests = frozenset(SxDigest(d.value) for d in DigestAlgorithm)
    return SignatureConfiguration(
        require_x509=False, location="./", signature_methods=methods, digest_algorithms=digests
    )


def _embedded_certificate(root: etree._Element) -> x509.Certificate | None:
    found = root.find(".//ds:X509Certificate", NS)
    if found is None or not found.text:
        return None
    return x509.load_der_x509_certificate(base64.b64decode("".join(found.text.split())))


@pytest.mark.parametrize(
    "vector", [v for v in MANIFEST if v["engine"] != "skip"], ids=lambda v: v["file"].split("/", 1)[1]
)
def test_engine_agrees_with_the_vector(interop_dir: Path, vector: dict[str, Any]) -> None:
    """signxml's digests, canonicalisation and signature checks agree with merlin's and xmlsec's."""
    data = (interop_dir / vector["file"]).read_bytes()
    root = etree.fromstring(data)
    verifier = XMLVerifier()
    verifier.excise_empty_xmlns_declarations = True  # as signxml's own interop suite does for these vectors
    hmac_key = vector["hmac_key"].encode() if "hmac_key" in vector else None
    certificate = _embedded_certificate(root) if not vector.get("legacy") else None

    def run() -> None:
        verifier.verify(
            data,
            x509_cert=certificate,
            hmac_key=hmac_key,
            expect_config=_engine_config(vector),
        )

    if vector["engine"] == "valid":
        run()
    else:
        with pytest.raises(InvalidSignature):
            run()
