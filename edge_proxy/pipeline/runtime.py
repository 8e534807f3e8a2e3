"""The proxy's live state: settings, the active config with its bound keys, metrics, and drain status.

Everything a request needs is read once from `Runtime.live` at its start, so a reload in the middle of a
request never mixes two configs in one body.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiohttp import web

from profiles import FleConfig

from .compiled import CompiledConfig
from .metrics import Metrics
from .settings import ProxySettings


@dataclass(frozen=True, slots=True)
class Live:
    """One loaded config with what the edge derived from it at load: keys, encoders, indexed patterns.

    `config` is the compiled one's, kept as a field rather than a property: every request reads it, and a
    field is read with no call (this module is then not on a request's walk at all, docs/architecture.md).
    """

    compiled: CompiledConfig
    config: FleConfig = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "config", self.compiled.config)


class Runtime:
    """Shared by the proxy app and its admin app."""

    def __init__(self, settings: ProxySettings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.live = Live(self.compile(settings.config))
        self.draining = False
        self.metrics.config_info.set(time.time())

    def compile(self, config: FleConfig) -> CompiledConfig:
        """`config` compiled with this proxy's index keys and openings (at start and on every reload)."""
        return CompiledConfig(
            config,
            index_keys=self.settings.index_keys,
            ahead=self.settings.messages_ahead,
            counted=self.metrics.count_messages_opened,
        )

    def swap(self, compiled: CompiledConfig) -> None:
        """Make `compiled` the active config for every request that starts from now on."""
        self.live = Live(compiled)
        self.metrics.config_info.set(time.time())


RUNTIME = web.AppKey("runtime", Runtime)
