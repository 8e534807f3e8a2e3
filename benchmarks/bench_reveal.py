"""Reveal throughput per keystore backend, against the decrypt rate of the same backend in the same run.

For each backend (file, pkcs11 on SoftHSM2 with the key generated in the token, ssm on a moto server with
the key cached after its first read) the benchmark makes N form bodies, each with one field encrypted as the
edge writes it, and measures, alternating round by round so a busy machine slows both alike:

- decrypt: `Decryptor.decrypt` of the N values on a pool of W threads (the decrypt core reveal calls);
- reveal: N requests through a reveal listener (W decrypt threads) to a loopback upstream, C at a time,
  every answer checked and every value checked to have reached the upstream in plaintext.

`ratio` is reveal requests/s over decrypt values/s: the share of the backend's decrypt rate left once
reveal has authenticated, matched, parsed, audited (two lines per value, to a file), forwarded and streamed
the answer back. Client, reveal and upstream share this one process and its event loop (and the GIL), so
the ratio is a floor for a reveal process of its own. For scale, the same requests on a route that reveals
nothing (`no_reveal_route`: auth, routing, forwarding, no parsing or decrypting) are measured too.

With `--apart`, reveal runs as its own process (`fle reveal`, file backend only) and the client and the
upstream stay in this one: the figure the issue-22 target names ("reveal's requests/s in one process"),
where reveal's event loop no longer shares the GIL with the benchmark's client and upstream. Its decrypt
rate is still measured here, in this process, alternating round by round as above. The same comparison on
CPU time, which a busy shared machine moves less than requests/s (both processes here share the cores
with the benchmark's client and upstream and with whatever else runs):

- `decrypt_cpu_us`: one `Decryptor.decrypt`, the values opened one after the other in one thread
  (`time.thread_time`, median of the rounds);
- `reveal_cpu_us_per_request`: reveal's process CPU (user + system, every thread) per request, read from
  /proc/PID/task/*/schedstat (nanoseconds; /proc/PID/stat counts 10 ms ticks) across each round's
  requests, median of the rounds;
- `cpu_ratio` = decrypt_cpu_us / reveal_cpu_us_per_request: the share of reveal's CPU per request that is
  the decrypt it must do, the CPU-basis counterpart of `ratio` (on a quiet machine with a core for reveal
  alone, requests/s would follow it);
- `reveal_user_us_per_request` and `reveal_sys_us_per_request`: the same CPU split into user and system
  time (/proc/PID/stat's utime and stime, 10 ms ticks: rounded), `reveal_context_switches_per_request`
  (voluntary, involuntary: /proc/PID/task/*/status), and `bench_cpu_us_per_request`: this process's CPU
  per request while reveal was measured (the client and the upstream, which share the machine's cores
  with reveal: at about 0.3-0.5 of reveal's CPU on two cores, they take a share of the second core).

With `--processes 1,2`, `fle reveal --workers N` runs as a process tree of its own for each N, file and
pkcs11 (SoftHSM2) backends, all started at once and measured round by round in turn against the decrypt rate
of the same backend here: requests/s of each N, its ratio to N=1, and where the CPU went per request (reveal's
processes, read from /proc, and this process: the load generator and the upstream). On a machine whose
cores are shared with the load generator, the speedup of N workers is bounded by what the load generator
leaves: read it with the CPU columns. With `--load wrk` the load generator is wrk (one thread, the values
in turn, `post.lua`) and the upstream a Node server (`reveal_upstream.js`, which counts the bodies that
arrived in plaintext): each costs a few per cent of what reveal does per request, where the aiohttp client
and upstream of this process cost about a third, so the second worker gets nearly the whole second core.
Each tree is then driven for `--seconds` per round, and every value reaching the upstream is still checked.

    python3 -m benchmarks.bench_reveal [--items 300] [--rounds 2] [--workers 8] [--concurrency 16] [--apart]
    python3 -m benchmarks.bench_reveal --processes 1,2 [--items 600] [--rounds 3] [--concurrency 32]
        [--load aiohttp|wrk] [--seconds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from benchmarks import wrk
from benchmarks.bench_decrypt import write_file_keystore, write_keystore
from benchmarks.bench_keystore import SOFTHSM, softhsm_backend, start_moto, start_softhsm
from benchmarks.servers import FORM_TYPE, Server, Servers, cpu_seconds, running
from decryptor import AuditLog, Decryptor
from edge_proxy import Listener, start_site
from edge_proxy.encrypting import esdk
from keystore import Keystore
from reveal import load_routes
from reveal.server import start_reveal
from reveal.settings import RevealSettings

TOKEN = "bench-token"
UPSTREAM_JS = Path(__file__).with_name("reveal_upstream.js")


def ciphertexts(public: rsa.RSAPublicKey, items: int) -> list[str]:
    key = esdk.FieldKey(public, b"FLEDemo", b"DemoPublicKey")
    return [base64.b64encode(esdk.encrypt(f"4111{i:012d}".encode(), key)).decode() for i in range(items)]


def decrypt_rate(decryptor: Decryptor, values: list[str], pool: ThreadPoolExecutor) -> float:
    start = time.perf_counter()
    opened = list(pool.map(decryptor.decrypt, values))
    assert all(o.plaintext.startswith(b"4111") for o in opened)
    return len(values) / (time.perf_counter() - start)


def form_body(value: str) -> str:
    """The form a caller sends reveal: an amount in clear and the card number as the edge encrypted it."""
    return f"amount=1.00&card_number={urllib.parse.quote(value, safe='')}"


def write_routes(directory: Path, upstream: str) -> Path:
    path = directory / "routes.toml"
    path.write_text(
        f'[[caller]]\nname = "bench"\ntoken_sha256 = "{hashlib.sha256(TOKEN.encode()).hexdigest()}"\n\n'
        f'[[route]]\nname = "up"\nprefix = "/up/"\nupstream = "{upstream}/"\nmethods = ["POST"]\n'
        'reveal = ["card_number"]\nkeys = ["FLEDemo/DemoPublicKey"]\ncallers = ["bench"]\n\n'
        f'[[route]]\nname = "plain"\nprefix = "/plain/"\nupstream = "{upstream}/"\nmethods = ["POST"]\n'
        'callers = ["bench"]\n'
    )
    return path


async def reveal_rate(
    url: str, values: list[str], concurrency: int, received: list[bytes], prefix: str = "/up/"
) -> float:
    received.clear()
    todo = iter(values)
    headers = {"Proxy-Authorization": f"Bearer {TOKEN}", "Content-Type": FORM_TYPE}

    async def client(session: aiohttp.ClientSession) -> None:
        for value in todo:
            async with session.post(f"{url}{prefix}charges", data=form_body(value), headers=headers) as r:
                assert r.status == 200, await r.text()
                await r.read()

    start = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    wanted = b"card_number=4111" if prefix == "/up/" else b"card_number=A"  # plain: forwarded as it is
    assert len(received) == len(values) and all(wanted in b for b in received)
    return len(values) / elapsed


async def measure(
    backends: dict[str, tuple[Path, list[str]]], root: Path, args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    received: list[bytes] = []

    async def upstream_handler(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/charges", upstream_handler)
    upstream, upstream_url = await start_site(app, "127.0.0.1", 0)
    routes = load_routes(write_routes(root, upstream_url))
    settings = RevealSettings(decrypt_threads=args.workers)
    listeners = {}
    decryptors = {}
    audit = AuditLog(str(root / "audit.jsonl"))
    for name, (keystore, values) in backends.items():
        decryptors[name] = Decryptor(Keystore.from_file(keystore))
        decryptors[name].decrypt(values[0])  # warm: backend opened (and the ssm key cached)
        listeners[name] = await start_reveal(
            routes, decryptors[name], audit, "127.0.0.1", 0, settings=settings
        )
    loop = asyncio.get_running_loop()
    rates: dict[str, dict[str, list[float]]] = {n: {"decrypt": [], "reveal": []} for n in backends}
    plain: list[float] = []
    with ThreadPoolExecutor(args.workers) as pool:
        for _ in range(args.rounds):
            for name, (_, values) in backends.items():
                rates[name]["decrypt"].append(
                    await loop.run_in_executor(None, decrypt_rate, decryptors[name], values, pool)
                )
                rates[name]["reveal"].append(
                    await reveal_rate(listeners[name][1], values, args.concurrency, received)
                )
            first_url, first_values = listeners["file"][1], backends["file"][1]
            plain.append(await reveal_rate(first_url, first_values, args.concurrency, received, "/plain/"))
    for listener, _ in listeners.values():
        await listener.cleanup()
    await upstream.cleanup()
    audit.close()
    result: dict[str, dict[str, float]] = {
        "no_reveal_route": {"requests_per_s": round(statistics.median(plain))}  # the HTTP path alone
    }
    for name, r in rates.items():
        decrypt, through = statistics.median(r["decrypt"]), statistics.median(r["reveal"])
        result[name] = {
            "decrypt_values_per_s": round(decrypt),
            "reveal_requests_per_s": round(through),
            "ratio": round(through / decrypt, 2),
            "share_of_no_reveal_route": round(through / statistics.median(plain), 2),
        }
    return result


async def measure_apart(keystore: Path, values: list[str], root: Path, args: argparse.Namespace) -> dict:
    """The file backend's decrypt rate here, and the rate of `fle reveal` running as a process of its own."""
    received: list[bytes] = []

    async def upstream_handler(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/charges", upstream_handler)
    upstream, upstream_url = await start_site(app, "127.0.0.1", 0)
    routes = write_routes(root, upstream_url)
    command = [sys.executable, "-m", "fle", "reveal", "--routes", str(routes), "--listen", "127.0.0.1:0",
               "--keystore", str(keystore), "--audit-file", str(root / "audit-apart.jsonl")]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        url = await asyncio.to_thread(_listening_url, process)
        decryptor = Decryptor(Keystore.from_file(keystore))
        decryptor.decrypt(values[0])
        await reveal_rate(url, values[:20], args.concurrency, received)  # warm: keys, pools, connections
        loop = asyncio.get_running_loop()
        decrypt: list[float] = []
        through: list[float] = []
        one_thread: list[float] = []  # CPU seconds of one decrypt, in one thread (no GIL contention)
        per_request: list[tuple[float, ...]] = []  # reveal's process per request (all its threads), and ours
        with ThreadPoolExecutor(args.workers) as pool:
            for _ in range(args.rounds):
                decrypt.append(await loop.run_in_executor(None, decrypt_rate, decryptor, values, pool))
                one_thread.append(await loop.run_in_executor(None, decrypt_cpu, decryptor, values[:100]))
                before, here = process_counts(process.pid), time.process_time()
                through.append(await reveal_rate(url, values, args.concurrency, received))
                after, here = process_counts(process.pid), time.process_time() - here
                n = len(values)
                per_request.append((*((a - b) / n for a, b in zip(after, before, strict=True)), here / n))
    finally:
        process.terminate()
        process.wait(timeout=10)
        await upstream.cleanup()
    d, r = statistics.median(decrypt), statistics.median(through)

    def per(index: int) -> float:
        return statistics.median(each[index] for each in per_request)

    cpu_d, cpu_r = statistics.median(one_thread), per(0)
    return {
        "decrypt_values_per_s": round(d), "reveal_requests_per_s": round(r), "ratio": round(r / d, 2),
        # the same ratio on CPU time (less moved by what else runs on a shared machine): one decrypt's CPU
        # in one thread over the CPU reveal's process spent per request (the module's docstring)
        "decrypt_cpu_us": round(cpu_d * 1e6), "reveal_cpu_us_per_request": round(cpu_r * 1e6),
        "cpu_ratio": round(cpu_d / cpu_r, 2),
        "reveal_user_us_per_request": round(per(1) * 1e6), "reveal_sys_us_per_request": round(per(2) * 1e6),
        "reveal_context_switches_per_request": [round(per(3), 2), round(per(4), 2)],
        "bench_cpu_us_per_request": round(per(5) * 1e6),
    }  # fmt: skip


def decrypt_cpu(decryptor: Decryptor, values: list[str]) -> float:
    """CPU seconds of one `Decryptor.decrypt`, the values opened one after the other in this thread."""
    start = time.thread_time()
    for value in values:
        decryptor.decrypt(value)
    return (time.thread_time() - start) / len(values)


def process_counts(pid: int) -> tuple[float, float, float, int, int]:
    """Process `pid` so far, all its threads: CPU seconds (schedstat, ns), user and system seconds (stat,
    ticks), voluntary and involuntary context switches."""
    tick = os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ran, voluntary, involuntary = 0, 0, 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            ran += int((task / "schedstat").read_text().split()[0])
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    voluntary += int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches:"):
                    involuntary += int(line.split()[1])
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
    return ran / 1e9, int(fields[11]) / tick, int(fields[12]) / tick, voluntary, involuntary


class _AiohttpLoad:
    """The default load of `--processes`: this process's aiohttp client sends every value once per round
    (`reveal_rate`, which checks each answer and each body at the upstream), to an aiohttp upstream here."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.received: list[bytes] = []
        self.url = ""
        self._site: Listener | None = None

    async def start(self, servers: Servers) -> None:
        async def upstream_handler(request: web.Request) -> web.Response:
            self.received.append(await request.read())
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/charges", upstream_handler)
        self._site, self.url = await start_site(app, "127.0.0.1", 0)

    async def warm(self, name: str, values: list[str], url: str) -> None:
        await reveal_rate(url, values[: 4 * self.args.concurrency], self.args.concurrency, self.received)

    async def drive(self, name: str, values: list[str], url: str) -> tuple[int, float, dict[str, float]]:
        """Answers, requests/s, and the load's CPU seconds by part (here: client and upstream together)."""
        before = time.process_time()
        rate = await reveal_rate(url, values, self.args.concurrency, self.received)
        return len(values), rate, {"loadgen_and_upstream": time.process_time() - before}

    def checked(self) -> dict[str, object]:
        return {}  # reveal_rate checked every answer and body as it went

    async def stop(self) -> None:
        if self._site is not None:
            await self._site.cleanup()


class _WrkLoad:
    """`--load wrk`: wrk (one thread, `post.lua` sending a backend's values in turn for `--seconds`) and the
    Node upstream (`reveal_upstream.js`), each a few per cent of reveal's CPU per request; at the end the
    upstream's counts say every body arrived revealed, each value among them."""

    def __init__(self, args: argparse.Namespace, root: Path, backends: dict[str, tuple[Path, list[str]]]):
        if shutil.which("node") is None:
            raise SystemExit("--load wrk needs Node.js (scripts/install.sh --test installs it)")
        self.args = args
        self.url = ""
        self._bodies: dict[str, Path] = {}
        for name, (_, values) in backends.items():
            self._bodies[name] = root / f"bodies-{name}.txt"
            self._bodies[name].write_text("".join(form_body(v) + "\n" for v in values))
        self._upstream: Server | None = None
        self._answered = 0  # by wrk, over every run
        self._longest = 0  # the most answers of one run: each wrk starts again at the first value

    async def start(self, servers: Servers) -> None:
        self._upstream = await asyncio.to_thread(
            servers.start, "upstream", str(UPSTREAM_JS), "--listen", "{listen}", program="node"
        )
        self.url = self._upstream.url

    async def warm(self, name: str, values: list[str], url: str) -> None:
        await self.drive(name, values, url, seconds=1)

    async def drive(
        self, name: str, values: list[str], url: str, seconds: float | None = None
    ) -> tuple[int, float, dict[str, float]]:
        """Answers, requests/s, and the CPU seconds of wrk and of the upstream."""
        assert self._upstream is not None
        before = cpu_seconds([self._upstream.pid])
        result = await asyncio.to_thread(
            wrk.run,
            f"{url}/up/charges",
            body=b"",
            content_type=FORM_TYPE,
            connections=self.args.concurrency,
            seconds=self.args.seconds if seconds is None else seconds,
            bodies=self._bodies[name],
            header=("Proxy-Authorization", f"Bearer {TOKEN}"),
        )
        if result.errors or not result.requests:
            raise RuntimeError(f"wrk against reveal ({name}): {result.errors} errors, {result.requests}")
        self._answered += result.requests
        self._longest = max(self._longest, result.requests)
        return (
            result.requests,
            result.rps,
            {"wrk": result.cpu_s, "upstream": cpu_seconds([self._upstream.pid]) - before},
        )

    def checked(self) -> dict[str, object]:
        """What the upstream saw: every body it got held its value revealed, at least as many as wrk counted
        answers (a request in flight when wrk stops arrives, uncounted), and each value (both backends'
        values hold the same card numbers) up to what the longest run could send."""
        with urllib.request.urlopen(f"{self.url}/counts", timeout=10) as reply:
            arrived = json.load(reply)
        wanted = min(self.args.items, self._longest)
        if arrived["other"] or arrived["plaintext"] < self._answered or arrived["distinct"] < wanted:
            raise RuntimeError(
                f"the upstream saw {arrived} for {self._answered} answers: not all revealed, or not each"
            )
        return {"upstream_saw": arrived}

    async def stop(self) -> None:
        pass  # the upstream is one of the Servers, stopped with them


async def measure_processes(
    backends: dict[str, tuple[Path, list[str]]], root: Path, args: argparse.Namespace, counts: list[int]
) -> dict[str, dict]:
    """Per backend: its decrypt rate here, and `fle reveal --workers N` for each N, with CPU per request:
    reveal's processes (read from /proc) and the load's (the load generator and the upstream)."""
    load = _WrkLoad(args, root, backends) if args.load == "wrk" else _AiohttpLoad(args)
    loop = asyncio.get_running_loop()
    with running(root) as servers:  # every process stopped at the end: SIGTERM, then SIGKILL
        await load.start(servers)
        try:
            routes = write_routes(root, load.url)
            trees: dict[tuple[str, int], Server] = {}
            for name, (keystore, values) in backends.items():
                for count in counts:
                    trees[name, count] = await asyncio.to_thread(
                        servers.start, f"reveal-{name}-{count}", "-m", "fle", "reveal",
                        "--routes", str(routes), "--listen", "{listen}", "--keystore", str(keystore),
                        "--workers", str(count), "--audit-file", str(root / f"audit-{name}-{count}.jsonl"),
                    )  # fmt: skip
                    await load.warm(name, values, trees[name, count].url)  # keys, pools, every worker
            decryptors = {name: Decryptor(Keystore.from_file(ks)) for name, (ks, _) in backends.items()}
            decrypt: dict[str, list[float]] = {name: [] for name in backends}
            through: dict[tuple[str, int], list[tuple[float, float, float]]] = {key: [] for key in trees}
            split: dict[tuple[str, int], dict[str, list[float]]] = {key: {} for key in trees}
            with ThreadPoolExecutor(args.workers) as pool:
                for name, (_, values) in backends.items():
                    decryptors[name].decrypt(values[0])
                for _ in range(args.rounds):
                    for name, (_, values) in backends.items():
                        decrypt[name].append(
                            await loop.run_in_executor(None, decrypt_rate, decryptors[name], values, pool)
                        )
                        for count in counts:
                            tree = trees[name, count]
                            before = cpu_seconds(tree.pids())
                            answers, rate, load_cpu = await load.drive(name, values, tree.url)
                            reveal_cpu = (cpu_seconds(tree.pids()) - before) / answers
                            through[name, count].append((rate, reveal_cpu, sum(load_cpu.values()) / answers))
                            if len(load_cpu) > 1:  # its parts too (wrk, upstream)
                                for part, seconds in load_cpu.items():
                                    split[name, count].setdefault(part, []).append(seconds / answers)
            checked = load.checked()
        finally:
            await load.stop()
    return {**summarise(backends, counts, decrypt, through, split), **checked}


def summarise(
    backends: dict[str, tuple[Path, list[str]]],
    counts: list[int],
    decrypt: dict[str, list[float]],
    through: dict[tuple[str, int], list[tuple[float, float, float]]],
    split: dict[tuple[str, int], dict[str, list[float]]] | None = None,
) -> dict[str, dict]:
    """Per backend and worker count, medians over the rounds of (requests/s, reveal CPU per request, load
    generator and upstream CPU per request); `split`: more CPU figures per request (seconds), by name."""
    result: dict[str, dict] = {}
    for name in backends:
        d = statistics.median(decrypt[name])
        one = statistics.median(r for r, _, _ in through[name, counts[0]])
        entry: dict[str, object] = {"decrypt_values_per_s": round(d)}
        for count in counts:
            runs = through[name, count]
            rate = statistics.median(r for r, _, _ in runs)
            more = (split or {}).get((name, count), {})
            entry[f"workers_{count}"] = {
                "reveal_requests_per_s": round(rate),
                "ratio_to_decrypt": round(rate / d, 2),
                f"speedup_over_{counts[0]}": round(rate / one, 2),
                "reveal_cpu_ms_per_request": round(statistics.median(c for _, c, _ in runs) * 1e3, 3),
                "loadgen_and_upstream_cpu_ms_per_request": round(
                    statistics.median(c for _, _, c in runs) * 1e3, 3
                ),
                # cores busy while measured (rate x CPU per request): below the machine's cores, the rest of
                # the CPU went to other processes (a shared machine) or reveal waited on something else
                "reveal_cores_used": round(statistics.median(r * c for r, c, _ in runs), 2),
                "loadgen_and_upstream_cores_used": round(statistics.median(r * c for r, _, c in runs), 2),
                **{
                    f"{what}_cpu_ms_per_request": round(statistics.median(v) * 1e3, 3)
                    for what, v in more.items()
                },
            }
            if count != counts[0]:  # each round's two rates were taken one after the other: steadier
                firsts = through[name, counts[0]]
                entry[f"workers_{count}"][f"speedup_over_{counts[0]}_per_round"] = round(
                    statistics.median(r / f for (r, _, _), (f, _, _) in zip(runs, firsts, strict=True)), 2
                )
        result[name] = entry
    return result


def _listening_url(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    for line in process.stderr:
        found = re.search(r"reveal listening on (http://[^\s,]+)", line)
        if found:
            return found.group(1)
    raise RuntimeError(f"fle reveal exited ({process.wait()}) before it listened")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--workers", type=int, default=8, help="decrypt threads (reveal's and the reference's)"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight to reveal")
    parser.add_argument("--sessions", type=int, default=2, help="pkcs11 sessions")
    parser.add_argument("--apart", action="store_true", help="fle reveal as its own process (file backend)")
    parser.add_argument(
        "--processes", metavar="N,M", help="fle reveal --workers N (and M...) as process trees of their own"
    )
    parser.add_argument(
        "--load",
        choices=("aiohttp", "wrk"),
        default="aiohttp",
        help="with --processes: the load generator and upstream (aiohttp, here; or wrk and Node)",
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="with --load wrk: seconds per tree, round")
    args = parser.parse_args()
    if args.load != "aiohttp" and not args.processes:
        parser.error("--load wrk measures worker trees: give --processes too")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if args.processes:
        counts = [int(n) for n in args.processes.split(",")]
        with tempfile.TemporaryDirectory(prefix="fle-bench-reveal-") as tmp:
            root = Path(tmp)
            os.environ.update(BENCH_KEY_PASSPHRASE="bench", BENCH_PKCS11_PIN="1234")
            start_softhsm(root)
            probe = softhsm_backend(root, 1)
            token_public = probe.public_key()
            probe.close()
            pkcs11 = write_keystore(
                root / "pkcs11.toml",
                f'backend = "pkcs11"\nmodule = "{SOFTHSM}"\ntoken_label = "bench"\n'
                f'key_label = "BenchKey"\npin_env = "BENCH_PKCS11_PIN"\nsessions = {args.sessions}\n',
            )
            backends = {
                "file": (write_file_keystore(root, key), ciphertexts(key.public_key(), args.items)),
                "pkcs11": (pkcs11, ciphertexts(token_public, args.items)),
            }
            measured = asyncio.run(measure_processes(backends, root, args, counts))
        print(json.dumps({
            "items": args.items, "rounds": args.rounds, "decrypt_threads": args.workers, "load": args.load,
            "concurrency": args.concurrency, "pkcs11_sessions": args.sessions, "cpus": os.cpu_count(),
            "load_average": [round(x, 1) for x in os.getloadavg()], **measured,
        }, indent=2))  # fmt: skip
        return
    if args.apart:
        with tempfile.TemporaryDirectory(prefix="fle-bench-reveal-") as tmp:
            os.environ.update(BENCH_KEY_PASSPHRASE="bench")
            keystore = write_file_keystore(Path(tmp), key)
            values = ciphertexts(key.public_key(), args.items)
            apart = asyncio.run(measure_apart(keystore, values, Path(tmp), args))
        print(json.dumps({
            "items": args.items, "rounds": args.rounds, "workers": args.workers,
            "concurrency": args.concurrency, "cpus": os.cpu_count(),
            "load_average": [round(x, 1) for x in os.getloadavg()], "file_apart": apart,
        }, indent=2))  # fmt: skip
        return
    with tempfile.TemporaryDirectory(prefix="fle-bench-reveal-") as tmp:
        root = Path(tmp)
        os.environ.update(BENCH_KEY_PASSPHRASE="bench", BENCH_PKCS11_PIN="1234")
        start_softhsm(root)
        probe = softhsm_backend(root, 1)
        token_public = probe.public_key()
        probe.close()
        moto = start_moto()
        try:
            import boto3

            from keystore.tooling import store_ssm_key

            kms_key = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
            ssm_public = store_ssm_key("/bench/private-key", kms_key, None)
            pkcs11 = write_keystore(
                root / "pkcs11.toml",
                f'backend = "pkcs11"\nmodule = "{SOFTHSM}"\ntoken_label = "bench"\n'
                f'key_label = "BenchKey"\npin_env = "BENCH_PKCS11_PIN"\nsessions = {args.sessions}\n',
            )
            ssm = write_keystore(root / "ssm.toml", 'backend = "ssm"\nparameter = "/bench/private-key"\n')
            backends = {
                "file": (write_file_keystore(root, key), ciphertexts(key.public_key(), args.items)),
                "pkcs11": (pkcs11, ciphertexts(token_public, args.items)),
                "ssm": (ssm, ciphertexts(ssm_public, args.items)),
            }
            result = asyncio.run(measure(backends, root, args))
        finally:
            moto.terminate()
            moto.wait(timeout=10)
    print(json.dumps({
        "items": args.items, "rounds": args.rounds, "workers": args.workers, "concurrency": args.concurrency,
        "pkcs11_sessions": args.sessions, "cpus": os.cpu_count(),
        "load_average": [round(x, 1) for x in os.getloadavg()], **result,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
