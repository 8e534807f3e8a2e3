"""`fle bench` against a real proxy and origin on loopback: counts, statuses, pacing, progress, errors."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from yarl import URL

from edge_proxy import ProxySettings, build_app, start_site
from profiles import load_config_dir
from tests.helpers import make_config_dir, serving

ROOT = Path(__file__).parents[2]


@pytest.fixture
async def proxied(tmp_path: Path, rsa_key) -> AsyncIterator[tuple[str, list[bytes]]]:  # type: ignore[no-untyped-def]
    """(proxy URL, bodies the origin received)."""
    received: list[bytes] = []

    async def submit(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(text="stored")

    origin = web.Application()
    origin.router.add_post("/submit", submit)
    config = load_config_dir(make_config_dir(tmp_path / "config", rsa_key)).only_config(None)
    async with serving(origin) as origin_url:
        async with serving(build_app(ProxySettings(origin=URL(origin_url), config=config))) as proxy_url:
            yield proxy_url, received


async def fle_bench(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fle",
        "bench",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, stdout.decode(), stderr.decode()


async def test_bench_counts_every_request_and_the_proxy_encrypts_them(proxied) -> None:  # type: ignore[no-untyped-def]
    url, received = proxied
    code, out, err = await fle_bench(f"{url}/submit", "--requests", "60", "-c", "4", "-d", "30", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["requests"] == summary["ok"] == 60 and summary["errors"] == 0
    assert summary["statuses"] == {"200": 60}
    assert 0 < summary["p50_ms"] <= summary["p99_ms"] <= summary["max_ms"]
    assert len(received) == 61  # one preflight request, then the 60
    assert all(b"404-555-0150" not in body and b"phone=AYABe" in body for body in received)
    assert "requests" in err and "rps" in err  # the progress display (plain lines when not a terminal)


async def test_bench_paces_requests_at_the_given_rate(proxied) -> None:  # type: ignore[no-untyped-def]
    url, _ = proxied
    code, out, err = await fle_bench(f"{url}/submit", "--rate", "40", "-d", "1.5", "--json", "--quiet")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["requests"] == 60  # scheduled at 0, 1/40, ... up to the 1.5 s deadline
    assert err == ""


async def test_bench_reports_error_statuses(proxied) -> None:  # type: ignore[no-untyped-def]
    url, _ = proxied
    code, out, _ = await fle_bench(f"{url}/missing", "--requests", "5", "-c", "1", "--json", "--quiet")
    summary = json.loads(out)
    assert code == 1 and summary["statuses"] == {"404": 5} and summary["errors"] == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["http://127.0.0.1:1/submit", "-d", "1"], "cannot reach http://127.0.0.1:1/submit"),
        (["ftp://example.com/"], "expected an http:// or https:// URL"),
        (["http://127.0.0.1:1/", "--field", "novalue"], "expected NAME=VALUE"),
    ],
)
async def test_bench_usage_errors_are_clear(args: list[str], message: str) -> None:
    code, _, err = await fle_bench(*args)
    assert code == 2 and message in err and "Traceback" not in err


@pytest.fixture
async def https_echo(tls_files: tuple[Path, Path]) -> AsyncIterator[str]:
    """An HTTPS origin whose certificate only tls_files' own CA (the certificate itself) vouches for."""
    import ssl

    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=(await request.read()).decode())

    app = web.Application()
    app.router.add_post("/submit", echo)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    listener, url = await start_site(app, "127.0.0.1", 0, ssl_context=context)
    try:
        yield f"{url}/submit"
    finally:
        await listener.cleanup()


async def test_bench_trusts_a_private_ca_or_skips_verification_with_a_warning(
    https_echo: str, tls_files: tuple[Path, Path]
) -> None:
    once = ["--requests", "2", "-c", "1", "--json", "--quiet"]
    code, _, err = await fle_bench(https_echo, *once)
    assert code == 2 and "CERTIFICATE_VERIFY_FAILED" in err
    code, out, err = await fle_bench(https_echo, "--cacert", str(tls_files[0]), *once)
    assert code == 0 and json.loads(out)["statuses"] == {"200": 2}, err
    assert "--insecure" not in err
    code, out, err = await fle_bench(https_echo, "--insecure", *once)
    assert code == 0 and json.loads(out)["statuses"] == {"200": 2}, err
    assert "warning: --insecure: the server's certificate is not verified" in err
    code, _, err = await fle_bench(https_echo, "--insecure", "--cacert", str(tls_files[0]), *once)
    assert code == 2 and "exclude each other" in err


