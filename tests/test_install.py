"""The gateway as a newcomer installs it: sdist, a wheel built from that sdist, a fresh virtual environment, and
the commands run from an unrelated folder with nothing configured but ``XGW_SCHEMA_DIR``.

Everything else in the suite runs from the checkout (an editable install), where a data file that the wheel
forgot is still found beside the code; only this test sees what users get. It builds once per session:
``python -m build`` makes the sdist and then the wheel from the unpacked sdist, so a file missing from
either fails here (with this venv's setuptools: seconds). It installs into a venv without system
site-packages (40 s with pip's cache on an idle 2-core machine, minutes when the cores are shared) and
runs with ``XGW_SLOW_TESTS=1``, as ``.ci/run`` sets.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.transport.xta.ns import PORTS
from tests.conftest import SHARED

CHECKOUT = Path(__file__).resolve().parents[1]
PACKAGES = ("gateway", "adapters")
VALID_SAMPLE = SHARED / "samples" / "3.0.0" / "9fde4e7a-b41b-11ec-9225-005056871b7c_Aussonderung.Aussonderung.0503.xml"
#: what a copy of the checkout leaves out: tool state anywhere, build output and local data at the top only
_SKIP_ANYWHERE = {"__pycache__", ".git", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".benchmarks"}
_SKIP_TOP = {".venv", "var", "build", "dist", "test-artifacts"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("install"),
    pytest.mark.skipif(os.environ.get("XGW_SLOW_TESTS") != "1", reason="set XGW_SLOW_TESTS=1 to build and install"),
]


@dataclass(frozen=True, slots=True)
class Installed:
    sdist: Path
    wheel: Path
    venv: Path

    def xgw(self) -> str:
        return str(self.venv / "bin" / "xgw")


def _runtime_files() -> list[str]:
    """Every file of the packages in the checkout (what an installed gateway may read), as posix paths."""
    found = []
    for package in PACKAGES:
        for path in (CHECKOUT / package).rglob("*"):
            parts = set(path.relative_to(CHECKOUT).parts)
            if path.is_file() and not _SKIP_ANYWHERE & parts and path.suffix not in (".pyc", ".pyo"):
                found.append(path.relative_to(CHECKOUT).as_posix())
    return sorted(found)


def _clean_env() -> dict[str, str]:
    """The environment without this venv or any gateway setting, so nothing leaks into the fresh install."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("XGW_", "PYTHON", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV")) and k != "XDG_CACHE_HOME"
    }


def _run(args: list[str], *, env: dict[str, str], cwd: Path | str | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, check=False, timeout=600, cwd=cwd, env=env)
    assert result.returncode == 0, f"{args}: {result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return result


