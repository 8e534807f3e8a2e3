"""Messages opened ahead (edge_proxy/encrypting/openings.py): each opening seals exactly one value, a forked
child never uses its parent's, the pool refills on the event loop and only there, and what comes out of
it is a message aws-encryption-sdk decrypts, in both suites."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import select
import signal
import time
from pathlib import Path

import aws_encryption_sdk
import pytest
from aws_encryption_sdk.identifiers import CommitmentPolicy
from cryptography.hazmat.primitives.asymmetric import rsa

from edge_proxy.encrypting import esdk, esdk_v2
from edge_proxy.encrypting.encryptor import FieldEncryptor
from edge_proxy.encrypting.openings import Openings
from esdk_format import read_prefix
from keystore.tooling import public_pem
from profiles import EncryptionEntity, FleConfig, load_config_dir
from profiles.examples import write_example_config
from tests.helpers import raw_master_key

CLIENT = aws_encryption_sdk.EncryptionSDKClient(
    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
)
OPENERS = {esdk.SUITE_ID: esdk.open_message, esdk_v2.SUITE_ID: esdk_v2.open_message}


def field_key(key: rsa.RSAPrivateKey) -> esdk.FieldKey:
    return esdk.FieldKey(key.public_key(), b"FLEDemo", b"DemoPublicKey")


async def settle() -> None:
    """Let the loop run the refills scheduled so far (each runs a few ms after the take that asked)."""
    for _ in range(4):
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("suite", sorted(OPENERS))
async def test_the_pool_fills_on_the_loop_and_each_take_is_a_new_message(
    rsa_key: rsa.RSAPrivateKey, suite: int
) -> None:
    key = field_key(rsa_key)
    pool = Openings(lambda: OPENERS[suite](key), ahead=6)
    assert len(pool) == 0
    first = pool.take()  # empty: made now, and a refill is scheduled, not run
    assert pool.made_inline == 1 and len(pool) == 0
    await settle()
    assert len(pool) == 6
    taken = [first] + [pool.take() for _ in range(6)]
    assert pool.made_inline == 1  # the six came from the pool
    assert len({t.message_id for t in taken}) == 7
    assert len({t.head for t in taken}) == 7
    await settle()
    assert len(pool) == 6
    for i, opening in enumerate(taken):
        plaintext = f"404-555-{i:04d}".encode()
        message = esdk.seal(opening, plaintext)
        decrypted, header = CLIENT.decrypt(source=message, key_provider=raw_master_key(rsa_key))
        assert decrypted == plaintext
        assert header.algorithm.algorithm_id == suite


def test_outside_a_loop_each_take_opens_its_own_and_nothing_is_kept(rsa_key: rsa.RSAPrivateKey) -> None:
    key = field_key(rsa_key)
    pool = Openings(lambda: esdk.open_message(key), ahead=4)
    ids = {pool.take().message_id for _ in range(3)}
    assert len(ids) == 3 and pool.made_inline == 3 and len(pool) == 0


async def test_ahead_zero_never_makes_one_ahead(rsa_key: rsa.RSAPrivateKey) -> None:
    key = field_key(rsa_key)
    pool = Openings(lambda: esdk.open_message(key), ahead=0)
    for _ in range(3):
        pool.take()
        await settle()
    assert len(pool) == 0 and pool.made_inline == 3
    with pytest.raises(ValueError, match="ahead"):
        Openings(lambda: esdk.open_message(key), ahead=-1)


async def test_takes_in_a_thread_are_refilled_once_the_loop_arms_the_pool(rsa_key: rsa.RSAPrivateKey) -> None:
    """A rewrite that calls a token runs in a thread, where no timer can be armed: the pipeline calls
    `arm` back on the loop, and only then are the openings made."""
    key = field_key(rsa_key)
    pool = Openings(lambda: esdk.open_message(key), ahead=4)
    await asyncio.to_thread(lambda: [pool.take() for _ in range(2)])
    await settle()
    assert len(pool) == 0 and pool.made_inline == 2  # nothing armed from the thread
    pool.arm()
    await settle()
    assert len(pool) == 4
    pool.arm()  # nothing wanted any more: arming again makes nothing
    await settle()
    assert len(pool) == 4 and pool.made_inline == 2


async def test_a_forked_child_never_uses_an_opening_its_parent_made(rsa_key: rsa.RSAPrivateKey) -> None:
    """Two processes holding the same opening would seal two values under one content key and IV (an
    AES-GCM nonce reused): the child must forget the parent's pool at fork."""
    key = field_key(rsa_key)
    pool = Openings(lambda: esdk.open_message(key), ahead=8)
    pool.take()
    await settle()
    parents = [opening.message_id for opening in list(pool._ready)]
    assert len(parents) == 8
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what its takes hand out, then leave without running pytest's exit
        try:
            os.close(read_end)
            held, inline = len(pool), pool.made_inline  # what it has right after the fork
            ids = b"".join(pool.take().message_id for _ in range(8))
            os.write(write_end, bytes([held]) + ids + bytes([pool.made_inline - inline]))
        finally:
            os._exit(0)
    os.close(write_end)
    report = b""
    try:  # bounded: a child stuck after fork (a lock held by another thread) is killed, not waited for
        deadline = time.monotonic() + 30
        while (left := deadline - time.monotonic()) > 0 and select.select([read_end], [], [], left)[0]:
            piece = os.read(read_end, 4096)
            if not piece:
                break
            report += piece
    finally:
        os.close(read_end)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert len(report) == 1 + 8 * 16 + 1, report
    child_ids = {report[i : i + 16] for i in range(1, 1 + 8 * 16, 16)}
    # the child's pool was empty from the fork on, so each of its 8 takes opened a message of its own
    assert report[0] == 0 and report[-1] == 8
    assert len(child_ids) == 8 and not child_ids & set(parents)
    assert [opening.message_id for opening in pool._ready] == parents  # the parent's pool is untouched


