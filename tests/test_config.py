from pathlib import Path

import pytest

from gateway.config import Settings


def test_env_overrides_nested_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XGW_LIMITS__MAX_XML_DEPTH", "17")
    monkeypatch.setenv("XGW_DATA_DIR", "/tmp/xgw-data")
    s = Settings()
    assert s.limits.max_xml_depth == 17
    assert s.data_dir == Path("/tmp/xgw-data")


def test_toml_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "gw.toml"
    cfg.write_text('data_dir = "/srv/xgw"\n[limits]\nmax_record_depth = 5\n')
    monkeypatch.setenv("XGW_CONFIG", str(cfg))
    s = Settings()
    assert s.data_dir == Path("/srv/xgw")
    assert s.limits.max_record_depth == 5


def test_env_beats_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "gw.toml"
    cfg.write_text('data_dir = "/srv/xgw"\n')
    monkeypatch.setenv("XGW_CONFIG", str(cfg))
    monkeypatch.setenv("XGW_DATA_DIR", "/env/wins")
    assert Settings().data_dir == Path("/env/wins")


def test_unknown_toml_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "gw.toml"
    cfg.write_text("no_such_setting = 1\n")
    monkeypatch.setenv("XGW_CONFIG", str(cfg))
    with pytest.raises(ValueError, match="no_such_setting"):
        Settings()


def test_default_schema_dir_finds_shared_bundle() -> None:
    assert (Settings().schema_dir / "xdomea").is_dir()
