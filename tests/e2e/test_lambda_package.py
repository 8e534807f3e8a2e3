"""`fle package lambda`, tested as Lambda runs it.

The zip is built by the real command (pip installs the locked wheels for the target platform; pip's own
cache keeps later runs fast), unpacked into an empty directory and started by the real runtime interface
client, `python -m awslambdaric decryptor.handler.lambda_handler`, as the Lambda base image starts it: the
working directory is the unpacked package, and the interpreter runs with `-S` (no site-packages) and
PYTHONPATH naming only a copy of awslambdaric, so nothing can come from this project's virtualenv. It
long-polls a Runtime API emulator on loopback (tests/lambda_runtime_api.py); the private key is a
SecureString in moto's Parameter Store and the items are in dynalite, both on loopback and configured
through the environment as on Lambda.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from fle.lambda_deps import HANDLER, PackageError, canonical, lock_closure, read_lock
from fle.lambda_package import BuiltPackage, PackageSpec, build, platform_tags
from store import Submission, open_store
from tests.fixtures_decryptor import KeySpec, proxy_encrypt, sdk_encrypt
from tests.fixtures_dynalite import Dynalite
from tests.fixtures_moto import Aws
from tests.fixtures_softhsm import PIN_ENV
from tests.helpers import private_pem
from tests.lambda_runtime_api import FUNCTION_ARN, Answer, RuntimeApi

# builds the Lambda package (pip into a directory) and runs it under the real runtime client
pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "runtime.txt"
PARAMETER = "/fle-lambda-test/FLEDemo/DemoPublicKey"
KEYSTORE_TOML = (
    '[[key]]\nprovider_id = "FLEDemo"\nkey_name = "DemoPublicKey"\nbackend = "ssm"\n'
    f'parameter = "{PARAMETER}"\nregion = "us-east-1"\n'
)
# esdk_format: the policy reads headers with it; profiles and blindindex: match's normalizers (Fle:Indexes)
OURS = {"decryptor", "keystore", "store", "esdk_format", "profiles", "blindindex"}
NOT_SHIPPED = {"edge_proxy", "origin", "fle", "reveal", "aiohttp", "pkcs11", "prometheus_client"}
ELF_MACHINE = {"x86_64": 0x3E, "arm64": 0xB7}
CORRUPT = "message could not be decrypted (corrupt, tampered or wrong key)"


@dataclass(frozen=True)
class Built:
    zip: Path
    task: Path  # the unpacked package, as /var/task
    report: str  # what the command printed


def package(work: Path, arch: str, *extra: str) -> Built:
    """Run `fle package lambda` as a user would, and unpack what it wrote into an empty directory."""
    output = work / f"fle-decrypt-{arch}.zip"
    done = subprocess.run(
        [sys.executable, "-m", "fle", "package", "lambda", "--output", str(output), "--arch", arch, *extra],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    task = work / f"task-{arch}"
    task.mkdir()
    with zipfile.ZipFile(output) as archive:
        archive.extractall(task)
    return Built(output, task, done.stdout)


@pytest.fixture(scope="module")
def x86(tmp_path_factory: pytest.TempPathFactory) -> Built:
    work = tmp_path_factory.mktemp("lambda-x86")
    (work / "keystore.toml").write_text(KEYSTORE_TOML)
    return package(work, "x86_64", "--keystore", str(work / "keystore.toml"))


def wheel_tags(task: Path) -> dict[str, list[str]]:
    """Each installed distribution's wheel tags, from its WHEEL file."""
    found = {}
    for wheel in task.glob("*.dist-info/WHEEL"):
        lines = wheel.read_text().splitlines()
        tags = [line.split(":", 1)[1].strip() for line in lines if line.startswith("Tag:")]
        found[wheel.parent.name.split("-")[0]] = tags
    return found


