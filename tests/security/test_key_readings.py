"""Application-level key readings (issue 24, finding 2), proven against REAL accessors.

A request goes through `fle proxy`; what it forwards is replayed to two origins that read the protected
paths as applications do (tests/origins/key_readings.js: Express 4 + multer 2.5 + lodash 4.17 `get`,
`result`, `merge`, `set`, Object.assign and spread, and a polluted Object.prototype;
tests/origins/key_readings.php: Laravel's data_get, Arr::get, Arr::undot). No reading of a protected path
may hold a secret; a refused request must have forwarded nothing. The probes come from the enumerated
generator tests/key_readings_strategies.py: FLE_KEY_EXAMPLES of them per run (default 200, seeded by
FLE_DIFF_SEED; 0 or more than the space runs every probe once).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.differential_strategies import FORM_PATTERNS, JSON_CT, JSON_POINTERS, MULTIPART_CT, Probe
from tests.fixtures_origins import _free_port, _read_port, _wait_port, start_origin, stop_origins
from tests.harness_capture import Captured, CaptureOrigin, harness_config_dir, proxy_to_capture, raw_exchange
from tests.harness_check import Protection
from tests.key_readings_strategies import (
    READS,
    all_probes,
    multipart_body,
    random_form_probes,
    random_json_probes,
    sample,
)

pytestmark = pytest.mark.timeout(900)

EXAMPLES = int(os.environ.get("FLE_KEY_EXAMPLES", "200"))
SEED = int(os.environ.get("FLE_DIFF_SEED") or random.SystemRandom().randrange(2**32))
PROTECTION = Protection(FORM_PATTERNS, JSON_POINTERS)
S1 = "Zq01Kw8secret"
S2 = "Zq02Kw8secret"


@dataclass(frozen=True)
class Reader:
    name: str
    url: str


@dataclass(frozen=True)
class Reading:
    origin: str
    accessor: str
    path: tuple[str, ...]
    value: str


@pytest.fixture(scope="module")
def key_origins() -> Iterator[list[Reader]]:
    """The Express and PHP key-reading origins on loopback, reading READS; stopped at the end."""
    env = {**os.environ, "KEY_READS": json.dumps([list(path) for path in READS])}
    php_port = _free_port()
    php = ["php", "-d", "display_errors=0", "-S", f"127.0.0.1:{php_port}", "key_readings.php"]
    commands = {"express4+lodash": ["node", "key_readings.js"], "php (Laravel helpers)": php}
    started: list[tuple[str, subprocess.Popen[bytes]]] = []
    readers = []
    try:
        for name, command in commands.items():
            out = Path(os.environ.get("TMPDIR", "/tmp")) / f"key-origin-{os.getpid()}-{len(started)}.out"
            process = start_origin(command, env, out)
            started.append((name, process))
            deadline = time.monotonic() + 60
            if command[0] == "php":
                _wait_port(php_port, process, deadline)
                port = php_port
            else:
                port = _read_port(process, out, deadline)
            out.unlink()
            readers.append(Reader(name, f"127.0.0.1:{port}"))
        yield readers
    finally:
        stop_origins([process for _, process in started])


@dataclass
class KeyHarness:
    proxy_url: str
    capture: CaptureOrigin
    readers: list[Reader]

    def send(self, probe: Probe) -> tuple[int, list[Captured]]:
        self.capture.take()
        status, _ = raw_exchange(self.proxy_url, probe.request())
        return status, self.capture.take()


@pytest.fixture(scope="module")
def key_harness(
    tmp_path_factory: pytest.TempPathFactory, rsa_key: rsa.RSAPrivateKey, key_origins: list[Reader]
) -> Iterator[KeyHarness]:
    tmp = tmp_path_factory.mktemp("keys")
    with proxy_to_capture(harness_config_dir(tmp / "cfg", rsa_key), tmp / "proxy.log") as (url, capture):
        yield KeyHarness(url, capture, key_origins)


def read(readers: list[Reader], content_type: str, body: bytes) -> list[Reading]:
    """Post a body to every key-reading origin; every reading they report (an error answer fails)."""
    out = []
    for reader in readers:
        host, port = reader.url.rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            connection.request("POST", "/submit", body=body, headers={"Content-Type": content_type})
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        assert response.status == 200, f"{reader.name} answered {response.status}: {data[:300]!r}"
        for accessor, path, value in json.loads(data)["readings"]:
            if value is not None:
                out.append(Reading(reader.name, accessor, tuple(path), value))
    return out


def plaintext_readings(readings: list[Reading], probe: Probe) -> list[Reading]:
    """The readings of a protected path that hold one of the probe's secrets."""
    json_body = probe.kind == "json"
    return [
        r
        for r in readings
        if PROTECTION.protects(r.path, json_body) and any(s in r.value for s in probe.secrets)
    ]


