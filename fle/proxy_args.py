"""`fle proxy`'s flags: where, what, the limits, timeouts, client and buffering settings, and processes.

Kept apart from cmd_proxy.py (which turns them into ProxySettings and runs the proxy) because they are
many: the defaults shown in --help come from the settings classes themselves.
"""

from __future__ import annotations

import argparse
import dataclasses
import os

from edge_proxy import Buffering, ClientLimits, Limits, ProxySettings, Timeouts
from edge_proxy.serving import workers
from edge_proxy.serving.loops import CHOICES

from . import argtypes

_DEFAULT_LIMITS = Limits()
_DEFAULT_TIMEOUTS = Timeouts()
_DEFAULT_CLIENT = ClientLimits()
_DEFAULT_BUFFERING = Buffering()
_DEFAULT_AHEAD = next(f.default for f in dataclasses.fields(ProxySettings) if f.name == "messages_ahead")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Every flag of `fle proxy`, with its default and help."""
    p.add_argument("--config", required=True, metavar="DIR", help="directory of CloudFront FLE JSON files")
    p.add_argument(
        "--config-id", metavar="ID", help="which FieldLevelEncryption config (if the directory has several)"
    )
    p.add_argument(
        "--origin",
        required=True,
        type=argtypes.http_url,
        metavar="URL",
        help="origin base URL, e.g. http://127.0.0.1:8081",
    )
    p.add_argument("--listen", default="127.0.0.1:8080", type=argtypes.listen_address, metavar="HOST:PORT")
    p.add_argument(
        "--admin",
        default="127.0.0.1:9180",
        type=argtypes.listen_address_or_off,
        metavar="HOST:PORT",
        help="admin listener for /healthz, /readyz, /metrics ('off' to disable)",
    )
    p.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate chain")
    p.add_argument("--tls-key", metavar="PEM", help="the certificate's private key")
    p.add_argument(
        "--access-log", default="-", metavar="PATH", help="JSON access log file ('-': stdout, 'off')"
    )
    p.add_argument(
        "--index-keys",
        default=os.environ.get("FLE_INDEX_KEYS") or None,
        metavar="FILE",
        help="index keys of the profiles' blind indexes (Fle:Indexes; docs/search.md), "
        "default $FLE_INDEX_KEYS",
    )
    p.add_argument(
        "--messages-ahead",
        type=int,
        default=_DEFAULT_AHEAD,
        metavar="N",
        help="ESDK messages opened ahead per public key and suite, each used for one value only, made on "
        "the event loop between requests (0: each value opens its own when it comes; docs/security.md)",
    )
    limits = p.add_argument_group("limits (defaults: CloudFront's field-level encryption quotas)")
    _count(limits, "--max-body-bytes", _DEFAULT_LIMITS.max_body_bytes)
    _count(limits, "--max-field-bytes", _DEFAULT_LIMITS.max_field_bytes)
    _count(limits, "--max-encrypted-fields", _DEFAULT_LIMITS.max_encrypted_fields)
    _count(
        limits,
        "--max-fields",
        _DEFAULT_LIMITS.max_fields,
        "fields of a form, or parts of a multipart body, read under a profile",
    )
    times = p.add_argument_group("timeouts, in seconds")
    _seconds(times, "--origin-connect-timeout", _DEFAULT_TIMEOUTS.origin_connect)
    _seconds(times, "--origin-read-timeout", _DEFAULT_TIMEOUTS.origin_read)
    _seconds(times, "--client-idle-timeout", _DEFAULT_TIMEOUTS.client_idle)
    _seconds(times, "--shutdown-timeout", _DEFAULT_TIMEOUTS.shutdown)
    _seconds(
        times,
        "--origin-wait-timeout",
        _DEFAULT_TIMEOUTS.origin_wait,
        "for a free origin connection when all are in use; then 503 OriginBusy",
    )
    _seconds(
        times,
        "--client-write-timeout",
        _DEFAULT_TIMEOUTS.client_write,
        "one write of the answer waiting this long for the client to read cuts the connection",
    )
    client = p.add_argument_group("client connections")
    _count(client, "--max-header-bytes", _DEFAULT_CLIENT.max_header_bytes)
    _count(client, "--max-headers", _DEFAULT_CLIENT.max_headers)
    _seconds(client, "--header-timeout", _DEFAULT_CLIENT.header_timeout)
    _count(client, "--max-connections", _DEFAULT_CLIENT.max_connections)
    _count(
        client,
        "--max-client-connections",
        _DEFAULT_CLIENT.max_client_connections,
        "connections open at once from one client address, per worker (0: no limit)",
    )
    buffers = p.add_argument_group("buffering (a slow client never holds an origin connection)")
    _on_off(
        buffers,
        "--request-buffering",
        "read a request body whole before taking an origin connection (off: stream it)",
    )
    _on_off(
        buffers,
        "--response-buffering",
        "read the origin's answer as fast as it comes (off: at the client's pace)",
    )
    _count(
        buffers,
        "--buffer-memory-bytes",
        _DEFAULT_BUFFERING.memory_bytes,
        "of one body kept in memory; the rest goes to a temporary file",
    )
    _count(
        buffers,
        "--max-request-buffer-bytes",
        _DEFAULT_BUFFERING.max_request_bytes,
        "largest request body buffered; a larger one is refused (413)",
    )
    _count(
        buffers,
        "--max-response-buffer-bytes",
        _DEFAULT_BUFFERING.max_response_bytes,
        "of one answer buffered ahead of the client",
    )
    _count(
        buffers,
        "--buffer-disk-bytes",
        _DEFAULT_BUFFERING.disk_bytes,
        "of all buffered bodies in temporary files at once, per worker",
    )
    buffers.add_argument(
        "--buffer-dir", metavar="DIR", help="for the temporary files (default: $TMPDIR, else /tmp)"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=workers.default_workers(),
        metavar="N",
        help="worker processes sharing the port with SO_REUSEPORT (default: the number of cores); "
        "one admin listener (--admin) serves all of them",
    )
    p.add_argument(
        "--loop",
        choices=CHOICES,
        default="auto",
        help="event loop: uvloop (the 'fast' extra) or the standard asyncio one; "
        "auto (default) takes uvloop when it is installed",
    )


# Most of `fle proxy`'s tuning flags are one of these three kinds: one place says how each kind is parsed
# and shown in --help (a count is an int shown as N, a duration a float in seconds shown as S).
def _count(group: argparse._ArgumentGroup, flag: str, default: int, help: str | None = None) -> None:
    group.add_argument(flag, type=int, default=default, metavar="N", help=help)


def _seconds(group: argparse._ArgumentGroup, flag: str, default: float, help: str | None = None) -> None:
    group.add_argument(flag, type=float, default=default, metavar="S", help=help)


def _on_off(group: argparse._ArgumentGroup, flag: str, help: str) -> None:
    group.add_argument(flag, choices=("on", "off"), default="on", help=help)
