"""Build the decryptor's AWS Lambda deployment package: a zip the Python runtime runs as it is.

Lives under fle/ (the CLI, which may import everything) and runs pip as a subprocess, so the decryptor
never imports packaging machinery at run time. Steps: pick our packages and the locked distributions the
handler needs (lambda_deps.py); install those pins as binary wheels for Lambda's platform with pip
(`--only-binary=:all:`, `--require-hashes`: nothing is built, nothing unpinned comes in); copy our
packages' sources; compile bytecode when this Python is the target's (Lambda's /var/task is read-only,
so without .pyc every cold start compiles every module); write a zip whose bytes depend only on its
inputs (sorted entries, fixed timestamps and modes).
"""

from __future__ import annotations

import compileall
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from keystore import Keystore, KeystoreError

from .lambda_deps import (
    HANDLER,
    PKCS11_DISTRIBUTION,
    PackageError,
    distributions_of,
    import_closure,
    lock_closure,
    read_lock,
)

ARCHES = ("x86_64", "arm64")
_WHEEL_ARCH = {"x86_64": "x86_64", "arm64": "aarch64"}
# The newest glibc of each Lambda Python runtime's OS: python3.11 runs on Amazon Linux 2 (glibc 2.26),
# python3.12 and later on Amazon Linux 2023 (glibc 2.34). A manylinux wheel newer than that would not load.
RUNTIME_GLIBC = {"3.11": 26, "3.12": 34, "3.13": 34}
ZIPPED_LIMIT = 50 * 1024 * 1024  # a zip uploaded directly (larger ones must go through S3)
UNZIPPED_LIMIT = 250 * 1024 * 1024  # the function and all its layers, unzipped
TASK_ROOT = "/var/task"  # where Lambda unpacks the zip; recorded in tracebacks of compiled modules
KEYSTORE_NAME = "keystore.toml"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the zip format's earliest date


@dataclass(frozen=True)
class PackageSpec:
    """What to build: target architecture and Python, optional pieces, the lock the pins come from."""

    output: Path
    lock: Path
    arch: str = "x86_64"
    python: str = "3.11"
    with_pkcs11: bool = False
    keystore: Path | None = None


@dataclass(frozen=True)
class BuiltPackage:
    """The zip written, what went in, and its sizes."""

    path: Path
    packages: tuple[str, ...]
    distributions: tuple[str, ...]
    zipped_bytes: int
    unzipped_bytes: int
    compiled: bool

    def warnings(self) -> list[str]:
        """Lambda's size limits this package breaks, if any."""
        found = []
        if self.zipped_bytes > ZIPPED_LIMIT:
            found.append("over Lambda's 50 MB limit for a zip uploaded directly: upload it through S3")
        if self.unzipped_bytes > UNZIPPED_LIMIT:
            found.append("over Lambda's 250 MB limit unzipped (function and layers together)")
        return found


def platform_tags(arch: str, python: str) -> list[str]:
    """The manylinux tags a wheel may carry to load on this Lambda runtime, newest first."""
    machine = _WHEEL_ARCH[arch]
    newest = RUNTIME_GLIBC[python]
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(newest, 16, -1)]
    return [*tags, f"manylinux2014_{machine}"]


