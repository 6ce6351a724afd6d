"""Message state has one owner: nothing outside ``gateway/pipeline/lifecycle.py`` writes it or its history.

Read from the source with ``ast`` so that it holds by test, not by discipline: building a
``MessageEvent``, an UPDATE's ``.values(state=...)`` or an assignment to ``<something>.state`` anywhere
else in ``gateway/`` or ``adapters/`` fails here with the file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OWNER = "gateway/pipeline/lifecycle.py"
#: the table itself (ORM model) and migrations define, they do not write
EXEMPT = {"gateway/store/models.py"}


def offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name == "MessageEvent":
                found.append(f"line {node.lineno}: builds a MessageEvent")
            if name == "values" and any(k.arg == "state" for k in node.keywords):
                found.append(f"line {node.lineno}: UPDATE ... .values(state=...)")
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr == "state":
                    found.append(f"line {node.lineno}: assigns .state")
    return found


def sources() -> list[Path]:
    files = [*(ROOT / "gateway").rglob("*.py"), *(ROOT / "adapters").rglob("*.py")]
    return sorted(p for p in files if "migrations" not in p.parts)


def test_only_the_lifecycle_writes_message_state() -> None:
    report = []
    for path in sources():
        relative = path.relative_to(ROOT).as_posix()
        if relative == OWNER or relative in EXEMPT:
            continue
        report += [f"{relative} {what}" for what in offences(path)]
    assert not report, "message state written outside gateway/pipeline/lifecycle.py:\n" + "\n".join(report)


@pytest.mark.parametrize(
    "snippet",
    [
        "MessageEvent(message_id=1, to_state=s, actor='a', reason='r')",
        "session.exec(update(Message).values(state=s))",
        "message.state = s",
    ],
)
def test_the_check_sees_each_kind_of_write(tmp_path: Path, snippet: str) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(snippet + "\n", encoding="utf-8")
    assert offences(probe)


def test_the_owner_is_where_the_check_says() -> None:
    assert offences(ROOT / OWNER), "the owner module no longer writes state: update OWNER"
