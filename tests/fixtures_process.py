"""The test kit's one way to run an `fle` subcommand as a real process and wait until it listens.

Before it, seven-plus test modules each wrote their own Popen, their own loop reading stdout or a log file
for "listening on", and their own stop; some read lines in the test's thread, so a process that printed
nothing hung the test instead of failing it. Here one reader thread per stream collects every line as it
comes, waits have a real deadline, an early exit fails with the process's whole output, and `stop()`
sends SIGTERM (or the signal the test is about), then SIGKILL if the process does not go in time.

    with running_fle("proxy", "--config", str(config), "--origin", url, ready="proxy listening") as proxy:
        post(proxy.url("proxy")) ...

`fle(...)` starts without waiting (for tests about refusals, or that wait for their own line), and the
`fle_process` fixture starts processes that are stopped when the test ends, whatever happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TypeVar

import pytest
from yarl import URL

ROOT = Path(__file__).resolve().parent.parent
LISTENING = re.compile(r"(\w+) listening on (https?://[^\s,]+)")
T = TypeVar("T")


def default_ports() -> frozenset[int]:
    """Every port an `fle` subcommand listens on when not told otherwise (--listen, --admin, --proxy-port...),
    read from the parser itself, so a new default is covered the day it is added."""
    from fle import cli

    ports = set()
    for parser in cli._parsers(cli.build_parser()):
        for action in parser._actions:
            default = action.default
            if isinstance(default, str) and re.fullmatch(r"[\w.\[\]:]*:\d+", default):
                ports.add(int(default.rsplit(":", 1)[1]))
            elif isinstance(default, int) and action.dest.endswith("port") and default:
                ports.add(default)
    return frozenset(ports)


DEFAULT_PORTS = default_ports()
# (command, line) of every process a test started that said it listens on a default port; tests/conftest.py
# fails the test that did it: a test may only bind ports the OS gave it (port 0, free_port(), --admin off)
ON_DEFAULT_PORTS: list[tuple[str, str]] = []


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on right now (for commands that take a fixed port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fle_env(extra: dict[str, str] | None = None, *, base: dict[str, str] | None = None) -> dict[str, str]:
    """An `fle` child's environment: this checkout on PYTHONPATH, so the child runs the code under test."""
    return {**(os.environ if base is None else base), "PYTHONPATH": str(ROOT), **(extra or {})}


def run_module(module: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """`python -m module args` from this checkout, to its end (its own bound, below the test's: a module
    that starts servers stops them itself when it ends, which it cannot do if pytest-timeout kills it).
    Past `timeout` it is interrupted (SIGINT: its `finally` blocks stop what it started), then, 10 s later,
    its whole process group is killed, and TimeoutExpired is raised."""
    with subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=fle_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: whatever it started goes with it
    ) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.communicate(timeout=10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


class FleProcess:
    """A running command with its output collected line by line (stdout and stderr, in arrival order)."""

    def __init__(
        self,
        command: list[str],
        *,
        env: dict[str, str],
        cwd: Path = ROOT,
        log_to: tuple[Path, Path] | None = None,
        separate_stderr: bool = False,
    ) -> None:
        self.command = command
        self.lines: list[str] = []  # both streams, in the order the lines arrived
        self._by_stream: dict[str, list[str]] = {"stdout": [], "stderr": []}
        separate = separate_stderr or log_to is not None
        self._cursor = 0
        self._changed = threading.Condition()
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if separate else subprocess.STDOUT,
            env=env,
            cwd=cwd,
        )
        assert self.process.stdout is not None
        streams: list[tuple[str, IO[bytes], Path | None]] = [
            ("stdout", self.process.stdout, log_to[0] if log_to else None)
        ]
        if separate:
            assert self.process.stderr is not None
            streams.append(("stderr", self.process.stderr, log_to[1] if log_to else None))
        self._readers = [
            threading.Thread(target=self._read, args=stream, daemon=True, name=f"fle-{stream[0]}")
            for stream in streams
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, name: str, stream: IO[bytes], copy_to: Path | None) -> None:
        """Collect every line; with copy_to, also write the raw bytes there (the test scans the file)."""
        copy = copy_to.open("wb") if copy_to else None
        try:
            for raw in iter(stream.readline, b""):
                if copy:
                    copy.write(raw)
                    copy.flush()
                line = raw.decode(errors="replace")
                for _kind, url in LISTENING.findall(line):
                    port = URL(url).port
                    if port in DEFAULT_PORTS:
                        ON_DEFAULT_PORTS.append((" ".join(self.command[2:]), line.strip()))
                with self._changed:
                    self.lines.append(line)
                    self._by_stream[name].append(line)
                    self._changed.notify_all()
        finally:
            if copy:
                copy.close()
            with self._changed:
                self._changed.notify_all()

    # --- what it said ----------------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def output(self) -> str:
        """Everything printed so far; once the process has exited, everything it printed."""
        return self._text(self.lines)

    def stdout(self) -> str:
        """What it wrote to stdout alone (with separate_stderr or log_to; else both streams)."""
        return self._text(self._by_stream["stdout"])

    def stderr(self) -> str:
        """What it wrote to stderr alone (with separate_stderr or log_to)."""
        return self._text(self._by_stream["stderr"])

    def _text(self, lines: list[str]) -> str:
        if self.process.poll() is not None:
            for reader in self._readers:
                reader.join(timeout=10)
        with self._changed:
            return "".join(lines)

    def urls(self) -> dict[str, str]:
        """Every `<kind> listening on <url>` line seen so far, kind to URL (the last one per kind wins)."""
        return {kind: url for kind, url in LISTENING.findall(self.output())}

    def url(self, kind: str = "proxy") -> str:
        urls = self.urls()
        assert kind in urls, f"no {kind!r} listening line; output:\n{self.output()}"
        return urls[kind]

    def wait_for(self, text: str, timeout: float = 30) -> list[str]:
        """The lines since the last wait up to the first that holds `text`; fails with the whole output when
        the process exits first or the deadline passes (and kills it then, so nothing is left behind)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for index in range(self._cursor, len(self.lines)):
                    if text in self.lines[index]:
                        seen, self._cursor = self.lines[self._cursor : index + 1], index + 1
                        return seen
                done = not any(reader.is_alive() for reader in self._readers)
                left = deadline - time.monotonic()
                if done or left <= 0:
                    break
                self._changed.wait(min(left, 0.5))
        why = "exited" if done else f"did not say it within {timeout} s"
        self.kill()
        raise AssertionError(f"{text!r} not seen: {self.command[2:]} {why}; output:\n{self.output()}")

    async def wait_for_async(self, text: str, timeout: float = 30) -> list[str]:
        """wait_for without blocking the test's event loop (when that loop serves what the process calls)."""
        return await asyncio.to_thread(self.wait_for, text, timeout)

    # --- its end ---------------------------------------------------------------------------------------

    async def wait_async(self, timeout: float) -> int:
        """wait() without blocking the test's event loop."""
        return await asyncio.to_thread(self.process.wait, timeout)

    def poll(self) -> int | None:
        return self.process.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.process.wait(timeout=timeout)

    def send_signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def finish(self, timeout: float = 60) -> str:
        """The whole output of a process expected to exit by itself (killed, and the test fails, if not)."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.command[2:]} did not exit; output:\n{self.output()}") from None
        return self.output()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> str:
        """Ask it to stop with `sig`, SIGKILL if it does not within `timeout`; its whole output."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.output()