def loads_on_lambda(tag: str, arch: str) -> bool:
    """Whether a wheel tag loads on Lambda's Python 3.11 (Amazon Linux 2, glibc 2.26) on `arch`."""
    python, abi, platform = tag.split("-")
    if platform == "any":
        return python in ("py3", "py2.py3", "py2", "cp311") and abi == "none"
    return (
        python == "cp311"
        and abi in ("cp311", "abi3")
        and platform
        in set(platform_tags(arch, "3.11"))
        | {
            f"manylinux1_{'x86_64' if arch == 'x86_64' else 'aarch64'}",
            f"manylinux2010_{'x86_64' if arch == 'x86_64' else 'aarch64'}",
            *(f"manylinux_2_{n}_{'x86_64' if arch == 'x86_64' else 'aarch64'}" for n in range(5, 17)),
        }
    )


def check_binaries(task: Path, arch: str) -> None:
    """Every distribution's wheel fits the target, and every shared object is an ELF for its machine."""
    tags = wheel_tags(task)
    assert tags, "no wheel metadata in the package"
    for name, wheel in tags.items():
        assert any(loads_on_lambda(tag, arch) for tag in wheel), (name, wheel)
    shared = list(task.rglob("*.so"))
    assert shared, "no compiled extension: cryptography's should be there"
    for path in shared:
        header = path.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", path
        assert int.from_bytes(header[18:20], "little") == ELF_MACHINE[arch], path


def test_x86_package_holds_the_decryptor_and_its_locked_wheels_only(x86: Built) -> None:
    top = {p.name for p in x86.task.iterdir()}
    assert top >= OURS
    assert "keystore.toml" in top
    assert not top & NOT_SHIPPED
    assert (x86.task / "decryptor" / "handler.py").is_file()
    assert not list(x86.task.glob("bin")), "console scripts are not shipped"
    pins = read_lock(LOCK)
    shipped = {}
    for info in x86.task.glob("*.dist-info"):
        name, version = info.name.removesuffix(".dist-info").split("-")[:2]
        shipped[canonical(name)] = version
    expected = lock_closure(pins, {"aws-encryption-sdk", "boto3", "botocore", "cryptography"})
    assert set(shipped) == {pin.name for pin in expected}
    for pin in expected:
        assert pin.text.split("==")[1].split()[0] == shipped[pin.name], (pin.name, shipped[pin.name])
    check_binaries(x86.task, "x86_64")
    # compiled for a read-only /var/task, so cold starts do not compile every module
    assert (x86.task / "decryptor" / "__pycache__" / "handler.cpython-311.pyc").is_file()
    sizes = re.search(r"size: ([\d.]+) MB zipped, ([\d.]+) MB unzipped", x86.report)
    assert sizes, x86.report
    zipped, unzipped = float(sizes[1]), float(sizes[2])
    assert abs(zipped - x86.zip.stat().st_size / 1e6) < 0.1
    assert abs(unzipped - sum(p.stat().st_size for p in x86.task.rglob("*") if p.is_file()) / 1e6) < 0.1
    print(f"\nx86_64 package: {zipped} MB zipped, {unzipped} MB unzipped")


def test_arm64_package_has_aarch64_wheels_and_is_reproducible(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    first = package(tmp_path / "a", "arm64")
    check_binaries(first.task, "arm64")
    assert "keystore.toml" not in {p.name for p in first.task.iterdir()}
    (tmp_path / "b").mkdir()
    second = package(tmp_path / "b", "arm64")
    assert first.zip.read_bytes() == second.zip.read_bytes()
    with zipfile.ZipFile(first.zip) as archive:
        names = archive.namelist()
        assert names == sorted(names)
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    sizes = re.search(r"size: .*", first.report)
    assert sizes is not None
    print(f"\narm64 package: {sizes[0]}")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('backend = "file"\npath = "k.pem"\n', "does not belong in a deployment package"),
        (
            'backend = "pkcs11"\nmodule = "/x.so"\ntoken_label = "t"\nkey_label = "k"\npin_env = "PIN"\n',
            "--with-pkcs11",
        ),
        ('backend = "pkcs11"\nmodule = "/x.so"\ntoken_label = "t"\nkey_label = "k"\n', "needs 'pin_env'"),
        ('backend = "nope"\n', "unknown backend"),
    ],
)
def test_a_keystore_the_function_cannot_use_is_refused_before_building(
    tmp_path: Path, entry: str, message: str
) -> None:
    keystore = tmp_path / "keystore.toml"
    keystore.write_text(f'[[key]]\nprovider_id = "P"\nkey_name = "K"\n{entry}')
    with pytest.raises(PackageError, match=re.escape(message)):
        build(PackageSpec(tmp_path / "out.zip", LOCK, keystore=keystore))
    assert not (tmp_path / "out.zip").exists()