async def test_bench_warns_when_the_profile_protects_no_field_it_sends(proxied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, _ = proxied
    config = str(tmp_path / "config")  # the proxy's own config: it protects `phone`
    once = ["--requests", "1", "-c", "1", "--json", "--quiet", "--config", config]
    fields = ["--field", "name=Jane", "--field", "email=j@x.org"]
    code, _, err = await fle_bench(f"{url}/submit", *once, *fields)
    assert code == 0, err
    assert "warning: profile P280MFCLSYOCVU protects none of the fields sent (name, email)" in err
    code, _, err = await fle_bench(f"{url}/submit", *once)  # the sample form: its phone is protected
    assert code == 0 and "warning" not in err


async def test_bench_warns_when_the_answer_echoes_every_value(tmp_path: Path, rsa_key) -> None:  # type: ignore[no-untyped-def]
    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=(await request.read()).decode())

    origin = web.Application()
    origin.router.add_post("/submit", echo)
    config = load_config_dir(make_config_dir(tmp_path / "config", rsa_key)).only_config(None)
    once = ["--requests", "1", "-c", "1", "--json", "--quiet", "--field", "phone=404-555-0150"]
    async with serving(origin) as origin_url:
        code, _, err = await fle_bench(f"{origin_url}/submit", *once)  # straight to the origin
        assert code == 0 and "warning: the answer shows every value sent, unchanged" in err
        async with serving(build_app(ProxySettings(origin=URL(origin_url), config=config))) as proxy_url:
            code, _, err = await fle_bench(f"{proxy_url}/submit", *once)  # the proxy encrypted it
            assert code == 0 and "warning" not in err


def test_bench_warns_when_a_json_query_arg_profile_meets_its_form(tmp_path: Path, rsa_key) -> None:  # type: ignore[no-untyped-def]
    """`?fle-profile=` naming a JSON-pointer profile for a form body: the proxy refuses every request
    (ProfileFormatMismatchClientError), so the benchmark would measure refusals; say so. Before the type
    check, the field-name test ran the JSON pointers against form names character by character."""
    from fle.cmd_bench import config_warning

    directory = make_config_dir(tmp_path / "config", rsa_key)
    profile = json.loads((directory / "profile.json").read_text())
    json_profile = profile["FieldLevelEncryptionProfile"]
    json_profile["Id"] = "PJSONPOINTERS1"
    json_profile["FieldLevelEncryptionProfileConfig"]["Name"] = "JsonProfile"
    json_profile["FieldLevelEncryptionProfileConfig"]["CallerReference"] = "json-profile"
    entity = json_profile["FieldLevelEncryptionProfileConfig"]["EncryptionEntities"]["Items"][0]
    entity["FieldPatterns"] = {"Quantity": 1, "Items": ["/*"]}  # a pointer one segment long: any 1-char name
    (directory / "json-profile.json").write_text(json.dumps(profile))
    config = json.loads((directory / "config.json").read_text())
    fle_config = config["FieldLevelEncryption"]["FieldLevelEncryptionConfig"]
    fle_config["ContentTypeProfileConfig"]["ContentTypeProfiles"]["Items"].append(
        {"Format": "JSON", "ProfileId": "PJSONPOINTERS1", "ContentType": "application/json"}
    )
    fle_config["ContentTypeProfileConfig"]["ContentTypeProfiles"]["Quantity"] = 2
    fle_config["QueryArgProfileConfig"]["QueryArgProfiles"] = {
        "Quantity": 1,
        "Items": [{"QueryArg": "api", "ProfileId": "PJSONPOINTERS1"}],
    }
    (directory / "config.json").write_text(json.dumps(config))

    warning = config_warning(str(directory), None, "http://127.0.0.1:1/submit?fle-profile=api", ["x"])
    assert warning is not None and "ProfileFormatMismatchClientError" in warning
    assert "PJSONPOINTERS1" in warning
    plain = config_warning(str(directory), None, "http://127.0.0.1:1/submit", ["phone"])
    assert plain is None  # the form's own field-name profile protects phone: no warning
