"""The pkcs11 backend against real SoftHSM2 tokens: non-extractable keys, probing, wrappings, pool."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import threading
from pathlib import Path

import pkcs11
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pkcs11 import Attribute, ObjectClass
from pkcs11 import exceptions as p11e

from keystore import BackendUnavailable, Keystore, KeystoreConfigError, UnwrapError, Wrapping, pkcs11_pool
from keystore.pkcs11_backend import Mode, Pkcs11Backend
from keystore.pkcs11_library import Module
from keystore.pkcs11_token import TokenSpec, TokenUnavailable
from keystore.settings import Pkcs11Settings
from keystore.tooling import create_pkcs11_key
from tests.fixtures_softhsm import CLUSTER_KEY_LABEL, PIN, SoftHsm
from tests.keystore.logins_elsewhere import open_and_close


def settings(module: str, *tokens: str, label: str = CLUSTER_KEY_LABEL, sessions: int = 1) -> Pkcs11Settings:
    return Pkcs11Settings(module, tokens, None, label, None, "TEST_PKCS11_PIN", sessions)


def backend(softhsm: SoftHsm, token: str = "fle-a", label: str = CLUSTER_KEY_LABEL, sessions: int = 2):  # type: ignore[no-untyped-def]
    return Pkcs11Backend(settings(softhsm.module, token, label=label, sessions=sessions), PIN)


def test_generated_key_is_non_extractable_and_unwraps(softhsm: SoftHsm) -> None:
    public = create_pkcs11_key(softhsm.module, "fle-gen", PIN, "Generated1", bits=2048)
    token = pkcs11.lib(softhsm.module).get_token(token_label="fle-gen")
    with token.open(user_pin=PIN) as session:
        (key,) = session.get_objects(
            {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: "Generated1"}
        )
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.EXTRACTABLE] is False
        assert key[Attribute.NEVER_EXTRACTABLE] is True
        assert key[Attribute.LOCAL] is True  # generated inside the token
        with pytest.raises(p11e.AttributeSensitive):
            key[Attribute.PRIVATE_EXPONENT]
    with pytest.raises(KeystoreConfigError, match="already holds"):
        create_pkcs11_key(softhsm.module, "fle-gen", PIN, "Generated1")
    b = backend(softhsm, "fle-gen", "Generated1")
    try:
        assert b.public_key().public_numbers() == public.public_numbers()
        data_key = os.urandom(32)
        assert (
            b.unwrap(
                public.encrypt(data_key, Wrapping.RSA_OAEP_SHA256_MGF1.padding()),
                Wrapping.RSA_OAEP_SHA256_MGF1,
            )
            == data_key
        )
    finally:
        b.close()


@pytest.mark.parametrize("wrapping", list(Wrapping))
def test_every_wrapping_unwraps(softhsm: SoftHsm, wrapping: Wrapping) -> None:
    b = backend(softhsm)
    try:
        data_key = os.urandom(32)
        ciphertext = softhsm.cluster_key.public_key().encrypt(data_key, wrapping.padding())
        assert b.unwrap(ciphertext, wrapping) == data_key
        tampered = bytearray(ciphertext)
        tampered[10] ^= 1
        with pytest.raises(UnwrapError):
            b.unwrap(bytes(tampered), wrapping)
        with pytest.raises(UnwrapError):
            b.unwrap(ciphertext[:-1], wrapping)
        with pytest.raises(UnwrapError):
            b.unwrap(b"\xff" * 256, wrapping)  # larger than the modulus
        (health,) = b.health()
        assert health.healthy
    finally:
        b.close()


def test_softhsm_oaep_sha256_falls_back_to_raw_rsa(softhsm: SoftHsm) -> None:
    """SoftHSM 2.6 answers CKR_ARGUMENTS_BAD to OAEP-SHA256: the probe must choose raw RSA + host decode."""
    b = backend(softhsm)
    try:
        ciphertext = softhsm.cluster_key.public_key().encrypt(
            b"x" * 32, Wrapping.RSA_OAEP_SHA256_MGF1.padding()
        )
        b.unwrap(ciphertext, Wrapping.RSA_OAEP_SHA256_MGF1)
        ciphertext = softhsm.cluster_key.public_key().encrypt(
            b"x" * 32, Wrapping.RSA_OAEP_SHA1_MGF1.padding()
        )
        b.unwrap(ciphertext, Wrapping.RSA_OAEP_SHA1_MGF1)
        (health,) = b.health()
        assert health.modes["RSA_OAEP_SHA256_MGF1"] == Mode.RAW_HOST_DECODE.value
        assert health.modes["RSA_OAEP_SHA1_MGF1"] == Mode.IN_TOKEN.value
    finally:
        b.close()


def test_concurrent_unwraps_share_the_pool(softhsm: SoftHsm) -> None:
    b = backend(softhsm, sessions=3)
    public = softhsm.cluster_key.public_key()
    jobs = [os.urandom(32) for _ in range(60)]
    cts = [public.encrypt(k, Wrapping.RSA_OAEP_SHA256_MGF1.padding()) for k in jobs]
    results: dict[int, bytes] = {}
    errors: list[BaseException] = []

    def work(start: int) -> None:
        try:
            for i in range(start, len(cts), 6):
                results[i] = b.unwrap(cts[i], Wrapping.RSA_OAEP_SHA256_MGF1)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert not errors
        assert [results[i] for i in range(len(jobs))] == jobs
        assert len(b._members[0].pool._idle) <= 3  # type: ignore[union-attr]
    finally:
        b.close()


def test_processes_logging_in_at_once_all_find_the_token(softhsm: SoftHsm) -> None:
    """SoftHSM rewrites the token's file on every login, and a process reading it meanwhile sees no token:
    the decryptor's worker processes, which log in together, once lost their first value to that
    (key_unavailable). The pool now waits briefly and looks again (TokenPool._connect_anew). Four processes
    logging in 30 times each at once: about 1 open in 12 failed before, none may now."""
    processes, rounds = 4, 30
    ctx = multiprocessing.get_context("spawn")  # as the decryptor's workers: no PKCS#11 state inherited
    with ctx.Manager() as manager, ctx.Pool(processes) as pool:
        barrier = manager.Barrier(processes)
        args = (softhsm.module, "fle-a", CLUSTER_KEY_LABEL, PIN, rounds, barrier)
        failures = pool.starmap(open_and_close, [args] * processes)
    assert [f for each in failures for f in each] == []


def test_a_pin_that_stopped_working_is_tried_twice_not_more(
    softhsm: SoftHsm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retries above are for a token not seen; a wrong PIN is not retried past one re-initialisation,
    since a real HSM locks the PIN after a few wrong logins."""
    spec = TokenSpec("fle-a", None, CLUSTER_KEY_LABEL, None, PIN)
    pool = pkcs11_pool.TokenPool(Module.get(softhsm.module), spec, 1)
    pins: list[str] = []
    real_log_in = pkcs11_pool.log_in

    def log_in(token: object, spec: TokenSpec) -> object:
        pins.append(spec.pin)
        return real_log_in(token, spec)

    monkeypatch.setattr(pkcs11_pool, "log_in", log_in)
    pool.spec = dataclasses.replace(pool.spec, pin="0000")  # as if the token's PIN had been changed
    try:
        with pytest.raises(TokenUnavailable, match="the PIN is incorrect"):
            pool._reconnect(pool._generation)
        assert pins == ["0000", "0000"]
    finally:
        pool.close()


