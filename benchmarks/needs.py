"""What a benchmark needs that the base install lacks, checked before anything is measured.

Without these checks a run measured for half a minute and then crashed on `import matplotlib`, and
bench_decrypt waited 30 s to say "moto server did not start" when moto was not installed. `require` stops at
once with one line naming what is missing and how to install it.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

BENCH_EXTRA = "install the bench extra: pip install -e '.[bench]' (scripts/install.sh --test brings it too)"
TEST_EXTRA = "install the test extra: scripts/install.sh --test (or pip install -e '.[test]')"

# module -> how to get it
MODULES = {
    "matplotlib": BENCH_EXTRA,
    "moto": TEST_EXTRA,
    "flask": TEST_EXTRA,  # moto's server mode (moto[server])
    "pkcs11": "pip install -e . (python-pkcs11 is a base dependency)",
}
# program -> how to get it
PROGRAMS = {
    "wrk": "apt-get install wrk (scripts/install.sh --test installs it)",
}
SOFTHSM_LIBRARY = Path("/usr/lib/softhsm/libsofthsm2.so")
SOFTHSM_HOW = "apt-get install softhsm2 (scripts/install.sh --test installs it)"


def missing(
    modules: tuple[str, ...] = (), programs: tuple[str, ...] = (), softhsm: bool = False
) -> list[str]:
    """One phrase per missing piece: what it is and how to install it."""
    gaps = [f"the Python module {m} is missing: {MODULES[m]}" for m in modules if not _importable(m)]
    gaps += [f"the program {p} is missing: {PROGRAMS[p]}" for p in programs if shutil.which(p) is None]
    if softhsm and not SOFTHSM_LIBRARY.exists():
        gaps.append(f"SoftHSM2 ({SOFTHSM_LIBRARY}) is missing: {SOFTHSM_HOW}")
    return gaps


def require(
    who: str, modules: tuple[str, ...] = (), programs: tuple[str, ...] = (), softhsm: bool = False
) -> None:
    """SystemExit with one line when anything is missing (nothing has been measured yet)."""
    gaps = missing(modules, programs, softhsm)
    if gaps:
        raise SystemExit(f"{who}: {'; '.join(gaps)}")


def require_keystore_backends(who: str) -> None:
    """`require` for the benchmarks that open keys in every backend: moto's KMS server and SoftHSM2."""
    require(who, modules=("moto", "flask", "pkcs11"), softhsm=True)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
