"""`fle proxy --config DIR --origin URL --listen HOST:PORT`"""

from __future__ import annotations

import argparse
import logging

from yarl import URL

from edge_proxy import ProxySettings, build_app
from profiles import ConfigError, load_config_dir

from . import cli, serve, workers

log = logging.getLogger("fle")


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = commands.add_parser("proxy", help="run the field-level encryption edge proxy")
    p.add_argument("--config", required=True, metavar="DIR", help="directory of CloudFront FLE JSON files")
    p.add_argument(
        "--config-id", metavar="ID", help="which FieldLevelEncryption config (if the directory has several)"
    )
    p.add_argument(
        "--origin", required=True, metavar="URL", help="origin base URL, e.g. http://127.0.0.1:8081"
    )
    p.add_argument("--listen", default="127.0.0.1:8080", metavar="HOST:PORT")
    p.add_argument(
        "--workers",
        type=int,
        default=workers.default_workers(),
        metavar="N",
        help="worker processes sharing the port with SO_REUSEPORT (default: the number of cores)",
    )
    p.set_defaults(run=run)


def proxy_settings(config_dir: str, origin: str, config_id: str | None = None) -> ProxySettings:
    try:
        config = load_config_dir(config_dir).only_config(config_id)
    except ConfigError as e:
        raise cli.CliError(str(e)) from e
    url = URL(origin)
    if url.scheme not in ("http", "https") or not url.host:
        raise cli.CliError(f"--origin {origin!r}: expected an http:// or https:// URL")
    return ProxySettings(origin=url, config=config)


def run(args: argparse.Namespace) -> int:
    settings = proxy_settings(args.config, args.origin, args.config_id)
    try:
        host, port = serve.parse_listen(args.listen)
    except ValueError as e:
        raise cli.CliError(str(e)) from e
    if args.workers != 1:
        return _run_workers(settings, host, port, args.workers)

    async def main() -> None:
        runner, url = await serve.start_site(build_app(settings), host, port)
        log.info(
            "proxy listening on %s, forwarding to %s (config %s)", url, settings.origin, settings.config.id
        )
        try:
            await serve.until_signalled()
        finally:
            await runner.cleanup()

    return serve.run(main)


def _run_workers(settings: ProxySettings, host: str, port: int, count: int) -> int:
    def ready(url: str) -> None:
        log.info(
            "proxy listening on %s with %d workers, forwarding to %s (config %s)",
            url,
            count,
            settings.origin,
            settings.config.id,
        )

    try:
        return workers.run(lambda: build_app(settings), workers.WorkerPlan(host, port, count), ready)
    except workers.WorkersError as e:
        raise cli.CliError(str(e)) from e
