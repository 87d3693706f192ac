"""Reading files: load_config_file and check_config_file (``billing config check``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing.config.loader import MAX_FILE_BYTES, ConfigError, check_config_file, load_config_file

from .support import ENV, EXAMPLE


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config_file(path)
    assert caught.value.problems == [f"{path}: cannot read: No such file or directory"]
    assert caught.value.source == str(path)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config_file(tmp_path)


def test_file_over_5_mb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    with pytest.raises(ConfigError, match="larger than 5 MB"):
        load_config_file(path)


def test_file_must_be_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("version: 'caf\xe9'\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"not valid UTF-8 \(byte 13\)"):
        load_config_file(path)


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfbalance: {enabled: true}\n")
    assert load_config_file(path).balance.enabled is True


def test_source_is_recorded(tmp_path: Path) -> None:
    path = tmp_path / "librechat.yaml"
    path.write_text("version: 1.3.0\n", encoding="utf-8")
    assert load_config_file(path).source == str(path)


def test_check_valid_file_reports_warnings() -> None:
    problems, warnings = check_config_file(EXAMPLE, environ=ENV)
    assert problems == []
    assert len(warnings) == 1 and warnings[0].startswith("endpoints.custom[2].userIdQuery:")


def test_check_invalid_file_reports_every_problem_and_warning(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("balance: {startBalance: lots, refillIntervalValue: 0}\nextra: 1\n")
    problems, warnings = check_config_file(path, environ={})
    assert problems == [
        "balance.startBalance: must be a number, got a string (line 1)",
        "balance.refillIntervalValue: must be a positive integer (line 1)",
    ]
    assert warnings == ["extra: unknown key (ignored) (line 2)"]


def test_check_missing_file(tmp_path: Path) -> None:
    problems, warnings = check_config_file(tmp_path / "absent.yaml")
    assert "cannot read" in problems[0] and warnings == []