def _session_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder that every xdist worker of this test run shares (and no other run does)."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "xgw-install"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Build and install once per test run: the first worker to get here does it, under a lock; the others
    wait and reuse it (``xdist_group`` should put these tests on one worker, but with pytest 9 and
    xdist 3.8 it does not)."""
    root = _session_folder(tmp_path_factory)
    with (root / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "installed").exists():
            _build_and_install(root)
            (root / "installed").touch()
    dist = root / "dist"
    return Installed(sdist=next(dist.glob("*.tar.gz")), wheel=next(dist.glob("*.whl")), venv=root / "venv")


def _build_and_install(root: Path) -> None:
    source = root / "source"  # a copy, so that building writes nothing into the checkout
    shutil.copytree(
        CHECKOUT,
        source,
        ignore=lambda folder, names: [
            n
            for n in names
            if n in _SKIP_ANYWHERE or (Path(folder) == CHECKOUT and n in _SKIP_TOP) or n.endswith((".egg-info", ".pyc"))
        ],
    )
    dist = root / "dist"
    env = _clean_env()
    started = time.monotonic()
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)], env=env)
    built = time.monotonic()
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], env=env)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
    wheel = next(dist.glob("*.whl"))
    _run([*pip, "--no-compile", str(wheel)], env=env)  # --no-compile: modules are compiled when first imported
    print(f"build {built - started:.1f} s, install {time.monotonic() - built:.1f} s")


def test_the_sdist_and_the_wheel_carry_every_runtime_file(installed: Installed) -> None:
    wanted = _runtime_files()
    assert "gateway/demo/participants.toml" in wanted
    assert "gateway/xoev/schemas/catalogue.json" in wanted
    assert "gateway/xoev/build/__init__.py" in wanted
    with zipfile.ZipFile(installed.wheel) as wheel:
        in_wheel = set(wheel.namelist())
    assert [f for f in wanted if f not in in_wheel] == []
    with tarfile.open(installed.sdist) as sdist:
        in_sdist = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert [f for f in wanted if f not in in_sdist] == []
    assert "MANIFEST.in" in in_sdist
    # a fresh venv: the gateway comes from the wheel, not from this checkout
    located = _run(
        [str(installed.venv / "bin" / "python"), "-c", "import gateway, sys; print(gateway.__file__, sys.prefix)"],
        cwd="/",
        env=_clean_env(),
    ).stdout.split()
    assert Path(located[0]).is_relative_to(installed.venv)
    cfg = (installed.venv / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in cfg


@pytest.fixture
def newcomer(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """An unrelated empty folder and an environment that sets only XGW_SCHEMA_DIR (and a private cache)."""
    work = tmp_path / "somewhere else"
    work.mkdir()
    env = _clean_env()
    env["XGW_SCHEMA_DIR"] = str(SHARED)
    env["HOME"] = str(tmp_path / "home")  # the compiled-schema cache lands in ~/.cache: keep it private
    return work, env


def test_validate_inspect_generate_from_an_unrelated_folder(
    installed: Installed, newcomer: tuple[Path, dict[str, str]]
) -> None:
    work, env = newcomer
    xgw = installed.xgw()
    assert "xgw" in _run([xgw, "--version"], cwd=work, env=env).stdout
    assert "FAIL" not in _run([xgw, "schemas", "check"], cwd=work, env=env).stdout
    generated = _run([xgw, "generate", "--out", "out", "--size", "64KiB"], cwd=work, env=env).stdout.split()
    assert len(generated) == 1
    package = work / generated[0]  # as printed: relative to the working folder (or absolute)
    assert package.is_file()
    validated = _run([xgw, "validate", "out", str(VALID_SAMPLE)], cwd=work, env=env)
    assert "INVALID" not in validated.stdout
    assert ", 0 invalid" in validated.stderr
    inspected = _run([xgw, "inspect", str(package)], cwd=work, env=env)
    assert "Absender" in inspected.stdout
    # a command that reads gateway state refuses here, and leaves the folder as it was
    before = sorted(p.name for p in work.iterdir())
    refused = subprocess.run([xgw, "queue", "ls"], cwd=work, env=env, capture_output=True, text=True, check=False)
    assert refused.returncode == 2
    assert f"no gateway data in {work / 'var'}" in refused.stderr
    assert sorted(p.name for p in work.iterdir()) == before


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def demo_server(
    installed: Installed, newcomer: tuple[Path, dict[str, str]]
) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """``xgw serve --demo`` of the installed wheel in the unrelated folder (data in its ./var), until /readyz."""
    work, env = newcomer
    port = _free_port()
    log = (work.parent / "serve.log").open("wb")
    server = subprocess.Popen(
        [installed.xgw(), "serve", "--demo", "--port", str(port)], cwd=work, env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, (work.parent / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "xgw serve --demo did not come up in 90 s"
            try:
                if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield base, work, env
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


def test_serve_demo_from_the_installed_wheel(
    installed: Installed, demo_server: tuple[str, Path, dict[str, str]]
) -> None:
    base, work, env = demo_server
    assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
    ready = httpx.get(f"{base}/readyz").json()
    assert ready["checks"] == {"database": "ok", "migrations": "ok", "schemas": "ok"}
    database = work / "var" / "gateway.db"
    assert database.is_file()
    with sqlite3.connect(database) as connection:
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision
    # a token of our own from the same data directory, as an operator would make one
    token = _run(
        [installed.xgw(), "tokens", "create", "lth:16000100", "--scope", "submit,read"], cwd=work, env=env
    ).stdout.strip()
    listed = httpx.get(f"{base}/api/v1/messages", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200, listed.text
    assert httpx.get(f"{base}/api/v1/messages").status_code == 401
    for port in PORTS:
        wsdl = httpx.get(f"{base}/services/XTAService/{port}?wsdl")
        assert wsdl.status_code == 200, (port, wsdl.text[:300])
        assert "definitions" in wsdl.text
    login = httpx.get(f"{base}/console/login")
    assert login.status_code == 200
    assert "<form" in login.text
    participants = _run([installed.xgw(), "participants", "list", "--json"], cwd=work, env=env).stdout
    assert "lth:16000100" in participants


def test_the_demo_accepts_a_generated_package_and_the_queue_finds_it(
    installed: Installed, demo_server: tuple[str, Path, dict[str, str]]
) -> None:
    """The newcomer's round: generate (defaults), submit as the demo district, list, show, download."""
    base, work, env = demo_server
    xgw = installed.xgw()
    package = work / _run([xgw, "generate", "--out", "out", "--size", "32KiB"], cwd=work, env=env).stdout.strip()
    token = _run([xgw, "tokens", "create", "psw:16077000"], cwd=work, env=env).stdout.strip()
    submitted = httpx.post(
        f"{base}/api/v1/messages",
        content=package.read_bytes(),
        headers={"Authorization": f"Bearer {token}", "X-Filename": package.name},
    )
    assert submitted.status_code == 201, submitted.text
    created = submitted.json()
    assert (created["sender"], created["recipient"], created["xdomea_version"]) == (
        "psw:16077000",
        "lth:16000100",
        "3.1.0",
    )
    listed = _run([xgw, "queue", "ls"], cwd=work, env=env)
    assert created["id"] in listed.stdout
    shown = _run([xgw, "queue", "show", created["id"][:8]], cwd=work, env=env)
    assert shown.stdout.startswith(created["id"])
    downloaded = _run([xgw, "queue", "payload", created["id"][:8], "-o", "copy.zip"], cwd=work, env=env)
    assert (work / "copy.zip").read_bytes() == package.read_bytes(), downloaded.stderr
