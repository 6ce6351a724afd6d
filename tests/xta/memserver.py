"""A stand-alone XTA server process for memory measurements: ``python -m tests.xta.memserver <dir>``.

It serves an in-memory backend with the two test accounts on a free loopback port and writes the port
number to ``<dir>/port`` once it listens, so that the test can read this process's peak RSS from /proc.
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from gateway.config import Settings, XtaServer
from gateway.transport.xta.memory import Account, MemoryBackend

from .support import AUTHOR, READER, SHARED, make_app


def main(folder: Path) -> None:
    backend = MemoryBackend(folder / "content", [Account(AUTHOR), Account(READER)])
    config = XtaServer(dev_trust_loopback=True, spool_dir=folder / "spool")
    app = make_app(backend, Settings(schema_dir=SHARED, data_dir=folder / "data", xta_server=config))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))

    async def announce() -> None:
        port = server.servers[0].sockets[0].getsockname()[1]
        (folder / "port.tmp").write_text(str(port))
        (folder / "port.tmp").rename(folder / "port")

    original = server.startup

    async def startup(sockets: object = None) -> None:
        await original(sockets)  # type: ignore[arg-type]
        await announce()

    server.startup = startup  # type: ignore[method-assign]
    server.run()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
