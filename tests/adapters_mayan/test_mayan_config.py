"""The Mayan adapter's configuration and its documentation, without a Mayan: what an administrator reads and
writes must say the same as the code (every installed adapter listed, every option of the Mayan adapter
documented, no silent placeholder names in exported messages)."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from adapters.mayan.config import MayanConfig
from adapters.registry import adapter_kinds
from gateway.config import REPO_ROOT

DOCS = REPO_ROOT / "docs" / "adapters.md"
MINIMAL = {
    "url": "https://dms.example.de/",
    "token_env": "XGW_MAYAN_TOKEN",
    "sender_name": "Landratsamt Gotha",
    "recipient": "psw:16000001",
    "recipient_name": "Thüringisches Landesarchiv",
}


def test_every_installed_adapter_is_listed_in_the_docs() -> None:
    text = DOCS.read_text(encoding="utf-8")
    paragraph = text[text.index("Installed adapters:") :].split("\n\n")[0]
    assert set(re.findall(r"`([a-z0-9-]+)`", paragraph)) >= set(adapter_kinds())


def test_every_mayan_option_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("## Mayan EDMS") : text.index("## CMIS")]
    undocumented = [name for name in MayanConfig.model_fields if f"`{name}`" not in section]
    assert undocumented == []


@pytest.mark.parametrize("missing", ["sender_name", "recipient", "recipient_name"])
def test_names_in_exported_messages_are_required_not_placeholders(missing: str) -> None:
    with pytest.raises(ValidationError) as refused:
        MayanConfig.model_validate({k: v for k, v in MINIMAL.items() if k != missing})
    assert [e["loc"] for e in refused.value.errors()] == [(missing,)]


def test_the_sender_defaults_to_the_participant_and_nothing_else_is_made_up() -> None:
    config = MayanConfig.model_validate(MINIMAL)
    assert config.sender is None  # the adapter's own participant, see MayanAdapter._message
    assert (config.sender_name, config.recipient, config.recipient_name) == (
        "Landratsamt Gotha",
        "psw:16000001",
        "Thüringisches Landesarchiv",
    )