def test_the_command_names_a_refused_keystore_in_one_line(tmp_path: Path) -> None:
    keystore = tmp_path / "keystore.toml"
    keystore.write_text('[[key]]\nprovider_id = "P"\nkey_name = "K"\nbackend = "file"\npath = "k.pem"\n')
    done = subprocess.run(
        [sys.executable, "-m", "fle", "package", "lambda", "--output", str(tmp_path / "o.zip"),
         "--keystore", str(keystore)],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("fle package: keystore: ") and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_sizes_over_lambdas_limits_are_warned() -> None:
    def built(zipped_mb: int, unzipped_mb: int) -> BuiltPackage:
        return BuiltPackage(Path("x.zip"), (), (), zipped_mb * 1024 * 1024, unzipped_mb * 1024 * 1024, True)

    assert built(50, 250).warnings() == []
    assert [w.split(" ")[2] for w in built(51, 251).warnings()] == ["50", "250"]


def test_the_lock_closure_follows_the_via_lines() -> None:
    pins = read_lock(LOCK)
    names = {pin.name for pin in lock_closure(pins, {"aws-encryption-sdk", "cryptography", "boto3"})}
    assert {"cffi", "pycparser", "botocore", "jmespath", "urllib3", "six", "attrs", "wrapt"} <= names
    assert not names & {"aiohttp", "python-pkcs11", "asn1crypto", "prometheus-client", "setuptools"}
    with_hsm = {pin.name for pin in lock_closure(pins, {"python-pkcs11"})}
    assert with_hsm == {"python-pkcs11", "asn1crypto"}
    assert all("--hash=sha256:" in pin.text for pin in pins.values())


@pytest.fixture(scope="module")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """awslambdaric and what it requires, copied from their installed files into a directory of their own
    (the Lambda image's /var/runtime)."""
    target = tmp_path_factory.mktemp("var-runtime")
    todo, seen = ["awslambdaric"], set()
    while todo:
        dist = importlib.metadata.distribution(todo.pop())
        if dist.metadata["Name"] in seen:
            continue
        seen.add(dist.metadata["Name"])
        for file in dist.files or []:
            if file.parts[0] == ".." or "__pycache__" in file.parts:
                continue
            destination = target / file
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file.locate(), destination)
        for requirement in dist.requires or []:
            if "extra ==" not in requirement:
                todo.append(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0])
    return target


