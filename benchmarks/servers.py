"""Start the processes under test on loopback (origin, edge proxy, reference proxy) and stop them again."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from keystore.tooling import public_pem
from profiles.examples import write_example_config

ROOT = Path(__file__).resolve().parent.parent

# The 3-field sample form; the example profile protects `phone`, one field of three.
FORM = b"name=Jane+Doe&email=jane.doe%40example.com&phone=404-555-0150"
FORM_TYPE = "application/x-www-form-urlencoded"
# The same bytes under a content type no profile applies to: the proxy's own pass-through path.
PASS_TYPE = "text/plain"


class ServerError(Exception):
    """A process under test did not start or died."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(directory: Path) -> Path:
    """The example CloudFront config, but forwarding content types it has no profile for."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write_example_config(directory, public_pem(key.public_key()))
    path = directory / "config.json"
    document = json.loads(path.read_text())
    document["FieldLevelEncryption"]["FieldLevelEncryptionConfig"]["ContentTypeProfileConfig"][
        "ForwardWhenContentTypeIsUnknown"
    ] = True
    path.write_text(json.dumps(document, indent=2))
    return directory


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    admin_url: str | None = None  # the proxy's admin listener (/metrics), when it was started with one

    @property
    def pid(self) -> int:
        return self.process.pid

    def pids(self) -> list[int]:
        """The process and its children (the workers of `fle proxy --workers N`)."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        extra = [int(p) for p in children.read_text().split()] if children.exists() else []
        return [self.pid, *extra]


def _wait_listening(server: Server, timeout: float = 30.0) -> None:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerError(f"{server.name} exited: {server.log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=0.5):
            return
        time.sleep(0.05)
    raise ServerError(f"{server.name} did not listen on {server.url} within {timeout}s")


@dataclass
class Servers:
    """Every process started, stopped together (SIGTERM, then SIGKILL) when the block ends."""

    workdir: Path
    started: list[Server] = field(default_factory=list)

    def start(self, name: str, *args: str, root: Path = ROOT, program: str = sys.executable) -> Server:
        """Start `python ARGS` (or `program ARGS`, e.g. node) with the code of the tree at `root` (this
        checkout unless told otherwise); `{listen}` in ARGS becomes the free host:port it must listen on."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = self.workdir / f"{name}.log"
        command = [program, *[a.replace("{listen}", f"127.0.0.1:{port}") for a in args]]
        env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        with log.open("wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root)
        server = Server(name, process, url, log)
        self.started.append(server)
        _wait_listening(server)
        if "--workers" in args and args[args.index("--workers") + 1] != "1":
            time.sleep(1.0)  # the first worker listens; give the others their moment too
        return server

    def origin(self) -> Server:
        return self.start("origin", "-m", "benchmarks.origin_app", "--listen", "{listen}")

    def fle_proxy(
        self,
        origin: Server,
        config: Path,
        workers: int = 1,
        name: str = "fle",
        root: Path = ROOT,
        loop: str | None = "asyncio",
        admin: bool = False,
        extra: tuple[str, ...] = (),
    ) -> Server:
        """`fle proxy` on the stdlib loop unless `loop` says otherwise (the reference proxy runs on it too,
        and figures stay comparable across machines with and without uvloop); None: the tree's default
        (for a tree from before `--loop` existed). `admin`: with an admin listener on a free port (its
        /metrics holds the proxy's own timing of the encryption step, step_latency.py). `extra`: more
        `fle proxy` options (`--index-keys FILE`)."""
        admin_url = f"127.0.0.1:{free_port()}" if admin else None
        server = self.start(
            name,
            "-m",
            "fle",
            "--log-level",
            "WARNING",
            "proxy",
            "--config",
            str(config),
            "--origin",
            origin.url,
            "--listen",
            "{listen}",
            "--workers",
            str(workers),
            # no admin listener unless asked (two proxies run side by side) and no access log (the
            # reference proxy writes none either): the comparison is of request handling
            "--admin",
            admin_url or "off",
            "--access-log",
            "off",
            *(("--loop", loop) if loop else ()),
            *extra,
            root=root,
        )
        if admin_url:
            server.admin_url = "http://" + admin_url
        return server

    def reference(self, origin: Server) -> Server:
        return self.start(
            "reference", "-m", "benchmarks.reference_proxy", "--listen", "{listen}", "--origin", origin.url
        )

    def stop(self, server: Server) -> None:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
            try:
                server.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait(timeout=5)
        with contextlib.suppress(ValueError):
            self.started.remove(server)

    def stop_all(self) -> None:
        for server in reversed(list(self.started)):
            self.stop(server)


@contextlib.contextmanager
def running(workdir: Path) -> Iterator[Servers]:
    servers = Servers(workdir)
    try:
        yield servers
    finally:
        servers.stop_all()


def rss_mib(pid: int) -> float:
    """Resident set size of one process, MiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ServerError(f"no VmRSS for pid {pid}")


def cpu_seconds(pids: tuple[int, ...] | list[int]) -> float:
    """User + system CPU time the processes have used so far, from /proc (clock-tick resolution)."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of the full line)
    return ticks / os.sysconf("SC_CLK_TCK")


class RssSampler:
    """Samples the summed RSS of some processes every `interval` seconds in a thread, while in a block."""

    def __init__(self, pids: list[int], interval: float = 0.05) -> None:
        self.pids = pids
        self.interval = interval
        self.samples: list[tuple[float, float]] = []  # (seconds since start, MiB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.monotonic()
        while not self._stop.is_set():
            with contextlib.suppress(OSError, ServerError):
                self.samples.append((time.monotonic() - start, sum(rss_mib(p) for p in self.pids)))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak(self) -> float:
        return max(m for _, m in self.samples)
