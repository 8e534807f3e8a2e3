"""`fle bench URL`: submit forms to a deployment at a set concurrency or rate, with live progress.

For a user's own proxy (or any URL that takes a form POST): reports throughput, latency percentiles and
status counts. With `--rate`, requests are scheduled at fixed times and latency is measured from the
scheduled time, so a stalled server shows up in the percentiles instead of silently lowering the rate.
For laboratory comparisons against pass-through and a reference proxy, see `python -m benchmarks`.

HTTPS: `--cacert PEM` trusts a private CA; `--insecure` skips verification (with a warning). A benchmark
whose body encrypts nothing measures a plain pass-through, so bench warns: with `--config DIR` (the proxy's
configuration) it checks, as the proxy will, that the URL's profile protects at least one field sent; without
it, it warns when the first answer shows every value it sent, unchanged (an origin that echoes its input,
like the sample origin, then saw no ciphertext).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from urllib.parse import parse_qsl, urlencode

import aiohttp
from yarl import URL

from profiles import QUERY_ARG_NAME, Action, ConfigError, load_config_dir, select

from . import cli

SAMPLE_FORM = (("name", "Jane Doe"), ("email", "jane.doe@example.com"), ("phone", "404-555-0150"))


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = commands.add_parser("bench", help="load-test a deployment with form submissions")
    p.add_argument("url", metavar="URL", help="where forms are posted, e.g. https://edge.example.com/submit")
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


@dataclass(frozen=True, slots=True)
class Plan:
    url: str
    body: bytes
    concurrency: int
    duration: float
    requests: int | None = None
    rate: float | None = None
    timeout: float = 30.0
    tls: ssl.SSLContext | None = None  # None: the default verification for https://


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # seconds, successful (2xx/3xx) responses
    statuses: Counter[str] = field(default_factory=Counter)  # "200", "502", or an error class name
    issued: int = 0

    @property
    def errors(self) -> int:
        return sum(n for k, n in self.statuses.items() if not (k.isdigit() and int(k) < 400))


@dataclass(frozen=True, slots=True)
class Summary:
    url: str
    seconds: float
    requests: int
    ok: int
    errors: int
    rps: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    statuses: dict[str, int]


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q / 100 * len(sorted_values)))]


def summarise(plan: Plan, tally: Tally, seconds: float) -> Summary:
    values = sorted(tally.latencies)
    total = sum(tally.statuses.values())

    def ms(q: float) -> float | None:
        v = percentile(values, q)
        return None if v is None else round(v * 1000, 3)

    return Summary(
        url=plan.url,
        seconds=round(seconds, 3),
        requests=total,
        ok=len(values),
        errors=tally.errors,
        rps=round(total / seconds, 1) if seconds else 0.0,
        p50_ms=ms(50),
        p90_ms=ms(90),
        p99_ms=ms(99),
        max_ms=None if not values else round(values[-1] * 1000, 3),
        statuses=dict(sorted(tally.statuses.items())),
    )


async def _one(session: aiohttp.ClientSession, plan: Plan, tally: Tally, started: float) -> None:
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        async with session.post(plan.url, data=plan.body, headers=headers) as response:
            await response.read()
            status = str(response.status)
    except (aiohttp.ClientError, TimeoutError) as e:
        status = type(e).__name__
    tally.statuses[status] += 1
    if status.isdigit() and int(status) < 400:
        tally.latencies.append(time.perf_counter() - started)


async def load(plan: Plan, progress: bool = False) -> Summary:
    """Run the plan; a progress line on stderr every second when `progress`."""
    tally = Tally()
    start = time.perf_counter()
    deadline = start + plan.duration
    timeout = aiohttp.ClientTimeout(total=plan.timeout)
    connector = aiohttp.TCPConnector(limit=plan.concurrency, ssl=_ssl_option(plan))

    def take() -> float | None:
        """The next request's start time (scheduled when pacing), or None when the plan is done."""
        if plan.requests is not None and tally.issued >= plan.requests:
            return None
        at = start + tally.issued / plan.rate if plan.rate else time.perf_counter()
        if at >= deadline:
            return None
        tally.issued += 1
        return at

    async def worker(session: aiohttp.ClientSession) -> None:
        while (at := take()) is not None:
            wait = at - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            await _one(session, plan, tally, at)

    async def report() -> None:
        while True:
            await asyncio.sleep(1.0)
            _progress(plan, tally, time.perf_counter() - start)

    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        reporter = asyncio.create_task(report()) if progress else None
        try:
            await asyncio.gather(*(worker(session) for _ in range(plan.concurrency)))
        finally:
            if reporter is not None:
                reporter.cancel()
    seconds = time.perf_counter() - start
    if progress:
        _progress(plan, tally, seconds, final=True)
    return summarise(plan, tally, seconds)


def _progress(plan: Plan, tally: Tally, elapsed: float, final: bool = False) -> None:
    done = sum(tally.statuses.values())
    recent = sorted(tally.latencies[-2000:])
    p50, p99 = percentile(recent, 50), percentile(recent, 99)
    share = min(1.0, elapsed / plan.duration)
    if plan.requests:
        share = max(share, done / plan.requests)
    bar = "#" * int(share * 20)
    latency = (
        f"p50 {p50 * 1000:.1f} ms  p99 {p99 * 1000:.1f} ms" if p50 is not None and p99 is not None else ""
    )
    line = (
        f"[{bar:<20}] {elapsed:5.1f}s  {done:,} requests  {done / elapsed if elapsed else 0:,.0f} rps  "
        f"{latency}  errors {tally.errors}"
    )
    if sys.stderr.isatty():
        print("\r" + line, end="\n" if final else "", file=sys.stderr, flush=True)
    else:
        print(line, file=sys.stderr, flush=True)


def _ssl_option(plan: Plan) -> ssl.SSLContext | bool:
    return plan.tls if plan.tls is not None else True


def tls_context(cacert: str | None, insecure: bool) -> ssl.SSLContext | None:
    """The TLS context for --cacert / --insecure; None for the system's trust store."""
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


async def _preflight(plan: Plan) -> str:
    """One request before the load: a clear error if the URL cannot be reached; the answer's text."""
    timeout = aiohttp.ClientTimeout(total=plan.timeout)
    connector = aiohttp.TCPConnector(ssl=_ssl_option(plan))
    try:
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            async with session.post(plan.url, data=plan.body, headers=headers) as response:
                return (await response.read()).decode("utf-8", "replace")
    except (aiohttp.ClientError, TimeoutError) as e:
        raise cli.CliError(f"cannot reach {plan.url}: {e or type(e).__name__}") from e


def run(args: argparse.Namespace) -> int:
    plan = _plan(args)
    sent = parse_qsl(plan.body.decode(), keep_blank_values=True)
    if args.config:
        problem = config_warning(args.config, args.config_id, plan.url, [name for name, _ in sent])
        if problem:
            warn(problem)

    async def main() -> Summary:
        answer = await _preflight(plan)
        if not args.config and (problem := echo_warning(sent, answer)):
            warn(problem)
        return await load(plan, progress=not args.quiet)

    summary = asyncio.run(main())
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
