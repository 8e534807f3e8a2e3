"""The header-mutation harness of issue 24: generated request heads through `fle proxy`, what it forwarded
replayed byte for byte to origins that read with their framework's defaults (tests/differential_headers.py
says what is generated and judged). Bounded by FLE_DIFF_EXAMPLES (default 150); FLE_DIFF_SEED fixes the seed.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, Phase, given, seed, settings

from tests.differential_headers import (
    HeaderProbe,
    as_text,
    exchange,
    header_config_dir,
    header_probes,
    judge,
    replay_verbatim,
)
from tests.differential_strategies import JSON_CT, secret
from tests.fixtures_origins import Origin
from tests.harness_capture import Captured, CaptureOrigin, proxy_to_capture
from tests.security.test_security_harness import PROTECTION

pytestmark = pytest.mark.timeout(600)

EXAMPLES = int(os.environ.get("FLE_DIFF_EXAMPLES", "150"))
SEED = int(os.environ.get("FLE_DIFF_SEED") or random.SystemRandom().randrange(2**32))


@dataclass
class HeaderHarness:
    proxy_url: str
    capture: CaptureOrigin
    origins: list[Origin]

    def check(self, probe: HeaderProbe) -> list[str]:
        """The probe through the proxy, what it forwarded replayed to every origin; the disagreements."""
        self.capture.take()
        status, _ = exchange(self.proxy_url, probe.request())
        forwarded = self.capture.take()
        readings = (
            replay_verbatim(self.origins, forwarded[0]) if status == 200 and len(forwarded) == 1 else []
        )
        return judge(probe, status, forwarded, readings, PROTECTION)


@pytest.fixture(scope="module")
def header_harness(
    tmp_path_factory: pytest.TempPathFactory, rsa_key: rsa.RSAPrivateKey, default_origins: list[Origin]
) -> Iterator[HeaderHarness]:
    tmp = tmp_path_factory.mktemp("header-harness")
    with proxy_to_capture(header_config_dir(tmp / "cfg", rsa_key), tmp / "proxy.log") as (url, capture):
        yield HeaderHarness(url, capture, default_origins)


def test_generated_heads_are_read_by_every_origin_as_by_the_edge(header_harness: HeaderHarness) -> None:
    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(probe=header_probes())
    def run(probe: HeaderProbe) -> None:
        found = header_harness.check(probe)
        assert not found, f"seed {SEED}\n{probe.label}\n" + "\n".join(found) + "\n" + as_text(probe)

    run()


FINDING_1 = HeaderProbe(
    "finding 1: Connection: Content-Type",
    "POST",
    (("Connection", "Content-Type"), ("Content-Type", JSON_CT)),
    f'{{"note": "&phone={secret(0)}&", "phone": "{secret(1)}"}}'.encode(),
    0,
    (secret(0), secret(1)),
)


def test_finding_1_is_refused(header_harness: HeaderHarness) -> None:
    assert header_harness.check(FINDING_1) == []


def test_the_judges_find_what_finding_1_forwarded(header_harness: HeaderHarness) -> None:
    """The harness can fail: the request finding 1 forwarded (the JSON body, protected member encrypted
    or not, Content-Type dropped) is read by Rack as a form holding `phone`, and as another format."""
    body = FINDING_1.body
    captured = Captured("POST", "/submit", (("Host", "o"), ("Content-Length", str(len(body)))), body)
    readings = replay_verbatim(header_harness.origins, captured)
    found = judge(FINDING_1, 200, [captured], readings, PROTECTION)
    assert f"rack-defaults read {secret(0)} under ['phone']" in found, found
    framing = Captured("POST", "/submit", (("Host", "o"), ("Content-Type", JSON_CT)), body)  # no length
    found = judge(FINDING_1, 200, [framing], replay_verbatim(header_harness.origins, framing), PROTECTION)
    assert any("body bytes" in f for f in found), found
