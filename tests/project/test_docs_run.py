"""Every shell block of README.md and docs/*.md runs as written (design.md contract 11, docs/testing.md).

For each page, its ```sh / ```bash / ```shell blocks run in order, in ONE bash session (`bash -euo pipefail`,
as a user pastes them into one terminal: variables a block exports are there for the next), from the root
of a fresh copy of the tree (the files `git ls-files` names), after "the README's install": the copy gets a
`.venv` that is this interpreter's virtualenv, its `bin` first on PATH and the copy on PYTHONPATH, so `fle`
and `python3` run the copied code. HOME is a scratch directory, so a page that writes under `~` writes there.

A block whose fence follows the line `<!-- norun: REASON -->` is not run; those are listed and counted by
test_norun_blocks_are_few_and_say_why, never skipped silently. A page fails when a block exits non-zero or
runs past BLOCK_TIMEOUT (the failure names the page, the block's line and the tail of its output), when a
process it started is still running after its last block (a server started in the background must be
stopped), or when it leaves a file that is neither tracked nor ignored (.gitignore covers what the docs
create: `git add -A` after following the docs commits none of it).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PAGES = ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))]
SHELLS = ("sh", "bash", "shell")
MAX_NORUN = 12
BLOCK_TIMEOUT = 120.0  # seconds for one block; the longest (a Lambda package build) takes about 15 s
STOP_GRACE = 10.0  # seconds for the servers a page stopped to finish exiting

FENCE = re.compile(r"^(?P<indent>\s*)```(?P<info>[A-Za-z0-9_+-]*)\s*$")
NORUN = re.compile(r"^\s*<!--\s*norun:\s*(?P<reason>.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced shell block of a page: where it starts, its commands, and why it is not run (if so)."""

    page: str
    line: int  # 1-based line number of the opening fence
    code: str
    norun: str | None