def fle_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "fle", *args]


def fle(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    log_to: tuple[Path, Path] | None = None,
    separate_stderr: bool = False,
) -> FleProcess:
    """Start `python -m fle ARGS` (this checkout) without waiting for anything."""
    return FleProcess(
        fle_command(*args), env=fle_env(env), cwd=cwd, log_to=log_to, separate_stderr=separate_stderr
    )


def fle_proxy(*args: str) -> FleProcess:
    """`fle proxy ARGS` with one worker unless ARGS say otherwise, its access log (stdout) kept apart from its
    log (stderr), so a test can read the access log as JSON lines."""
    if "--workers" not in args:
        args = (*args, "--workers", "1")
    return fle("proxy", *args, separate_stderr=True)


@contextmanager
def running(process: FleProcess, ready: str = "listening on", timeout: float = 30) -> Iterator[FleProcess]:
    """Wait until `process` prints `ready`, hand it to the block, stop it (SIGTERM, then SIGKILL) after."""
    try:
        process.wait_for(ready, timeout)
        yield process
    finally:
        process.stop()


@contextmanager
def running_fle(
    *args: str,
    ready: str = "listening on",
    timeout: float = 30,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    log_to: tuple[Path, Path] | None = None,
) -> Iterator[FleProcess]:
    """`fle ARGS` as a process for the length of the block, once it has printed `ready`."""
    with running(fle(*args, env=env, cwd=cwd, log_to=log_to), ready, timeout) as process:
        yield process


@pytest.fixture
def fle_process() -> Iterator[Callable[..., FleProcess]]:
    """Start `fle` processes (same arguments as fle()) that are stopped when the test ends, pass or fail."""
    started: list[FleProcess] = []

    def start(*args: str, **kwargs: object) -> FleProcess:
        process = fle(*args, **kwargs)  # type: ignore[arg-type]
        started.append(process)
        return process

    yield start
    for process in reversed(started):
        process.stop()


def eventually(check: Callable[[], T], timeout: float = 10, interval: float = 0.05) -> T:
    """Call `check` until it passes, and return what it returned: it passes when it raises no AssertionError
    and returns None (an assert-style check) or a true value (a predicate); past `timeout`, fail with its
    last assertion. For conditions that become true later (a file written by
    another process, a worker replaced), instead of a fixed sleep that is too short on a loaded machine and
    too long everywhere else."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result is None or result:
                return result
            failure: AssertionError = AssertionError(f"{check} still false after {timeout} s")
        except AssertionError as error:
            failure = error
        if time.monotonic() >= deadline:
            raise failure
        time.sleep(interval)


async def eventually_async(check: Callable[[], T], timeout: float = 10, interval: float = 0.05) -> T:
    """eventually() for a check that needs the test's event loop to run between tries."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result is None or result:
                return result  # type: ignore[return-value]
            failure: AssertionError = AssertionError(f"{check} still false after {timeout} s")
        except AssertionError as error:
            failure = error
        if time.monotonic() >= deadline:
            raise failure
        await asyncio.sleep(interval)