def test_configuration_errors(softhsm: SoftHsm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(KeystoreConfigError, match="no private key"):
        backend(softhsm, label="NoSuchKey")
    with pytest.raises(BackendUnavailable, match="no such token"):
        backend(softhsm, token="no-such-token")
    with pytest.raises(KeystoreConfigError, match="PIN is incorrect"):
        Pkcs11Backend(settings(softhsm.module, "fle-solo", label="x"), "0000")
    with pytest.raises(BackendUnavailable, match="cannot load"):
        Pkcs11Backend(settings(str(tmp_path / "nope.so"), "fle-a", label="x"), PIN)
    path = tmp_path / "ks.toml"
    path.write_text(softhsm.keystore_entry("fle-a", CLUSTER_KEY_LABEL))
    monkeypatch.delenv("TEST_PKCS11_PIN", raising=False)
    with pytest.raises(KeystoreConfigError, match="TEST_PKCS11_PIN"):
        Keystore.from_file(path).backend("FLEDemo", "DemoPublicKey")
    path.write_text(
        softhsm.keystore_entry("fle-a", CLUSTER_KEY_LABEL).replace("sessions = 2", "sessions = 0")
    )
    monkeypatch.setenv("TEST_PKCS11_PIN", PIN)
    with pytest.raises(KeystoreConfigError, match="sessions"):
        Keystore.from_file(path)  # refused when the file loads, not at first use


def test_cluster_tokens_must_hold_the_same_key(softhsm: SoftHsm) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    from tests.fixtures_softhsm import import_key

    import_key(softhsm.module, "fle-gen", other, "Different")
    import_key(softhsm.module, "fle-a", softhsm.cluster_key, "Different")  # one label, two keys
    with pytest.raises(KeystoreConfigError, match="different key"):
        Pkcs11Backend(settings(softhsm.module, "fle-a", "fle-gen", label="Different"), PIN)


async def test_unwraps_from_asyncio_run_off_the_event_loop(softhsm: SoftHsm) -> None:
    import asyncio

    b = backend(softhsm, sessions=2)
    public = softhsm.cluster_key.public_key()
    keys = [os.urandom(32) for _ in range(20)]
    try:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        results = await asyncio.gather(
            *(
                b.aunwrap(
                    public.encrypt(k, Wrapping.RSA_OAEP_SHA256_MGF1.padding()), Wrapping.RSA_OAEP_SHA256_MGF1
                )
                for k in keys
            )
        )
        task.cancel()
        assert results == keys
        # the loop kept running while the token worked: unwraps run on the loop would finish in its first
        # pass, with the ticker run once or twice; a loaded machine gave as few as 6 ticks for 20 unwraps
        assert ticks > 3
    finally:
        b.close()


def test_token_by_slot_and_key_by_id(softhsm: SoftHsm, pkcs11_pin: str, tmp_path: Path) -> None:
    (slot,) = [
        s for s in pkcs11.lib(softhsm.module).get_slots(token_present=True) if s.get_token().label == "fle-a"
    ]
    path = tmp_path / "ks.toml"
    path.write_text(
        f'[[key]]\nprovider_id = "P"\nkey_name = "K"\nbackend = "pkcs11"\nmodule = "{softhsm.module}"\n'
        f'slot = {slot.slot_id}\nkey_id = "{CLUSTER_KEY_LABEL.encode().hex()}"\npin_env = "TEST_PKCS11_PIN"\n'
    )
    keystore = Keystore.from_file(path)
    try:
        b = keystore.backend("P", "K")
        data_key = os.urandom(32)
        ct = softhsm.cluster_key.public_key().encrypt(data_key, Wrapping.RSA_OAEP_SHA256_MGF1.padding())
        assert b.unwrap(ct, Wrapping.RSA_OAEP_SHA256_MGF1) == data_key
    finally:
        keystore.close()
    path.write_text(path.read_text().replace(f"slot = {slot.slot_id}", 'slot = 1\ntoken_label = "fle-a"'))
    with pytest.raises(KeystoreConfigError, match="exactly one of"):
        Keystore.from_file(path)
