"""The encoder's CPU per message back to back, and after the CPU was left idle as the proxy leaves it.

`python -m benchmarks.encoder_cold [CALLS]` (default 1500): the RSA-OAEP public operation alone and a whole
`esdk.encrypt` of the sample phone number, thread CPU time per call (median), in four conditions, each
`CALLS` times: back to back (the tight loop earlier figures came from), after 0.5 ms asleep (what a proxy
waiting on its sockets does between bursts: the core idles), after a 1 MiB memory sweep (caches cold, core
busy), and after about 100 µs of other Python. Pinned to one core. What it shows (docs/performance.md,
"Issue 27, second pass"): the same call costs about twice as much after the core idled, so figures from a
tight loop understate what the encrypting path adds inside the proxy. The message split in two: opening
one (`esdk.open_message`: everything but the value's frames) alone and 16 in a row, and sealing a value
into one (`esdk.seal`): what `--messages-ahead` moves out of the request, and how much making openings in
a batch saves ("Messages opened ahead").
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import rsa

from edge_proxy.encrypting import esdk

_SWEEP = bytearray(1 << 20)
_DOC = {"a": list(range(50)), "b": {"c": "x" * 100, "d": [{"e": i} for i in range(20)]}}


def _sweep() -> None:
    _SWEEP[::64] = b"\1" * (len(_SWEEP) // 64)


def _python() -> None:
    for _ in range(3):
        json.loads(json.dumps(_DOC))
        sorted(str(i) for i in range(200))


BETWEEN: dict[str, Callable[[], None]] = {
    "back to back": lambda: None,
    "after 0.5 ms asleep": lambda: time.sleep(0.0005),
    "after a 1 MiB sweep": _sweep,
    "after ~100 µs of Python": _python,
}


def per_call(step: Callable[[], object], between: Callable[[], None], calls: int) -> float:
    """Median thread CPU µs of `step`, each call preceded by `between` (not timed)."""
    samples = []
    for _ in range(calls):
        between()
        start = time.thread_time_ns()
        step()
        samples.append(time.thread_time_ns() - start)
    return statistics.median(samples) / 1e3


def main(argv: list[str]) -> int:
    calls = int(argv[0]) if argv else 1500
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    key = esdk.FieldKey(public, b"FLEDemo", b"DemoPublicKey")
    # a benchmark only: one opening sealed again and again (the proxy seals each opening exactly once)
    opening = esdk.open_message(key)
    steps: dict[str, tuple[Callable[[], object], int]] = {  # name: (step, messages it makes)
        "RSA-OAEP public op": (lambda: public.encrypt(os.urandom(32), esdk._OAEP), 1),
        "esdk.encrypt (whole message)": (lambda: esdk.encrypt(b"404-555-0150", key), 1),
        "esdk.open_message": (lambda: esdk.open_message(key), 1),
        "open_message, 16 in a row, each": (lambda: [esdk.open_message(key) for _ in range(16)], 16),
        "esdk.seal (the value's part)": (lambda: esdk.seal(opening, b"404-555-0150"), 1),
    }
    print(f"{'step':34s}" + "".join(f"{name:>26s}" for name in BETWEEN))
    for name, (step, messages) in steps.items():
        row = [per_call(step, between, max(1, calls // messages)) / messages for between in BETWEEN.values()]
        print(f"{name:34s}" + "".join(f"{x:23.1f} µs" for x in row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
