"""A real Mayan EDMS for the tests and the benchmark: installed into its own virtual environment, initialised
once into a cached template, copied per run into a private media directory and served by gunicorn on loopback.

Why a separate venv: Mayan pins Django, Celery and some fifty other packages that must not meet the
gateway's dependencies. Why cached: ``pip install mayan-edms`` takes over a minute and the first
``common_initial_setup`` (330 migrations) most of another; both results depend only on the Mayan version,
so they are kept in ``~/.cache/xoev-gateway/mayan-venv-<version>`` (``XGW_MAYAN_VENV`` overrides the place)
and every later run only copies a 2 MB media template and starts gunicorn. A lock file makes concurrent
runs (two xdist workers, two checkouts) install once; a marker file written last makes an interrupted
install start over instead of being trusted.

The settings module makes Celery run tasks eagerly in the web process (no broker, no worker), keeps task
errors from failing requests (LibreOffice and tesseract are not installed, and their tasks are not what we
test) and switches off django-axes, whose lock-out after refused logins would otherwise spill from one test
into the next. ``common_initial_setup --no-dependencies`` skips the step that fetches JavaScript from npm,
so the setup needs no network beyond PyPI.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

VERSION = "4.12.2"
ADMIN = "admin"
ADMIN_PASSWORD = "Admin-Pässwort-4.12"  # non-ASCII on purpose: Basic auth and token login carry UTF-8
REPO_ROOT = Path(__file__).resolve().parents[2]
MARKER = ".xgw-complete"

SETTINGS = """\
from mayan.settings.production import *  # noqa: F403

CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
AXES_ENABLED = False
DEBUG = False
"""

SET_PASSWORD = """\
from django.contrib.auth import get_user_model
user = get_user_model().objects.get(username={user!r})
user.set_password({password!r})
user.save()
print("users:", get_user_model().objects.count())
"""


class MayanSetupError(RuntimeError):
    """Mayan could not be installed, initialised or started; the message carries the tool's output."""


def venv_dir() -> Path:
    explicit = os.environ.get("XGW_MAYAN_VENV")
    if explicit:
        return Path(explicit)
    return Path.home() / ".cache" / "xoev-gateway" / f"mayan-venv-{VERSION}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(args: list[str], *, env: dict[str, str] | None = None, timeout: float, what: str) -> str:
    try:
        done = subprocess.run(
            args, env=env, capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as exc:
        raise MayanSetupError(f"{what}: no result after {timeout:.0f} s") from exc
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-4000:]
        raise MayanSetupError(f"{what} failed with exit code {done.returncode}:\n{tail}")
    return done.stdout


def _base_python() -> str:
    """A Python to create the venv from: the interpreter the project's venv was made from, if known."""
    return getattr(sys, "_base_executable", None) or sys.executable


def ensure_venv(venv: Path | None = None) -> Path:
    """The Mayan venv, installed if it is not there yet (headers first, via scripts/system-deps)."""
    venv = venv or venv_dir()
    with _locked(venv.with_name(venv.name + ".lock")):
        if (venv / MARKER).exists():
            return venv
        _run([str(REPO_ROOT / "scripts" / "system-deps")], timeout=600, what="scripts/system-deps")
        if venv.exists():
            shutil.rmtree(venv)  # an interrupted install is not trusted
        _run([_base_python(), "-m", "venv", str(venv)], timeout=120, what="python -m venv")
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        _run([*pip, f"mayan-edms=={VERSION}", "gunicorn"], timeout=900, what=f"pip install mayan-edms=={VERSION}")
        (venv / MARKER).write_text(VERSION + "\n")
    return venv


def _mayan_env(venv: Path, media: Path, settings_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAYAN_", "DJANGO_", "PYTHON"))}
    env.update(
        MAYAN_MEDIA_ROOT=str(media),
        PYTHONPATH=str(settings_dir),
        DJANGO_SETTINGS_MODULE="xgw_mayan_settings",
        PATH=f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}",
    )
    return env


def _write_settings(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "xgw_mayan_settings.py").write_text(SETTINGS)
    return folder


def ensure_template(venv: Path) -> Path:
    """An initialised media directory (SQLite database with the admin's password set), made once per venv."""
    template = venv / "xgw-media-template"
    with _locked(venv / "xgw-media-template.lock"):
        if (template / MARKER).exists():
            return template
        if template.exists():
            shutil.rmtree(template)
        settings_dir = _write_settings(venv / "xgw-settings")
        env = _mayan_env(venv, template, settings_dir)
        manage = [str(venv / "bin" / "python"), str(venv / "bin" / "mayan-edms.py")]
        _run([*manage, "common_initial_setup", "--force", "--no-dependencies"], env=env, timeout=600, what="setup")
        script = SET_PASSWORD.format(user=ADMIN, password=ADMIN_PASSWORD)
        out = _run([*manage, "shell", "-c", script], env=env, timeout=300, what="setting the admin password")
        if "users: " not in out:  # the database answered a query: migrations really ran
            raise MayanSetupError(f"the initialised database did not answer: {out[-2000:]}")
        (template / MARKER).write_text(str(template) + "\n")
    return template


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MayanServer:
    """One Mayan instance with its own media directory; ``kill()``/``start()`` keep the port and the data."""

    def __init__(self, venv: Path, template: Path, workdir: Path) -> None:
        self.venv = venv
        self.media = workdir / "media"
        shutil.copytree(template, self.media, ignore=shutil.ignore_patterns(MARKER, "static"))
        # config.yml names the directory it was written in; point it at the copy
        config = self.media / "config.yml"
        if config.exists():
            config.write_text(config.read_text(encoding="utf-8").replace(str(template), str(self.media)))
        self.settings_dir = _write_settings(workdir / "settings")
        self.log = workdir / "gunicorn.log"
        self.port = _free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 90) -> None:
        env = _mayan_env(self.venv, self.media, self.settings_dir)
        args = [
            str(self.venv / "bin" / "python"),
            "-m",
            "gunicorn",
            "mayan.wsgi",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            "1",
            "--threads",
            "2",
            "--timeout",
            "300",
        ]
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(  # one process group: kill() takes the worker with the master
                args, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise MayanSetupError(f"gunicorn exited with {self._proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "api/v4/", timeout=5, auth=(ADMIN, ADMIN_PASSWORD)).status_code == 200:
                    return
            time.sleep(0.3)
        self.kill()
        raise MayanSetupError(f"Mayan did not answer on {self.url} within {timeout:.0f} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """Stop at once (SIGKILL to master and worker), as a crash or a pulled cable would."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, sig: signal.Signals) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        self._proc = None
        # the worker may outlive the master by a moment; wait until the port is free again
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.1)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


def provide(workdir: Path) -> MayanServer:
    """Install (cached), initialise (cached) and start a private Mayan under ``workdir``."""
    venv = ensure_venv()
    template = ensure_template(venv)
    server = MayanServer(venv, template, workdir)
    server.start()
    return server
