"""`fle bench URL`: submit forms to a deployment at a set concurrency or rate, with live progress.

For a user's own proxy (or any URL that takes a form POST): reports throughput, latency percentiles and
status counts. Thin: the load itself is the `loadgen` package (pacing with `--rate`, progress, summary);
this command parses flags, checks the target encrypts something, and prints. For laboratory comparisons
against pass-through and a reference proxy, see `python -m benchmarks`.

HTTPS: `--cacert PEM` trusts a private CA; `--insecure` skips verification (with a warning). A benchmark
whose body encrypts nothing measures a plain pass-through, so bench warns: with `--config DIR` (the proxy's
configuration) it checks, as the proxy will, that the URL's profile protects at least one field sent; without
it, it warns when the first answer shows every value it sent, unchanged (an origin that echoes its input,
like the sample origin, then saw no ciphertext).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode

from . import argtypes, cli

if TYPE_CHECKING:
    import ssl

    from loadgen import Plan, Summary

SAMPLE_FORM = (("name", "Jane Doe"), ("email", "jane.doe@example.com"), ("phone", "404-555-0150"))


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("bench", help="load-test a deployment with form submissions")
    p.add_argument(
        "url",
        type=argtypes.http_url,
        metavar="URL",
        help="where forms are posted, e.g. https://edge.example.com/submit",
    )
    p.add_argument("--concurrency", "-c", type=int, default=16, metavar="N", help="requests in flight")
    p.add_argument("--duration", "-d", type=float, default=10.0, metavar="SECONDS", help="how long")
    p.add_argument("--requests", "-n", type=int, metavar="N", help="stop after N requests")
    p.add_argument("--rate", type=float, metavar="RPS", help="target requests per second (default: flat out)")
    p.add_argument(
        "--field",
        action="append",
        metavar="NAME=VALUE",
        help="form field to send (repeat; default: the sample form)",
    )
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS", help="per request")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.add_argument("--cacert", metavar="PEM", help="trust this CA (or certificate) for an https:// URL")
    p.add_argument("--insecure", action="store_true", help="do not verify the server's certificate (warns)")
    p.add_argument(
        "--config",
        metavar="DIR",
        help="the proxy's config directory: warn unless its profile for this URL protects a field sent",
    )
    p.add_argument("--config-id", metavar="ID", help="which config in --config (if it has several)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(run=run)


def tls_context(cacert: str | None, insecure: bool) -> ssl.SSLContext | None:
    """The TLS context for --cacert / --insecure; None for the system's trust store."""
    import ssl

    if cacert and insecure:
        raise cli.CliError("--cacert and --insecure exclude each other")
    if insecure:
        warn("--insecure: the server's certificate is not verified; anyone on the path can read the traffic")
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if cacert:
        try:
            return ssl.create_default_context(cafile=cacert)
        except (OSError, ssl.SSLError) as e:
            raise cli.CliError(f"--cacert {cacert}: cannot load it ({e})") from e
    return None


def warn(text: str) -> None:
    print(f"fle bench: warning: {text}", file=sys.stderr, flush=True)


def config_warning(config_dir: str, config_id: str | None, url: str, names: list[str]) -> str | None:
    """Why a form with these field names, posted to `url`, would encrypt nothing under the proxy's config
    in `config_dir` (the same selection the proxy makes), or None when at least one field is protected."""
    from yarl import URL

    from fields.refusals import Reason
    from profiles import QUERY_ARG_NAME, Action, BodyFormat, ConfigError, load_config_dir, select

    try:
        config = load_config_dir(config_dir).only_config(config_id)
    except ConfigError as e:
        raise cli.CliError(f"--config: {e}") from e
    query = URL(url).query.getall(QUERY_ARG_NAME, [])
    decision = select(config, "application/x-www-form-urlencoded", query)
    if decision.action is Action.REJECT:
        return f"the proxy refuses these requests ({decision.reason}): the benchmark measures refusals"
    if decision.profile is None:
        return "the proxy forwards form bodies to this URL unencrypted (no profile): nothing is encrypted"
    if BodyFormat.URL_ENCODED not in decision.profile.reads:  # a JSON query-argument profile
        return (
            f"the proxy refuses these requests ({Reason.PROFILE_FORMAT_MISMATCH}: profile "
            f"{decision.profile.id} cannot read form bodies): the benchmark measures refusals"
        )
    if not any(decision.profile.entity_for(name) for name in names):
        return (
            f"profile {decision.profile.id} protects none of the fields sent ({', '.join(names)}): "
            "nothing is encrypted; send a protected field with --field NAME=VALUE"
        )
    return None


def echo_warning(sent: list[tuple[str, str]], answer: str) -> str | None:
    """A warning when the answer shows every value sent, unchanged (values of 4+ characters only)."""
    values = [value for _, value in sent if len(value) >= 4]
    if values and all(value in answer for value in values):
        return (
            "the answer shows every value sent, unchanged: nothing seems encrypted (is the URL behind the "
            "proxy, and does its profile cover these fields? --config DIR checks)"
        )
    return None


def _plan(args: argparse.Namespace) -> Plan:
    from yarl import URL

    from loadgen import Plan

    url = URL(args.url)
    if url.scheme not in ("http", "https") or not url.host:
        raise cli.CliError(f"{args.url!r}: expected an http:// or https:// URL")
    if args.concurrency < 1 or args.duration <= 0:
        raise cli.CliError("--concurrency must be at least 1 and --duration positive")
    if args.rate is not None and args.rate <= 0:
        raise cli.CliError("--rate must be positive")
    fields = []
    for item in args.field or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise cli.CliError(f"--field {item!r}: expected NAME=VALUE")
        fields.append((name, value))
    body = urlencode(fields or SAMPLE_FORM).encode()
    tls = tls_context(args.cacert, args.insecure)
    return Plan(str(url), body, args.concurrency, args.duration, args.requests, args.rate, args.timeout, tls)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from loadgen import LoadError, load, preflight

    plan = _plan(args)
    sent = parse_qsl(plan.body.decode(), keep_blank_values=True)
    if args.config:
        problem = config_warning(args.config, args.config_id, plan.url, [name for name, _ in sent])
        if problem:
            warn(problem)

    async def main() -> Summary:
        answer = await preflight(plan)
        if not args.config and (problem := echo_warning(sent, answer)):
            warn(problem)
        return await load(plan, progress=not args.quiet)

    try:
        summary = asyncio.run(main())
    except LoadError as e:
        raise cli.CliError(str(e)) from e
    if args.json:
        print(json.dumps(asdict(summary), indent=2))
    else:
        print(
            f"{summary.requests:,} requests in {summary.seconds:.1f} s: {summary.rps:,.1f} rps, "
            f"{summary.errors} errors"
        )
        if summary.p50_ms is not None:
            print(
                f"latency p50 {summary.p50_ms:.2f} ms, p90 {summary.p90_ms:.2f} ms, "
                f"p99 {summary.p99_ms:.2f} ms, max {summary.max_ms:.2f} ms"
            )
        print("statuses: " + ", ".join(f"{k} x{v:,}" for k, v in summary.statuses.items()))
    return 0 if summary.ok else 1
