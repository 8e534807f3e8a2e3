"""Fuzzing the request rewriter: hypothesis over hostile token soups, and a bounded atheris run.

Both use `fuzz/rewrite_target.check`: the rewriter refuses, or independent readers (urllib, json, the
email parser) find every protected field encrypted; anything else is a failure. `FLE_FUZZ_SECONDS` sets
the atheris run's length (default 20 s); docs/testing.md says how to fuzz longer.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profiles.model import BodyFormat

ROOT = Path(__file__).parents[2]
TARGET = ROOT / "fuzz" / "rewrite_target.py"
_spec = importlib.util.spec_from_file_location("rewrite_target", TARGET)
assert _spec and _spec.loader
target = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(target)

TOKENS = [
    line[1:-1].encode().decode("unicode_escape").encode("latin-1")
    for line in (ROOT / "fuzz" / "rewrite.dict").read_text().splitlines()
    if line.startswith('"')
]
SECRET = b"404-555-0150"
soup = st.lists(st.sampled_from([*TOKENS, SECRET]) | st.binary(max_size=4), max_size=30).map(b"".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=soup, fmt=st.sampled_from(list(target.CONTENT_TYPES)), index=st.integers(0, 1))
def test_property_rewrite_refuses_or_encrypts_every_protected_field(
    body: bytes, fmt: BodyFormat, index: int
) -> None:
    choices = target.CONTENT_TYPES[fmt]
    target.check(fmt, choices[index % len(choices)], body)


@settings(max_examples=200, deadline=None)
@given(
    names=st.lists(st.sampled_from(["phone", "PHONE", "phone[]", "ph%6Fne", "card[x]", "Card", "a", "x+"])),
    values=st.lists(st.binary(max_size=8)),
)
def test_property_valid_forms_are_rewritten_not_refused(names: list[str], values: list[bytes]) -> None:
    from urllib.parse import quote_from_bytes

    body = "&".join(f"{n}={quote_from_bytes(v)}" for n, v in zip(names, values, strict=False)).encode()
    assert target.check(BodyFormat.URL_ENCODED, "application/x-www-form-urlencoded", body) is not None


def test_the_check_catches_a_leak() -> None:
    import pytest

    def leaky(decision, body, content_type, encryptor, limits):  # type: ignore[no-untyped-def]
        return body, 0

    original = target.rewrite_body
    target.rewrite_body = leaky
    try:
        with pytest.raises(target.Leak):
            target.check(BodyFormat.URL_ENCODED, "application/x-www-form-urlencoded", b"PHONE=1")
        with pytest.raises(target.Leak):
            target.check(BodyFormat.JSON, "application/json", b'{"Phone": 1}')
        with pytest.raises(target.Leak):
            body = b'--B\r\nContent-Disposition: form-data; name="phone"\r\n\r\n1\r\n--B--'
            target.check(BodyFormat.MULTIPART, "multipart/form-data; boundary=B", body)
    finally:
        target.rewrite_body = original


def test_atheris_run_finds_nothing(tmp_path: Path) -> None:
    seconds = int(os.environ.get("FLE_FUZZ_SECONDS", "20"))
    result = subprocess.run(
        [
            sys.executable,
            str(TARGET),
            f"-max_total_time={seconds}",
            f"-dict={ROOT / 'fuzz' / 'rewrite.dict'}",
            "-rss_limit_mb=2048",
            f"-artifact_prefix={tmp_path}/",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    tail = result.stderr[-3000:]
    assert result.returncode == 0, tail
    runs = [line for line in result.stderr.splitlines() if line.startswith("Done ")]
    assert runs and int(runs[0].split()[1]) > 1000, tail