def shell_blocks(page: str, text: str) -> list[Block]:
    """The page's shell blocks in order; indented fences (inside list items) are dedented."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent = len(opening["indent"])
        end = i + 1
        while end < len(lines) and not re.match(r"^\s*```\s*$", lines[end]):
            end += 1
        if opening["info"] in SHELLS:
            marker = NORUN.match(lines[i - 1]) if i > 0 else None
            body = "\n".join(
                line[indent:] if line[:indent].isspace() else line for line in lines[i + 1 : end]
            )
            blocks.append(Block(page, i + 1, body + "\n", marker["reason"] if marker else None))
        i = end + 1
    return blocks


def all_blocks() -> list[Block]:
    return [b for page in PAGES for b in shell_blocks(page, (ROOT / page).read_text())]


def test_blocks_are_found_in_order_with_their_line_dedented_and_their_marker() -> None:
    page = "\n".join(
        [
            "# Page",  # 1
            "```text",  # 2: a synopsis, not run
            "fle proxy --config DIR",
            "```",
            "1. A step:",  # 5
            "   ```sh",  # 6
            "   echo one",
            "       --flag",
            "   ```",
            "<!-- norun: needs a real AWS account -->",  # 10
            "```bash",  # 11
            "aws s3 ls",
            "```",
            "```",  # 14: no info string, not a shell block
            "echo bare",
            "```",
            "```shell",  # 17
            "echo three",
            "```",
        ]
    )
    assert shell_blocks("p.md", page) == [
        Block("p.md", 6, "echo one\n    --flag\n", None),
        Block("p.md", 11, "aws s3 ls\n", "needs a real AWS account"),
        Block("p.md", 17, "echo three\n", None),
    ]


def test_norun_blocks_are_few_and_say_why() -> None:
    norun = [b for b in all_blocks() if b.norun is not None]
    listing = "\n".join(f"{b.page}:{b.line}: {b.norun}" for b in norun)
    print(f"{len(norun)} shell blocks not run:\n{listing}")  # shown with -rP / -s
    assert all(b.norun for b in norun), f"a norun marker without a reason:\n{listing}"
    assert len(norun) <= MAX_NORUN, f"more than {MAX_NORUN} shell blocks are not run:\n{listing}"


def test_norun_markers_sit_right_before_a_shell_fence() -> None:
    """A marker anywhere else (before a text block, a blank line in between) would quietly mark nothing."""
    for page in PAGES:
        lines = (ROOT / page).read_text().splitlines()
        for number, line in enumerate(lines, start=1):
            if line.lstrip().startswith("<!--") and "norun" in line:
                following = FENCE.match(lines[number]) if number < len(lines) else None
                assert following is not None and following["info"] in SHELLS, (
                    f"{page}:{number}: a norun marker must be the line right before a sh/bash/shell fence"
                )


def test_shell_blocks_are_commands_not_synopses() -> None:
    """Usage synopses (`[--flag X]`, `a|b` alternatives, placeholders) belong in ```text blocks."""
    synopsis = re.compile(r"\s\[--?[A-Za-z]|(?<![\w$])(DIR|URL|ID)\b(?!=)|\s\[\w+ \.\.\.\]|\w\|\w+\]")
    for b in all_blocks():
        if b.norun is not None:
            continue
        for offset, line in enumerate(b.code.splitlines(), start=1):
            command = line.split(" #", 1)[0]
            assert not synopsis.search(command), (
                f"{b.page}:{b.line + offset}: looks like a usage synopsis, not a command: {line.strip()!r}"
            )


def _venv() -> Path:
    prefix = Path(sys.prefix)
    assert prefix != Path(sys.base_prefix) and (prefix / "bin" / "fle").exists(), (
        "run the tests from the project's virtualenv (scripts/install.sh --test makes .venv)"
    )
    return prefix


def _overlay_venv(venv: Path, installed: Path) -> None:
    """A virtualenv of the copy's own that sees the installed one's packages (never writes to it).

    A symlink to the installed .venv would let a page that installs (`scripts/install.sh`, `pip install -e .`)
    re-point the shared editable install at the copy. Instead: a new venv whose site-packages holds a .pth
    adding the installed site-packages (its editable finder comes after PYTHONPATH, which is the copy), and
    the installed console scripts re-pointed at the new interpreter."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
    (venv / site / "_docs_run_installed.pth").write_text(
        f"import site; site.addsitedir({str(installed / site)!r})\n"
    )
    shebang = f"#!{installed}/bin/python".encode()
    for script in (installed / "bin").iterdir():
        target = venv / "bin" / script.name
        if target.exists() or target.is_symlink() or not script.is_file():
            continue
        head = script.read_bytes()
        if head.startswith(shebang + b"\n"):
            target.write_bytes(f"#!{venv}/bin/python".encode() + head[len(shebang) :])
            target.chmod(0o755)
        elif not head.startswith(b"#!"):
            target.symlink_to(script)  # a binary (ruff)


def _fresh_copy(dest: Path) -> None:
    """The tracked files, as a fresh clone has them, plus the install's .venv; a git index to compare with."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if not source.exists():  # deleted in the working tree, not yet committed
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    _overlay_venv(dest / ".venv", _venv())
    node_modules, linked = ROOT / "tests" / "node" / "node_modules", dest / "tests" / "node" / "node_modules"
    if node_modules.is_dir() and not linked.is_symlink() and not linked.exists():
        linked.symlink_to(node_modules.resolve())
    git = ["git", "-c", "init.defaultBranch=main", "-c", "core.autocrlf=false"]
    subprocess.run([*git, "init", "-q"], cwd=dest, check=True)
    # node_modules is a symlink here (a real install makes a directory, which .gitignore covers)
    (dest / ".git" / "info" / "exclude").write_text("/tests/node/node_modules\n")
    subprocess.run([*git, "add", "-A"], cwd=dest, check=True)


def _untracked(tree: Path) -> list[str]:
    others = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard", "--directory"],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    return others.stdout.split()


def _live_processes(group: int) -> list[str]:
    """Processes (not zombies) still in the page's process group: `pid command`."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        command, _, rest = text.rpartition(") ")
        fields = rest.split()
        if int(fields[2]) == group and fields[0] != "Z":
            try:
                cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                cmdline = command
            alive.append(f"{stat.parent.name} {cmdline.strip()}")
    return alive


class _Output:
    """The session's output lines, read by a thread, with the time the last block marker was seen."""

    def __init__(self, stream: object, marker: str) -> None:
        self.lines: list[str] = []
        self.block: int | None = None
        self.block_start = time.monotonic()
        self.block_first_line = 0
        self.finished: list[int] = []
        self.seconds: dict[int, float] = {}  # block line -> how long it ran
        self._marker = marker
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for raw in stream:  # type: ignore[attr-defined]
            line = raw.decode(errors="replace").rstrip("\n")
            if line.startswith(self._marker):
                kind, number = line[len(self._marker) :].split()
                if kind == "start":
                    self.block, self.block_start = int(number), time.monotonic()
                    self.block_first_line = len(self.lines)
                else:
                    self.finished.append(int(number))
                    self.seconds[int(number)] = time.monotonic() - self.block_start
                continue
            self.lines.append(line)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def tail(self, count: int = 40) -> str:
        return "\n".join(self.lines[max(self.block_first_line, len(self.lines) - count) :])


def _session_script(blocks: list[Block], marker: str) -> str:
    parts = []
    for b in blocks:
        parts.append(f"printf '%s\\n' '{marker}start {b.line}'\n")
        parts.append(b.code)
        parts.append(f"printf '%s\\n' '{marker}done {b.line}'\n")
    return "".join(parts)


def _run_page(page: str, blocks: list[Block], tree: Path, home: Path) -> dict[int, float]:
    marker = f"@@docs-run-{secrets.token_hex(8)}@@ "
    script = tree.parent / "session.sh"
    script.write_text(_session_script(blocks, marker))
    venv_bin = tree / ".venv" / "bin"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FLE_", "AWS_", "PYTEST_", "VIRTUAL_ENV", "SOFTHSM2_", "PYTHON"))
    }
    env.update(
        HOME=str(home),
        PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        PYTHONPATH=str(tree),
        PYTHONDONTWRITEBYTECODE="1",
    )
    session = subprocess.Popen(
        ["bash", "-euo", "pipefail", str(script)],
        cwd=tree,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    output = _Output(session.stdout, marker)
    failure = None
    try:
        while session.poll() is None:
            if output.block is not None and time.monotonic() - output.block_start > BLOCK_TIMEOUT:
                os.killpg(session.pid, signal.SIGKILL)
                session.wait()
                failure = f"ran past {BLOCK_TIMEOUT:.0f} s"
                break
            time.sleep(0.1)
        else:
            if session.returncode != 0:
                failure = f"exited {session.returncode}"
        leftover: list[str] = []
        deadline = time.monotonic() + STOP_GRACE
        while failure is None and (leftover := _live_processes(session.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(session.pid, signal.SIGKILL)
        output.join(5)
    where = f"{page}:{output.block}" if output.block is not None else page
    assert failure is None, f"{where}: the block {failure}; its output ends:\n{output.tail()}"
    assert output.finished == [b.line for b in blocks], f"{page}: blocks finished {output.finished}"
    assert not leftover, (
        f"{page}: processes still running after its last block (stop what a block starts):\n"
        + "\n".join(leftover)
    )
    return output.seconds


def _pages_with_runnable_blocks() -> list[str]:
    return [p for p in PAGES if any(b.norun is None for b in shell_blocks(p, (ROOT / p).read_text()))]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("page", _pages_with_runnable_blocks())
def test_page_shell_blocks_run_in_order_from_a_fresh_copy(page: str, tmp_path: Path) -> None:
    blocks = [b for b in shell_blocks(page, (ROOT / page).read_text()) if b.norun is None]
    tree, home = tmp_path / "tree", tmp_path / "home"
    tree.mkdir()
    home.mkdir()
    _fresh_copy(tree)
    started = time.monotonic()
    seconds = _run_page(page, blocks, tree, home)
    each = ", ".join(f"line {line}: {took:.1f} s" for line, took in seconds.items())
    print(f"{page}: {len(blocks)} blocks in {time.monotonic() - started:.1f} s ({each})")
    assert not (untracked := _untracked(tree)), (
        f"{page}: following it leaves files that are neither tracked nor ignored (add them to .gitignore): "
        + ", ".join(untracked)
    )
