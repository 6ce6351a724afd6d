"""The block ``xgw serve --demo`` prints once it listens: where to sign in, with what, and what to try next.

It goes to standard output as plain text while the logs stay JSON lines on standard error, so a
newcomer reads it between the two without a log viewer, and a script can take a token from it by its
participant id. It is the only place the demo's secrets are shown (besides the 0600 tokens.env).
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

from gateway.demo.setup import DEMO_ARCHIVE, DEMO_DISTRICT, DemoSetup


def command_name(argv0: str | None = None) -> str:
    """How the reader calls xgw: ``xgw`` when that is the program on PATH, the checkout's ``scripts/xgw``
    when it runs from a checkout's ``.venv``, else the program as started."""
    program = Path(argv0 if argv0 is not None else sys.argv[0])
    if program.name != "xgw":
        return "xgw"
    found = shutil.which("xgw")
    if found is not None and Path(found).resolve() == program.resolve():
        return "xgw"
    script = program.absolute().parent.parent.parent / "scripts" / "xgw"
    if program.absolute().parent.parent.name == ".venv" and script.is_file():
        return shlex.quote(str(script))
    return shlex.quote(str(program))


def start_up_block(setup: DemoSetup, base_url: str, data_dir: Path, *, xgw: str | None = None) -> str:
    xgw = xgw or command_name()
    names = {t.participant: t.name for t in setup.tokens}
    width = max(len(t.name) for t in setup.tokens)
    tokens_file = shlex.quote(str(setup.tokens_file))
    lines = [
        "",
        f"xoev-gateway demo: {base_url}/",
        "",
        f"  Admin console  {base_url}/console",
        f"                 sign in as {setup.admin_name} / {setup.admin_password}   (new password at every start)",
        f"  REST API       {base_url}/api/v1",
        f"  API docs       {base_url}/docs   (Swagger UI; operations need a token: 'Authorize')",
        f"  Health         {base_url}/readyz",
        f"  Data           {data_dir}   (transfer directories under demo/)",
        "",
        "  API tokens (Authorization: Bearer ...), revoked at the next start:",
    ]
    for token in setup.tokens:
        lines.append(f"    {token.name:<{width}}  {token.participant:<13}  {token.secret}")
    lines += [
        f"  The same as shell variables: source {tokens_file}",
        "",
        f"  Try next: {names[DEMO_DISTRICT]} offers records to the {names[DEMO_ARCHIVE]} (0501)",
        f"    source {tokens_file}",
        f"    {xgw} generate --type 0501 --out offers",
        '    curl -sS -H "Authorization: Bearer $DISTRICT_TOKEN" --data-binary @"$(ls offers/*0501*.xml)" \\',
        '         "$XGW_URL/api/v1/messages"',
        '    curl -sS -H "Authorization: Bearer $ARCHIVE_TOKEN" "$XGW_URL/api/v1/messages?type=0501&direction=in"',
        "  The whole Aussonderung (0501 ... 0506) step by step: README.md, 'Walkthrough: an Aussonderung'.",
        "",
    ]
    return "\n".join(lines)
