"""A dynalite server (DynamoDB on loopback, in Node) as a process: the DynamoDB of tests and benchmarks."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

NODE_DIR = Path(__file__).resolve().parent.parent / "tests" / "node"  # its package.json and node_modules
START = NODE_DIR / "start-dynalite.js"
READY = re.compile(r"dynalite listening on 127\.0\.0\.1:(\d+)")


@dataclass
class Dynalite:
    """A running dynalite server; `stop()` and `start()` again keep its port (and its data, with a path)."""

    port: int = 0
    path: Path | None = None
    process: subprocess.Popen[str] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20) -> Dynalite:
        node = shutil.which("node")
        if node is None or not (NODE_DIR / "node_modules" / "dynalite").is_dir():
            raise RuntimeError("dynalite is not installed: scripts/install.sh --test (needs node and npm)")
        args = [node, str(START), str(self.port)] + ([str(self.path)] if self.path else [])
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            seen.append(line)
            if match := READY.search(line):
                self.port = int(match.group(1))
                return self
        self.stop()
        raise RuntimeError("dynalite did not start:\n" + "".join(seen))

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