def isolated_python(task: Path, runtime: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    """An interpreter that sees the stdlib, the unpacked package (its working directory) and awslambdaric."""
    return subprocess.Popen(
        [sys.executable, "-S", *args], cwd=task, env={**env, "PYTHONPATH": str(runtime)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_the_function_sees_nothing_outside_its_package(x86: Built, runtime_dir: Path) -> None:
    probe = (
        "import importlib.util, json, sys\n"
        "names = ['boto3', 'botocore', 'cryptography', 'aws_encryption_sdk', 'decryptor', 'awslambdaric',"
        " 'runtime_client', 'aiohttp', 'pytest', 'edge_proxy', 'origin', 'fle', 'moto']\n"
        "spec = {n: getattr(importlib.util.find_spec(n), 'origin', None) for n in names}\n"
        "print(json.dumps({'path': sys.path, 'spec': spec}))\n"
    )
    process = isolated_python(x86.task, runtime_dir, {"PATH": "/usr/bin:/bin"}, "-c", probe)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    seen = json.loads(out)
    assert not [p for p in seen["path"] if "site-packages" in p or "dist-packages" in p], seen["path"]
    spec = seen["spec"]
    for name in ("boto3", "botocore", "cryptography", "aws_encryption_sdk", "decryptor"):
        assert spec[name].startswith(str(x86.task)), (name, spec[name])
    for name in ("awslambdaric", "runtime_client"):
        assert spec[name].startswith(str(runtime_dir)), (name, spec[name])
    for name in ("aiohttp", "pytest", "edge_proxy", "origin", "fle", "moto"):
        assert spec[name] is None, (name, spec[name])


def lambda_env(task: Path, api: RuntimeApi, home: Path, **settings: str) -> dict[str, str]:
    """The environment Lambda gives a python3.11 function (dummy credentials), plus the function's own."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "HOME": str(home),
        "LAMBDA_TASK_ROOT": str(task),
        "_HANDLER": HANDLER,
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "AWS_LAMBDA_FUNCTION_NAME": "fle-decrypt",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fle-decrypt",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/12/02/[$LATEST]0123456789abcdef",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        **settings,
    }


@dataclass(frozen=True)
class Run:
    """A function's life from process start: its answers, its output (what CloudWatch Logs would get)."""

    answers: list[Answer]
    stdout: str
    stderr: str
    cold_start: float  # process start to the first answer
    ready: float  # process start to the runtime's first poll for an invocation


def run_function(api: RuntimeApi, task: Path, runtime: Path, env: dict[str, str], events: list[Any]) -> Run:
    """Start the function under awslambdaric with the first event already waiting, as a cold Lambda
    invoke does, then invoke the rest one by one; stop it and collect its output."""
    first = api.queue(events[0])
    started = time.monotonic()
    process = isolated_python(task, runtime, env, "-m", "awslambdaric", HANDLER)
    try:
        answers = [api.answer(first, timeout=120)]
        answers += [api.invoke(event) for event in events[1:]]
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
    assert api.init_error is None, api.init_error
    at = answers[0].at
    return Run(answers, out.decode(), err.decode(), at - started, (api.first_poll_at or at) - started)


def http_api_event(body: dict[str, Any]) -> dict[str, Any]:
    """An HTTP API (payload 2.0) event with a JWT authorizer, as API Gateway invokes the function."""
    return {
        "version": "2.0",
        "routeKey": "POST /decrypt",
        "rawPath": "/decrypt",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "d4e5f6",
            "stage": "$default",
            "requestId": "http-req-1",
            "authorizer": {"jwt": {"claims": {"sub": "user-42"}, "scopes": None}},
            "http": {"method": "POST", "path": "/decrypt", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9",
                     "userAgent": "curl/8"},
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }  # fmt: skip


@pytest.fixture
def runtime_api() -> Iterator[RuntimeApi]:
    api = RuntimeApi().start()
    try:
        yield api
    finally:
        api.stop()


async def put_items(table: str, *items: Submission) -> None:
    store = open_store(f"dynamodb://{table}")
    try:
        for item in items:
            await store.put(item)
    finally:
        await store.close()


def tamper(value: str) -> str:
    message = bytearray(base64.b64decode(value))
    message[-5] ^= 0x40
    return base64.b64encode(bytes(message)).decode()


def test_the_package_answers_under_the_runtime_interface_client(
    x86: Built,
    runtime_dir: Path,
    runtime_api: RuntimeApi,
    aws: Aws,
    decryptor_ssm: Any,
    dynalite_server: Dynalite,
    dynamodb_env: str,
    rsa_key: rsa.RSAPrivateKey,
    other_rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
) -> None:
    table = dynamodb_env
    decryptor_ssm.put_parameter(
        Name=PARAMETER, Value=private_pem(rsa_key).decode("ascii"), Type="SecureString", Overwrite=True
    )
    secrets = ["404-555-0150", "4111 1111 1111 1111", "from the SDK"]
    phone = proxy_encrypt(rsa_key, secrets[0].encode())
    card = proxy_encrypt(rsa_key, secrets[1].encode())
    fields = {"name": "Jane Doe", "phone": phone, "card": card}
    item = Submission(fields, received_at="2026-12-01T10:00:00.000Z")
    later = Submission(
        {"phone": proxy_encrypt(other_rsa_key, b"9", name="OldKey")}, received_at="2026-12-01T10:00:01.000Z"
    )
    asyncio.run(put_items(table, item, later))
    ciphertexts = [
        phone,
        sdk_encrypt([KeySpec(rsa_key)], secrets[2].encode()),
        tamper(phone),
        "%%%",
        proxy_encrypt(rsa_key, b"x", provider="OtherProvider"),
    ]

    (tmp_path / "home").mkdir()
    env = lambda_env(
        x86.task,
        runtime_api,
        tmp_path / "home",
        AWS_ENDPOINT_URL_SSM=aws.url,
        AWS_ENDPOINT_URL_DYNAMODB=dynalite_server.endpoint,
        FLE_KEYSTORE=str(x86.task / "keystore.toml"),
        FLE_STORE=f"dynamodb://{table}?create=false",
    )
    events = [
        {"ciphertexts": ciphertexts},
        {"ciphertexts": ciphertexts[:1]},
        {"ids": [item.id, "missing", later.id]},
        {"recent": 2},
        http_api_event({"ids": [item.id]}),
        {"recent": 0},
    ]
    run = run_function(runtime_api, x86.task, runtime_dir, env, events)
    answers = run.answers
    answer, again, ids, recent, via_api, bad = answers
    first = answer.request_id
    stdout, stderr = run.stdout, run.stderr
    assert [a.kind for a in answers] == ["response"] * 6, [a.body for a in answers]
    assert answer.body == {
        "results": [
            {"plaintext": secrets[0]},
            {"plaintext": secrets[2]},
            {"error": "decrypt_failed"},
            {"error": "not_a_message"},
            {"error": "key_unknown"},
        ]
    }
    assert again.body == {"results": [{"plaintext": secrets[0]}]}
    assert ids.body["items"] == [
        {
            "id": item.id,
            "received_at": item.received_at,
            "fields": {"name": "Jane Doe", "phone": secrets[0], "card": secrets[1]},
            "errors": {},
        },
        {"id": "missing", "fields": {}, "errors": {}, "error": "not_found"},
        {
            "id": later.id,
            "received_at": later.received_at,
            "fields": {"phone": later.fields["phone"]},
            "errors": {"phone": "key_unknown"},
        },
    ]
    assert [i["id"] for i in recent.body["items"]] == [later.id, item.id]
    assert recent.body["items"][1]["fields"]["phone"] == secrets[0]
    assert via_api.body["statusCode"] == 200
    assert json.loads(via_api.body["body"])["items"][0]["fields"]["card"] == secrets[1]
    assert bad.body == {"error": "bad_event"}

    audit = [json.loads(line) for line in stdout.splitlines() if line.startswith('{"time"')]
    assert all(line["event"] == "fle.decrypt" for line in audit)
    by_request: dict[str, list[dict[str, Any]]] = {}
    for line in audit:
        caller = line["caller"]  # behind API Gateway, request_id is API Gateway's own
        behind_api = caller["source"].startswith("apigateway")
        by_request.setdefault(caller["lambda_request_id" if behind_api else "request_id"], []).append(line)
    first_lines = sorted(by_request[first], key=lambda line: line["index"])
    outcomes = [line["outcome"] for line in first_lines]
    assert outcomes == ["decrypted", "decrypted", "refused", "refused", "refused"]
    assert [(line["reason"], line["detail"].split(";")[0]) for line in first_lines[2:]] == [
        ("decrypt_failed", CORRUPT),
        ("not_a_message", "not standard base64"),
        ("key_unknown", "no private key for OtherProvider/DemoPublicKey in this keystore"),
    ]  # the words the caller no longer sees are in the audit, which CloudWatch Logs keeps
    assert {line["caller"]["source"] for line in first_lines} == {"lambda"}
    assert {line["caller"]["function_arn"] for line in first_lines} == {FUNCTION_ARN}
    opened = {(line["item_id"], line["field"], line["outcome"]) for line in by_request[ids.request_id]}
    assert len(by_request[ids.request_id]) == 3
    assert opened == {
        (item.id, "phone", "decrypted"), (item.id, "card", "decrypted"), (later.id, "phone", "refused"),
    }  # fmt: skip
    (later_line,) = [line for line in by_request[ids.request_id] if line["outcome"] == "refused"]
    assert (later_line["reason"], later_line["detail"]) == (
        "key_unknown", "no private key for FLEDemo/OldKey in this keystore"
    )  # fmt: skip
    api_lines = by_request[via_api.request_id]
    assert {line["caller"]["source"] for line in api_lines} == {"apigateway-http"}
    assert {line["caller"]["jwt_sub"] for line in api_lines} == {"user-42"}
    assert {line["caller"]["request_id"] for line in api_lines} == {"http-req-1"}
    assert bad.request_id not in by_request
    logs = stdout + stderr
    assert '"recent" must be an integer from 1' in logs  # the bad event's words: in the log, not the answer
    for secret in secrets:
        for form in (secret, json.dumps(secret)[1:-1], base64.b64encode(secret.encode()).decode()):
            assert form not in logs, f"plaintext {secret!r} reached the function's logs"
    assert "Traceback" not in logs

    warm = again.at - answer.at
    print(f"\ncold start (process start to first response): {run.cold_start * 1000:.0f} ms; runtime ready "
          f"(first /next): {run.ready * 1000:.0f} ms; second invoke: {warm * 1000:.0f} ms")  # fmt: skip


def test_with_pkcs11_the_package_uses_an_hsm_library_from_outside_it(
    x86: Built,
    runtime_dir: Path,
    pkcs11_keystore_factory: Any,
    pkcs11_pin: str,
    rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
) -> None:
    """SoftHSM2's library plays the part of the vendor's PKCS#11 library in a layer; the keystore file is
    given by the environment. The package built without --with-pkcs11 answers such a key as data."""
    keystore = pkcs11_keystore_factory([KeySpec(rsa_key)])
    built = package(tmp_path, "x86_64", "--with-pkcs11")
    check_binaries(built.task, "x86_64")
    assert (built.task / "pkcs11").is_dir() and (built.task / "asn1crypto").is_dir()
    (tmp_path / "home").mkdir()
    settings = {"FLE_KEYSTORE": str(keystore), PIN_ENV: pkcs11_pin}
    settings["SOFTHSM2_CONF"] = os.environ["SOFTHSM2_CONF"]
    event = {"ciphertexts": [proxy_encrypt(rsa_key, b"404-555-0150")]}
    for task, expected, detail in [
        (built.task, {"plaintext": "404-555-0150"}, None),
        (
            x86.task,
            {"error": "key_unavailable"},
            "key backend unavailable: python-pkcs11 is not installed here (pkcs11)",
        ),
    ]:
        api = RuntimeApi().start()
        try:
            env = lambda_env(task, api, tmp_path / "home", **settings)
            run = run_function(api, task, runtime_dir, env, [event])
        finally:
            api.stop()
        assert run.answers[0].kind == "response"
        assert run.answers[0].body == {"results": [expected]}
        (line,) = [json.loads(text) for text in run.stdout.splitlines() if text.startswith('{"time"')]
        assert (line.get("reason"), (line.get("detail") or "").split("; ")[0] or None) == (
            expected.get("error"),
            detail,
        )  # the answer's code, the audit line's words
        assert "404-555-0150" not in run.stdout + run.stderr
