"""The header-mutation generator of issue 24 and its judges: the origin reads the request as the edge did.

A `HeaderProbe` is a whole request head around a body that carries canary secrets: a JSON body whose
unprotected string holds `&phone=S&` (a form to anyone who reads it as one), a form, or a multipart body
whose unprotected part holds the same. The generator mutates what the edge's decisions rest on: Connection
nominations (Content-Type, Content-Length, Transfer-Encoding, Content-Encoding, Host, others, two
Connection headers), Content-Type missing, empty, duplicated, oddly cased in name or value, with a second
media type after a comma; hop-by-hop headers (Keep-Alive, TE, Trailer, Proxy-Connection, Upgrade h2c and
websocket, Expect); the method (POST, PUT, PATCH) and the framing (Content-Length or chunked in pieces).

What the proxy forwarded (the capture origin's record) is replayed byte for byte, head and framing as
forwarded, to the origins that read with their framework's defaults (tests/fixtures_default_origins.py).
The judges (`judge`):
- a refused request is a 4xx and forwarded nothing;
- no origin reads a protected name (form pattern or JSON pointer) holding a secret;
- no origin parses the body as another format than the edge read it as (its `reads_as`: form, json or
  multipart, or nothing at all);
- every origin reads the body's framing as forwarded: the same length or chunking, and every byte of it;
  a body no profile applies to is forwarded with the client's bytes.
"""

from __future__ import annotations

import gzip
import http.client
import json
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import strategies as st

from tests.differential_strategies import FORM_CT, JSON_CT, MULTIPART_CT, secret
from tests.fixtures_origins import Origin
from tests.harness_capture import Captured, harness_config_dir
from tests.harness_check import Protection

MAPPED = {FORM_CT: "form", JSON_CT: "json", MULTIPART_CT: "multipart"}  # the harness config's formats
BOUNDARY = "Hb7"