def _pip_install(requirements: Path, target: Path, spec: PackageSpec) -> None:
    """Install the pins, binary wheels for the target only, hash-checked, no dependency resolution."""
    command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    command += ["--target", str(target), "--no-deps", "--require-hashes", "--no-compile"]
    command += ["--only-binary=:all:"]
    command += ["--implementation", "cp", "--python-version", spec.python]
    for tag in platform_tags(spec.arch, spec.python):
        command += ["--platform", tag]
    command += ["-r", str(requirements)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PackageError("pip could not install the locked wheels for the target:\n" + done.stderr.strip())


def _check_keystore(path: Path, with_pkcs11: bool) -> None:
    """Refuse a keystore file the function could not use, or one that would ship a private key."""
    try:
        entries = Keystore.from_file(path).entries
    except KeystoreError as e:
        raise PackageError(f"keystore: {e}") from e
    for entry in entries:
        if entry.backend == "file":
            raise PackageError(
                f"keystore: {entry.where} uses backend 'file': a private key file does not belong in a "
                "deployment package; keep the key in Parameter Store (backend 'ssm') or an HSM"
            )
        if entry.backend == "pkcs11" and not with_pkcs11:
            raise PackageError(f"keystore: {entry.where} uses backend 'pkcs11': add --with-pkcs11")


def _copy_sources(source: Path, target: Path) -> None:
    """A package's files as shipped: no caches, no compiled leftovers of this machine."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo"))


def _compile(stage: Path) -> None:
    """Bytecode checked by source hash, never by mtime: valid on a read-only /var/task, reproducible."""
    ok = compileall.compile_dir(
        stage,
        ddir=TASK_ROOT,
        quiet=2,
        workers=1,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    if not ok:
        raise PackageError("some modules of the package do not compile")


_LEVEL = 6  # zlib's default: 9 took twice as long (4.0 s against 2.2 s) for a zip 0.3% smaller


def write_zip(stage: Path, output: Path) -> int:
    """Zip a directory with sorted entries, fixed dates and modes; returns the unzipped size."""
    files = sorted(
        (p for p in stage.rglob("*") if p.is_file()), key=lambda p: p.relative_to(stage).as_posix()
    )
    total = 0
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=_LEVEL) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(stage).as_posix(), date_time=_FIXED_TIME)
            info.external_attr = (0o100755 if os.access(path, os.X_OK) else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = path.read_bytes()
            total += len(data)
            archive.writestr(info, data, compresslevel=_LEVEL)
    partial.replace(output)
    return total


def build(spec: PackageSpec, progress: Callable[[str], None] = lambda _: None) -> BuiltPackage:
    """Build the package that `spec` describes and return what was written."""
    if spec.arch not in ARCHES:
        raise PackageError(f"unknown architecture {spec.arch!r}; choose one of {', '.join(ARCHES)}")
    if spec.python not in RUNTIME_GLIBC:
        raise PackageError(f"unknown Lambda Python {spec.python!r}; choose one of {', '.join(RUNTIME_GLIBC)}")
    if spec.keystore is not None:
        _check_keystore(spec.keystore, spec.with_pkcs11)
    closure = import_closure()
    roots = distributions_of(closure.third_party)
    if not spec.with_pkcs11:
        roots.discard(PKCS11_DISTRIBUTION)
    pins = lock_closure(read_lock(spec.lock), roots)
    compiled = spec.python == f"{sys.version_info.major}.{sys.version_info.minor}"
    with tempfile.TemporaryDirectory(prefix="fle-lambda-") as work:
        stage = Path(work) / "package"
        requirements = Path(work) / "requirements.txt"
        requirements.write_text("".join(pin.text for pin in pins), encoding="utf-8")
        progress(f"installing {len(pins)} locked distributions: {spec.arch} wheels for Python {spec.python}")
        _pip_install(requirements, stage, spec)
        shutil.rmtree(stage / "bin", ignore_errors=True)  # console scripts: nothing on Lambda runs them
        for name, source in closure.packages.items():
            _copy_sources(source, stage / name)
        if spec.keystore is not None:
            shutil.copyfile(spec.keystore, stage / KEYSTORE_NAME)
        if not (stage / Path(*HANDLER.split(".")[:-1])).with_suffix(".py").is_file():
            raise PackageError(f"the handler module of {HANDLER} is missing from the package")
        if compiled:
            _compile(stage)
        unzipped = write_zip(stage, spec.output)
    return BuiltPackage(
        spec.output,
        tuple(closure.packages),
        tuple(pin.name for pin in pins),
        spec.output.stat().st_size,
        unzipped,
        compiled,
    )
