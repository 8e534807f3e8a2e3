"""Reload the FLE config from its directory (SIGHUP): validate fully first, keep the old one on any error."""

from __future__ import annotations

import asyncio
import logging

from profiles import ConfigError, load_config_dir

from .compiled import CompiledConfig
from .runtime import Runtime

log = logging.getLogger("edge_proxy")


def _load(runtime: Runtime) -> CompiledConfig:
    """Load, validate and compile the config (keys bound, patterns indexed): all of it off the event loop."""
    source = runtime.settings.source
    assert source is not None
    config = load_config_dir(source.directory).only_config(source.config_id)
    return runtime.compile(config)


async def reload_config(runtime: Runtime) -> bool:
    """True when a new config is active; False (old config kept, error logged) otherwise."""
    if runtime.settings.source is None:
        log.error("config reload: this proxy was not started from a config directory")
        runtime.metrics.reloads.labels("error").inc()
        return False
    try:
        compiled = await asyncio.to_thread(_load, runtime)
    except ConfigError as e:
        log.error("config reload failed, keeping config %s: %s", runtime.live.config.id, e)
        runtime.metrics.reloads.labels("error").inc()
        return False
    except Exception:  # a bug must not take the running config down with it
        log.exception("config reload failed unexpectedly, keeping config %s", runtime.live.config.id)
        runtime.metrics.reloads.labels("error").inc()
        return False
    runtime.swap(compiled)
    runtime.metrics.reloads.labels("ok").inc()
    log.info("config reloaded: now using FLE config %s", compiled.config.id)
    return True