@dataclass(frozen=True)
class HeaderProbe:
    """One request, raw: method, header lines (name, value) as sent, body framing, secrets carried."""

    label: str
    method: str
    headers: tuple[tuple[str, str], ...]
    body: bytes  # as the client sends it (content-coded when a Content-Encoding says so)
    chunks: int  # 0: Content-Length framing; else the body goes chunked in this many pieces
    secrets: tuple[str, ...]

    def request(self) -> bytes:
        lines = [f"{self.method} /submit HTTP/1.1", "Host: origin.example"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.chunks:
            lines.append("Transfer-Encoding: chunked")
            size = -(-len(self.body) // self.chunks)
            pieces = [self.body[i : i + size] for i in range(0, len(self.body), size)]
            framed = b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        else:
            lines.append(f"Content-Length: {len(self.body)}")
            framed = self.body
        return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + framed

    def content_types(self) -> list[str]:
        return [v for k, v in self.headers if k.lower() == "content-type"]

    def edge_format(self) -> str:
        """The body format the edge reads the request as: its one Content-Type's media type (a POST
        without one is a form, as Rack reads it), "" for one the config maps to no profile."""
        types = self.content_types()
        value = types[0] if types else ""
        if not value.strip(" \t"):
            return "form" if self.method == "POST" else ""
        return MAPPED.get(value.split(";")[0].strip(" \t").lower(), "")


def header_config_dir(directory: Path, key: rsa.RSAPrivateKey) -> Path:
    """The security harness's profiles (form, JSON, multipart), and unknown media types forwarded: the
    configuration in which a body the edge does not read reaches the origin untouched."""
    return harness_config_dir(directory, key, forward_unknown_content_type=True)


# --- the generator ------------------------------------------------------------------------------------------

CONNECTIONS = (
    None, None, "keep-alive", "close", "Content-Type", "content-type", "keep-alive, Content-Type",
    "Content-Length", "Transfer-Encoding", "Content-Encoding", "Host", "X-Other", "Cookie",
    "close, X-Forwarded-For", "TE, Trailer", "Upgrade", "upgrade, content-type",
    "Keep-Alive, Proxy-Connection",
)  # fmt: skip
SECOND_CONNECTIONS = (None, None, None, "Content-Type", "keep-alive", "content-length")
CT_NAMES = ("Content-Type", "Content-Type", "content-type", "CONTENT-TYPE", "Content-type")
CT_FORMS = ("plain", "plain", "plain", "missing", "empty", "upper", "twice", "twice-other", "comma", "space")
HOP_BY_HOP = (
    (), (), (), (("Keep-Alive", "timeout=5"),), (("TE", "trailers"),), (("Trailer", "Content-Type"),),
    (("Proxy-Connection", "Content-Type"),), (("Upgrade", "h2c"),), (("Upgrade", "websocket"),),
    (("Expect", "100-continue"),), (("Content-Encoding", "identity"),), (("Content-Encoding", "gzip"),),
    (("X-Forwarded-For", "10.0.0.1"),), (("Cookie", "a=1"),),
)  # fmt: skip


def _bodies(media: str) -> tuple[bytes, tuple[str, ...]]:
    """A body of `media` whose unprotected value smuggles `&phone=S0&` and whose protected one is S1."""
    s0, s1, s2 = secret(0), secret(1), secret(2)
    smuggle = f"&phone={s0}&card_x={s2}&"
    if media == FORM_CT:
        return f"note={smuggle.replace('&', '%26').replace('=', '%3D')}&phone={s1}".encode(), (s0, s1, s2)
    if media == MULTIPART_CT:
        parts = [("note", smuggle), ("phone", s1)]
        body = "".join(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n{v}\r\n' for n, v in parts
        )
        return f"{body}--{BOUNDARY}--\r\n".encode(), (s0, s1, s2)
    return json.dumps({"note": smuggle, "phone": s1}).encode(), (s0, s1, s2)


def _content_type_lines(form: str, name: str, media: str, value: str) -> list[tuple[str, str]]:
    other = JSON_CT if media != JSON_CT else FORM_CT
    return {
        "plain": [(name, value)],
        "missing": [],
        "empty": [(name, "")],
        "upper": [(name, value.replace(media, media.upper()))],
        "twice": [(name, value), (name, value)],
        "twice-other": [(name, value), (name, other)],
        "comma": [(name, f"{value}, {other}")],
        "space": [(name, f" {value}")],
    }[form]


@st.composite
def header_probes(draw: st.DrawFn) -> HeaderProbe:
    media = draw(st.sampled_from((JSON_CT, JSON_CT, FORM_CT, MULTIPART_CT)))
    body, secrets = _bodies(media)
    value = f"{media}; boundary={BOUNDARY}" if media == MULTIPART_CT else media
    ct_form, ct_name = draw(st.sampled_from(CT_FORMS)), draw(st.sampled_from(CT_NAMES))
    headers = _content_type_lines(ct_form, ct_name, media, value)
    connection = draw(st.sampled_from(CONNECTIONS))
    second = draw(st.sampled_from(SECOND_CONNECTIONS))
    extra = draw(st.sampled_from(HOP_BY_HOP))
    if any(v == "h2c" or v == "websocket" for _, v in extra) and connection is None:
        connection = "Upgrade"
    if connection is not None:
        headers.insert(draw(st.integers(0, len(headers))), ("Connection", connection))
    if second is not None:
        headers.append(("Connection", second))
    headers += list(extra)
    if ("Content-Encoding", "gzip") in extra:
        body = gzip.compress(body, mtime=0)
    method = draw(st.sampled_from(("POST", "POST", "POST", "PUT", "PATCH")))
    chunks = draw(st.sampled_from((0, 0, 0, 1, 3)))
    label = (
        f"{media} ct={ct_form}/{ct_name} connection={connection}|{second} "
        f"extra={','.join(f'{k}:{v}' for k, v in extra) or '-'} {method} chunks={chunks}"
    )
    return HeaderProbe(label, method, tuple(headers), body, chunks, secrets)


# --- exchanges ----------------------------------------------------------------------------------------------


def exchange(url: str, data: bytes, timeout: float = 20.0) -> tuple[int, bytes]:
    """Send raw request bytes and read one response: its status (0: none) and body."""
    host, port = url.removeprefix("http://").split("/", 1)[0].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            return 0, b""


def verbatim(captured: Captured) -> bytes:
    """What the proxy forwarded, as it forwarded it: its head in order, its body in its framing (a chunked
    body, dechunked by the capture origin, goes again in one chunk)."""
    lines = [f"{captured.method} {captured.target} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in captured.headers]
    codings = ",".join(v for k, v in captured.headers if k.lower() == "transfer-encoding").lower()
    body = captured.body
    if "chunked" in codings:
        body = (b"%x\r\n%b\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body


@dataclass(frozen=True)
class Reading:
    """One default origin's answer to the forwarded request."""

    origin: str
    status: int
    doc: dict[str, object]


_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="replay-headers")


def replay_verbatim(origins: list[Origin], captured: Captured) -> list[Reading]:
    data = verbatim(captured)

    def one(origin: Origin) -> Reading:
        status, answer = exchange(origin.url, data)
        try:
            doc = json.loads(answer)
        except ValueError:
            doc = {"error": answer[:300].decode("latin-1")}
        return Reading(origin.name, status, doc if isinstance(doc, dict) else {"error": str(doc)})

    return list(_POOL.map(one, origins))


# --- the judges ---------------------------------------------------------------------------------------------


def judge(
    probe: HeaderProbe,
    status: int,
    forwarded: list[Captured],
    readings: list[Reading],
    protection: Protection,
) -> list[str]:
    """Every disagreement between the edge's reading of `probe` and an origin's (empty: none)."""
    if status != 200:
        found = [] if 400 <= status < 500 else [f"answered {status}"]
        return found + ([f"refused with {status} but forwarded"] if forwarded else [])
    if len(forwarded) != 1:
        return [f"answered 200 but forwarded {len(forwarded)} requests"]
    captured = forwarded[0]
    edge = probe.edge_format()
    found = []
    if edge == "" and captured.body != probe.body:
        found.append("a body no profile applies to was not forwarded as sent")
    for reading in readings:
        view = reading.doc.get("view")
        if reading.status != 200 or not isinstance(view, dict):
            continue  # an origin that cannot read the forwarded body reads nothing
        for path, value in _values(reading.doc):
            if protection.protects(path, False) or protection.protects(path, True):
                found += [
                    f"{reading.origin} read {s} under {list(path)}" for s in probe.secrets if s in value
                ]
        reads_as = reading.doc.get("reads_as", "")
        if reads_as and reads_as != edge:
            found.append(f"{reading.origin} read the body as {reads_as}, the edge as {edge or 'no profile'}")
        found += _framing(reading.origin, view, captured)
    return found


def _values(doc: dict[str, object]) -> list[tuple[tuple[str, ...], str]]:
    fields = doc.get("fields") or []
    files = doc.get("files") or []
    out = [(tuple(str(k) for k in p), str(v)) for p, v in fields]  # type: ignore[union-attr]
    return out + [(tuple(str(k) for k in p), str(c)) for p, _, c in files]  # type: ignore[union-attr]


def _framing(origin: str, view: dict[str, object], captured: Captured) -> list[str]:
    chunked = "chunked" in (captured.header("Transfer-Encoding") or "").lower()
    length = captured.header("Content-Length")
    found = []
    if bool(view.get("chunked")) != chunked:
        found.append(f"{origin} read chunked={view.get('chunked')}, forwarded chunked={chunked}")
    if not chunked and length is not None and view.get("length") != int(length):
        found.append(f"{origin} read Content-Length {view.get('length')}, forwarded {length}")
    read = view.get("body_bytes")
    coded = (captured.header("Content-Encoding") or "identity").lower() != "identity"  # parsers inflate
    if read is not None and not coded and read != len(captured.body):
        found.append(f"{origin} read {read} body bytes, forwarded {len(captured.body)}")
    return found


def as_text(probe: HeaderProbe) -> str:
    return probe.request()[:900].decode("latin-1")
