"""The layering holds by test: import-linter checks pyproject's contracts, grimp finds any import circle.

The contracts (``[tool.importlinter]`` in pyproject.toml) say: xoev below store and participants, below the
pipeline and the transport library, below the XTA bridge, below the HTTP faces, below the wiring module,
below the command line; the transport imports no pipeline and no database; adapters only their contract;
nothing of the core imports the sample generator; no circles between sibling packages at any depth.

A test that cannot fail is worse than none, so the second half copies the source tree, adds one forbidden
import (each of the kinds the contracts exist for) and checks that the same command then fails and names
the contract.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gateway", "adapters")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with ``root``'s pyproject.toml on ``root``'s packages (found first on the path)."""
    env = {**os.environ, "PYTHONPATH": str(root), "NO_COLOR": "1", "COLUMNS": "200"}
    command = [
        sys.executable,
        "-c",
        "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())",
    ]
    return subprocess.run(
        [*command, "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _circles(graph: grimp.ImportGraph) -> list[tuple[str, ...]]:
    """Every direct import ``a -> b`` for which ``b`` leads back to ``a``, as the shortest such circle."""
    found = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                found.append((importer, *back))
    return found


def test_the_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout


def test_no_module_imports_itself_in_a_circle() -> None:
    """No module-level circle at all, lazy imports inside functions included (grimp sees those too)."""
    graph = grimp.build_graph(*PACKAGES)
    assert _circles(graph) == []


def test_the_circle_check_finds_a_circle() -> None:
    graph = grimp.build_graph(*PACKAGES)
    # the circle this issue removed: the pipeline's transports imported the XTA client, which imports the pipeline
    graph.add_import(importer="gateway.pipeline.transport", imported="gateway.bridge.xta.sender")
    circles = _circles(graph)
    assert ("gateway.pipeline.transport", "gateway.bridge.xta.sender", "gateway.pipeline.transport") in circles


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packages and pyproject.toml, copied once; each case edits one file and restores it."""
    root = tmp_path_factory.mktemp("layers")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


@pytest.mark.parametrize(
    ("module", "forbidden", "contract"),
    [
        # the transport library reaching into the pipeline or the database
        ("gateway/transport/xta/soap.py", "gateway.pipeline.context", "gateway.transport is a protocol library"),
        ("gateway/transport/xta_client/client.py", "gateway.store.models", "gateway.transport is a protocol library"),
        # the pipeline importing the XTA client again (the old circle)
        ("gateway/pipeline/transport.py", "gateway.bridge.xta.sender", "No import circles"),
        # a face importing another face, or the core importing the wiring module
        ("gateway/console/web.py", "gateway.api.state", "Layers:"),
        ("gateway/api/app.py", "gateway.wiring", "Layers:"),
        ("gateway/pipeline/context.py", "gateway.wiring", "Layers:"),
        # the standard importing the store
        ("gateway/xoev/build/messages.py", "gateway.store.models", "Layers:"),
        # the core importing the sample generator
        ("gateway/xoev/build/messages.py", "gateway.samples.generate", "Nothing of the core imports the sample"),
        # an adapter reaching past its contract, or the gateway naming a DMS kind
        ("adapters/base.py", "gateway.store.models", "DMS adapters are written against their contract"),
        ("gateway/pipeline/dms.py", "adapters.hotfolder.adapter", "The gateway finds DMS kinds by entry point"),
        # the settings leaf growing roots
        ("gateway/config.py", "gateway.xoev.validation.validate", "gateway.config is the settings leaf"),
        # a circle between two sibling packages of the standard
        ("gateway/xoev/rules.py", "gateway.xoev.validation.xsd", "No import circles"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(source_copy: Path, module: str, forbidden: str, contract: str) -> None:
    path = source_copy / module
    original = path.read_text(encoding="utf-8")
    path.write_text(f"{original}\nimport {forbidden}  # added by tests/test_layers.py\n", encoding="utf-8")
    try:
        result = _lint_imports(source_copy)
    finally:
        path.write_text(original, encoding="utf-8")
    report = result.stdout + result.stderr
    assert result.returncode != 0, report
    broken = report[report.index("Broken contracts") :] if "Broken contracts" in report else ""
    assert contract in broken, report