def example_config(rsa_key: rsa.RSAPrivateKey, directory: Path) -> tuple[FleConfig, EncryptionEntity]:
    """The sample config under `rsa_key`'s public key, and its one encryption entity."""
    write_example_config(directory, public_pem(rsa_key.public_key()))
    config = load_config_dir(directory).only_config()
    return config, config.profiles[0].entities[0]


async def test_the_field_encryptor_seals_into_its_pool_and_the_sdk_decrypts(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    config, entity = example_config(rsa_key, tmp_path)
    encryptor = FieldEncryptor(config, ahead=5)
    encrypt = encryptor.for_suite(esdk.SUITE_ID)
    [pool] = encryptor._openings.values()
    messages = []
    for i in range(12):
        messages.append(base64.b64decode(encrypt(f"404-555-{i:04d}".encode(), entity), validate=True))
        await settle()
        assert len(pool) == 5
    assert pool.made_inline == 1  # only the first value found the pool empty
    assert len({read_prefix(m).message_id for m in messages}) == 12
    for i, message in enumerate(messages):
        decrypted = CLIENT.decrypt(source=message, key_provider=raw_master_key(rsa_key))[0]
        assert decrypted == f"404-555-{i:04d}".encode()


async def test_the_proxy_settings_size_every_pool_and_a_reload_keeps_it(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    from yarl import URL

    from edge_proxy import ConfigSource, ProxySettings
    from edge_proxy.pipeline.reload import reload_config
    from edge_proxy.pipeline.runtime import Runtime

    config, entity = example_config(rsa_key, tmp_path)
    for ahead in (0, 3):
        settings = ProxySettings(
            URL("http://127.0.0.1:1"), config, source=ConfigSource(tmp_path, None), messages_ahead=ahead
        )
        runtime = Runtime(settings)
        for compiled in (runtime.live.compiled, None):
            if compiled is None:  # the same after a reload: a new config, new (empty) pools of the same size
                assert await reload_config(runtime)
                compiled = runtime.live.compiled
            encrypt = compiled.encryptor.for_suite(esdk.SUITE_ID)
            encrypt(b"404-555-0150", entity)
            await settle()
            assert [len(pool) for pool in compiled.encryptor._openings.values()] == [ahead]
    with pytest.raises(ValueError, match="messages-ahead"):
        ProxySettings(URL("http://127.0.0.1:1"), config, messages_ahead=-1)
