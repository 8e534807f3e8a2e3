"""How much rewriting JSON and multipart bodies costs, as ratios to parsing the same body with the stdlib.

Run: python3 -m benchmarks.bench_bodies  (about 20 seconds; bounded by REPEATS)

- JSON: `json_body.rewrite` (strict scan + splice, 10 values encrypted) against `json.loads` of the same
  document (the C parser, which builds the objects the rewrite does not need).
- multipart: `multipart.rewrite` (one protected text part, one 1 MB unprotected file part) against the
  standard library's email parser reading the same body.
Encryption uses the real encoder (RSA-OAEP + AES-GCM) with a freshly generated 2048-bit key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP

from cryptography.hazmat.primitives.asymmetric import rsa

from edge_proxy import Limits
from edge_proxy.encrypting import esdk
from edge_proxy.encrypting.encryptor import FieldEncryptor
from fields import json_body, multipart
from fields.json_pointer import parse_pointer_pattern
from fields.patterns import parse_pattern
from profiles import ContentTypeProfile, EncryptionEntity, FleConfig, Profile, PublicKey
from profiles.model import BodyFormat

REPEATS = 30


def _pair(first: Callable[[], object], second: Callable[[], object]) -> tuple[float, float]:
    """Best-of-REPEATS seconds of each, run alternately so both see the same machine load."""
    best = [float("inf"), float("inf")]
    for _ in range(REPEATS):
        for index, fn in enumerate((first, second)):
            start = time.perf_counter()
            fn()
            best[index] = min(best[index], time.perf_counter() - start)
    return best[0], best[1]


def _profile(*patterns: object) -> Profile:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    entity = EncryptionEntity(PublicKey("K", "DemoPublicKey", key, ""), "FLEDemo", tuple(patterns))  # type: ignore[arg-type]
    return Profile("P", "bench", (entity,))


def main() -> None:
    limits = Limits(max_body_bytes=4 * 1024 * 1024)
    json_profile = _profile(parse_pointer_pattern("/travellers/*/passport"))
    config = FleConfig(
        "C", "", False, (ContentTypeProfile("application/json", BodyFormat.JSON, json_profile),), False, ()
    )
    encrypt = FieldEncryptor(config).for_suite(esdk.SUITE_ID)
    travellers = [{"name": f"T{i}", "passport": f"P{i:08d}", "notes": "x" * 80} for i in range(10)]
    filler = [{"id": i, "tags": ["a", "b", "c"], "price": i * 1.25, "ok": True} for i in range(4000)]
    document = json.dumps({"travellers": travellers, "items": filler}).encode()
    rewrite_s, loads_s = _pair(
        lambda: json_body.rewrite(document, json_profile, encrypt, limits), lambda: json.loads(document)
    )
    print(
        f"JSON {len(document) / 1024:.0f} KB, 10 values encrypted: rewrite {rewrite_s * 1000:.1f} ms, "
        f"json.loads {loads_s * 1000:.1f} ms, ratio {rewrite_s / loads_s:.1f}"
    )

    multi_profile = _profile(parse_pattern("card"))
    encrypt = FieldEncryptor(
        FleConfig(
            "C",
            "",
            False,
            (ContentTypeProfile("multipart/form-data", BodyFormat.MULTIPART, multi_profile),),
            False,
            (),
        )
    ).for_suite(esdk.SUITE_ID)
    boundary = b"----bench7MA4YWxkTrZu0gW"
    upload = bytes(range(256)) * 4096  # 1 MiB
    body = b"".join(
        [
            b"--"
            + boundary
            + b'\r\nContent-Disposition: form-data; name="card"\r\n\r\n4111 1111 1111 1111\r\n',
            b"--" + boundary + b'\r\nContent-Disposition: form-data; name="f"; filename="a.bin"\r\n\r\n',
            upload,
            b"\r\n--" + boundary + b"--\r\n",
        ]
    )
    content_type = "multipart/form-data; boundary=" + boundary.decode()
    header = b"Content-Type: " + content_type.encode() + b"\r\n\r\n"
    rewrite_s, email_s = _pair(
        lambda: multipart.rewrite(body, content_type, multi_profile, encrypt, limits),
        lambda: BytesParser(policy=HTTP).parsebytes(header + body),
    )
    print(
        f"multipart {len(body) / 1024:.0f} KB, 1 part encrypted: rewrite {rewrite_s * 1000:.1f} ms, "
        f"email parser {email_s * 1000:.1f} ms, ratio {rewrite_s / email_s:.2f}"
    )


if __name__ == "__main__":
    main()
