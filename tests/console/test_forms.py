"""Forms generated from the adapters' configuration models: fields, descriptions, and what posted text becomes."""

from __future__ import annotations

from adapters.cmis.config import CmisConfig
from adapters.hotfolder.config import HotfolderConfig
from adapters.mayan.config import MayanConfig
from gateway.console.forms import adapter_model, attribute_comments, form_fields, read_form, value_text


def test_each_installed_kind_has_its_model_and_every_field_a_form_input() -> None:
    assert adapter_model("hotfolder") is HotfolderConfig
    assert adapter_model("mayan") is MayanConfig
    assert adapter_model("cmis") is CmisConfig
    assert adapter_model("nonesuch") is None
    for model in (HotfolderConfig, MayanConfig, CmisConfig):
        assert [f.name for f in form_fields(model)] == [n for n in model.model_fields if n != "kind"]


def test_fields_carry_type_default_bounds_and_the_comment_above_them() -> None:
    fields = {f.name: f for f in form_fields(HotfolderConfig)}
    assert fields["poll_interval"].kind == "number" and (
        fields["poll_interval"].minimum,
        fields["poll_interval"].maximum,
    ) == (0, 3600)
    assert fields["per_type"].kind == "select" and fields["per_type"].choices == ("true", "false")
    assert fields["preset"].choices == ("xman",) and not fields["preset"].required
    assert fields["transfer_dirs"].kind == "mapping"
    assert fields["file_mode"].default == "0640"  # read back as octal by the model's own validator
    assert "seconds a file's size" in (fields["poll_interval"].help or "")
    assert "url" not in attribute_comments(MayanConfig) or attribute_comments(MayanConfig)["url"].startswith(
        "the Mayan"
    )
    assert {f.name for f in form_fields(MayanConfig) if f.required} == {
        "url",
        "sender_name",
        "recipient",
        "recipient_name",
    }


def test_posted_text_becomes_the_models_input_and_what_is_stored_reads_back() -> None:
    posted = {
        "a-path": "/srv/dms",
        "a-per_type": "true",
        "a-file_mode": "0600",
        "a-poll_interval": "2.5",
        "a-inbox": "  ",
    }
    result = read_form(HotfolderConfig, posted, prefix="a-", fixed={"kind": "hotfolder"})
    assert result.ok
    assert result.values == {
        "kind": "hotfolder",
        "path": "/srv/dms",
        "per_type": True,
        "file_mode": 0o600,
        "poll_interval": 2.5,
    }
    assert value_text(HotfolderConfig, "file_mode", result.values["file_mode"]) == "0600"
    mayan = read_form(
        MayanConfig,
        {
            "a-url": "https://dms/",
            "a-token_env": "T",
            "a-sender_name": "true",
            "a-recipient": "psw:1",
            "a-recipient_name": "A",
        },
        prefix="a-",
        fixed={"kind": "mayan"},
    )
    assert mayan.values["sender_name"] == "true"  # a text field keeps the text "true"


def test_problems_come_back_beside_their_field_or_for_the_whole_form() -> None:
    bad = read_form(
        HotfolderConfig, {"a-path": "/x", "a-poll_interval": "soon"}, prefix="a-", fixed={"kind": "hotfolder"}
    )
    assert set(bad.errors) == {"poll_interval"} and not bad.values
    both = read_form(HotfolderConfig, {"a-path": "/x", "a-url": "https://d/"}, prefix="a-", fixed={"kind": "hotfolder"})
    assert both.errors == {"": "give exactly one of path (a local directory) and url (WebDAV)"}
    lines = read_form(
        HotfolderConfig, {"a-path": "/x", "a-answer_dirs": "0502"}, prefix="a-", fixed={"kind": "hotfolder"}
    )
    assert lines.errors == {"answer_dirs": "line 1: write key = value"}