def check(harness: KeyHarness, probe: Probe) -> str:
    """'refused' or 'forwarded'; AssertionError naming the accessor when an origin reads a plaintext."""
    status, captured = harness.send(probe)
    if status >= 400:
        assert not captured, f"{probe.label}: refused with {status} but forwarded"
        return "refused"
    assert status == 200 and len(captured) == 1, f"{probe.label}: {status}, {len(captured)} forwarded"
    forwarded = captured[0]
    content_type = forwarded.header("Content-Type") or ""
    leaked = plaintext_readings(read(harness.readers, content_type, forwarded.body), probe)
    assert not leaked, f"seed {SEED}: {probe.label}: body {forwarded.body[:400]!r}\n" + "\n".join(
        f"  {r.origin} {r.accessor} {list(r.path)} read a secret" for r in leaked
    )
    return "forwarded"


# The leaks of issue 24, finding 2, exactly as reported
ISSUE = [
    Probe("json", "dotted member beside the real one", JSON_CT,
          json.dumps({"card": {"number": S2}, "card.number": S1}).encode(), (S1, S2)),
    Probe("json", "dotted member alone", JSON_CT, json.dumps({"card.number": S1}).encode(), (S1,)),
    Probe("json", "__proto__ member", JSON_CT, json.dumps({"__proto__": {"phone": S1}}).encode(), (S1,)),
    Probe("multipart", "multipart __proto__[phone]", f"{MULTIPART_CT}; boundary=KB",
          multipart_body("__proto__[phone]", S1), (S1,)),
]  # fmt: skip


def test_the_origins_read_the_issue_leaks_when_sent_straight(key_origins: list[Reader]) -> None:
    """The harness can fail: sent to the origins without the proxy, each issue body is read as protected."""
    for probe in ISSUE:
        assert probe.content_type is not None
        leaked = plaintext_readings(read(key_origins, probe.content_type, probe.body), probe)
        assert leaked, f"{probe.label}: no accessor read the secret, so this probe proves nothing"
    readings = read(key_origins, JSON_CT, ISSUE[0].body)
    accessors = {r.accessor for r in plaintext_readings(readings, ISSUE[0])}
    assert {"lodash.get(dotted)", "Arr::get", "Arr::undot", "lodash.set(each key)"} <= accessors


@pytest.mark.parametrize("probe", ISSUE, ids=lambda p: p.label)
def test_issue_key_readings_leak_nothing(key_harness: KeyHarness, probe: Probe) -> None:
    check(key_harness, probe)


def test_generated_key_readings_leak_nothing(key_harness: KeyHarness) -> None:
    """The enumerated generator, FLE_KEY_EXAMPLES probes (all of them with 0): no accessor reads a secret."""
    probes = all_probes() if EXAMPLES == 0 else sample(EXAMPLES, SEED)
    outcomes: Counter[str] = Counter()
    started = time.monotonic()
    for probe in probes:
        outcomes[f"{probe.kind} {check(key_harness, probe)}"] += 1
    print(f"key readings: {len(probes)} probes in {time.monotonic() - started:.1f} s: {dict(outcomes)}")
    # the generator reaches both outcomes: it is not all refused (the real nested value passes encrypted)
    assert outcomes["json forwarded"] and outcomes["json refused"], outcomes


RANDOM = int(os.environ.get("FLE_KEY_RANDOM", "300"))


@pytest.mark.parametrize("strategy", [random_json_probes(), random_form_probes()], ids=["json", "form"])
def test_random_key_readings_leak_nothing(
    key_harness: KeyHarness, strategy: st.SearchStrategy[Probe]
) -> None:
    """Hypothesis over random keys and names from the pieces accessors split at (FLE_KEY_RANDOM examples)."""
    outcomes: Counter[str] = Counter()

    @seed(SEED)
    @settings(max_examples=RANDOM, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(probe: Probe) -> None:
        outcomes[check(key_harness, probe)] += 1

    started = time.monotonic()
    run()
    took = time.monotonic() - started
    print(f"random key readings: {sum(outcomes.values())} probes in {took:.1f} s: {dict(outcomes)}")
