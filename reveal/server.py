"""Start the reveal listener: the edge's one `start_site` (TLS, client limits, keep-alive idle limit)."""

from __future__ import annotations

import ssl

from decryptor import AuditLog, Decryptor
from edge_proxy import Listener, start_site

from .app import make_app
from .routes import RevealConfig
from .settings import RevealSettings


async def start_reveal(
    config: RevealConfig,
    decryptor: Decryptor,
    audit_log: AuditLog,
    host: str,
    port: int,
    *,
    settings: RevealSettings | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[Listener, str]:
    """Serve reveal on host:port (0: any free port); returns the listener (cleanup() stops it) and URL."""
    settings = settings or RevealSettings()
    app = make_app(config, decryptor, audit_log, settings)
    return await start_site(
        app,
        host,
        port,
        ssl_context=ssl_context,
        keepalive_timeout=settings.client_idle,
        client_limits=settings.client,
    )
