"""Load and validate a librechat.yaml-style config file into an AppConfig.

Every problem in a file is collected and reported with its key path (and
line, where known), e.g. ``endpoints.custom[2].tokenConfig.gpt-4o.prompt:
must be >= 0 (line 31)``. Only what LibreChat itself refuses is a problem
(plus unsafe YAML and values billing cannot use for money); everything else
LibreChat would run with, such as unknown keys or an unset ``${VAR}``, is a
warning.
Numbers are Decimal (or int) from end to end.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from billing.config.document import build_config
from billing.config.errors import ConfigError
from billing.config.issues import Issues
from billing.config.model import AppConfig
from billing.config.values import Checker
from billing.config.yaml_safe import parse_yaml

__all__ = [
    "MAX_FILE_BYTES",
    "ConfigError",
    "check_config_file",
    "load_config_file",
    "parse_config",
    "read_config_text",
]

MAX_FILE_BYTES = 5 * 1024 * 1024


def parse_config(
    text: str, *, source: str | None = None, environ: Mapping[str, str] | None = None
) -> AppConfig:
    """Validate config text; raises ConfigError listing every problem.

    ``environ`` (default ``os.environ``) resolves ``${VAR}`` references.
    """
    try:
        document, marks, duplicates = parse_yaml(text)
    except ConfigError as exc:
        exc.source = source
        raise
    issues = Issues(marks)
    for path, message in duplicates:
        issues.error(path, message, locate=False)  # the message already names both lines
    config = build_config(Checker(issues, os.environ if environ is None else environ), document)
    if issues.errors:
        raise ConfigError(issues.errors, warnings=issues.warnings, source=source)
    return dataclasses.replace(config, warnings=tuple(issues.warnings), source=source)


def load_config_file(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
) -> AppConfig:
    """Read and validate a config file (UTF-8, at most 5 MB)."""
    name = os.fspath(path)
    return parse_config(read_config_text(name), source=name, environ=environ)


def read_config_text(path: str | os.PathLike[str]) -> str:
    """A config file's text (UTF-8, at most 5 MB); ConfigError when it cannot be read."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)  # bounded even if the file grows meanwhile
    except OSError as exc:
        raise ConfigError([f"{name}: cannot read: {exc.strerror or exc}"], source=name) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError([f"{name}: larger than 5 MB; refusing to load it"], source=name)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{name}: not valid UTF-8 (byte {exc.start})"], source=name) from None
    return text


def check_config_file(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
) -> tuple[list[str], list[str]]:
    """For ``billing config check``: (problems, warnings); no problems means valid."""
    try:
        config = load_config_file(path, environ=environ)
    except ConfigError as exc:
        return list(exc.problems), list(exc.warnings)
    return [], list(config.warnings)
