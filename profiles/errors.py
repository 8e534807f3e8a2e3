"""Errors raised while loading an FLE configuration.

ConfigError          a configuration file or object is unusable (names the file and JSON path)
└── NoFleConfig      the directory loads but holds no field-level encryption config
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration file or object is unusable; the message names the file and the JSON path."""

    def __init__(self, message: str, *, file: str | None = None, path: str | None = None) -> None:
        self.file = file
        self.path = path
        self.reason = message
        where = ": ".join(p for p in (file, path) if p)
        super().__init__(f"{where}: {message}" if where else message)


class NoFleConfig(ConfigError):
    """The directory holds no field-level encryption config (public keys only, say): the CLI adds a hint."""
