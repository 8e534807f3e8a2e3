"""`fle hsm trust|backup|restore|clone` and `fle keys create --backup`, run as a user runs them, on SoftHSM2.

The tokens (source, two members, a stranger) live in a SOFTHSM2_CONF of this module's own, with PINs that
appear nowhere else, so that every command's output can be searched for them. Everything that touches a
token runs in a child process (`fle`, or tests/keystore/hsm_probe.py): the library reads SOFTHSM2_CONF
once per process.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from edge_proxy.encrypting import esdk
from tests.fixtures_moto import Aws
from tests.fixtures_softhsm import init_tokens, softhsm_conf

ROOT = Path(__file__).parents[2]
MODULE = "/usr/lib/softhsm/libsofthsm2.so"
USER_PIN = "user-pin-52817"  # searched for in every output: never printed or logged
SO_PIN = "so-pin-90341-officer"
TOKENS = ("src", "m1", "m2", "late", "stranger")
# keys the tests back up, restore, clone: made in the source token by the module's fixture in ONE process,
# by the call `fle keys create --backend pkcs11 --backup` makes (keystore.tooling.create_pkcs11_key), instead
# of one `fle keys create` process each (~0.8 s). What `fle keys create --backup` itself makes (Backed,
# Plain, Stuck) is still made by `fle keys create` (test_create_backup_key_..., test_backing_up_a_never_...)
POOLED = (
    "RoundTrip", "TamperAttributes", "TamperWrapped", "TamperSequence", "TamperSignature", "ForStranger",
    "NotForLate", "AfterUntrust", "Older", "Newer", "HalfA", "HalfB", "ProofA", "Clustered", "InS3",
)  # fmt: skip
# what `fle keys create --backup` makes, and what a restore must keep: never readable, leaving the token
# only wrapped under a trusted key
BACKUP_KEY_ATTRS = {
    "sensitive": True,
    "extractable": True,
    "wrap_with_trusted": True,
    "never_extractable": False,
    "decrypt": True,
    "value_readable": False,
}


@dataclass
class Hsm:
    root: Path
    env: dict[str, str]
    token_dirs: dict[str, Path]
    pooled: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)  # POOLED: made, not yet handed out

    def fle(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "fle", "--log-level", "DEBUG", *args],
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            cwd=ROOT,
            timeout=180,
        )
        for pin in (USER_PIN, SO_PIN):
            assert pin not in result.stdout + result.stderr, f"a PIN was printed by fle {' '.join(args)}"
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def refused_restore(self, archive: Path, keystore: Path) -> str:
        """`fle hsm restore` of `archive` into the tokens `keystore` names, which must refuse (status 2):
        its stderr, for the caller to check why."""
        refused = self.fle(
            "hsm", "restore", "--archive", str(archive), "--keystore", str(keystore), check=False
        )
        assert refused.returncode == 2, refused.stdout + refused.stderr
        return refused.stderr

    def probe(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "tests.keystore.hsm_probe", *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=ROOT,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def count(self, token: str, label: str) -> int:
        return int(self.probe("count", token, label))

    def attrs(self, token: str, label: str) -> dict[str, bool]:
        return dict(json.loads(self.probe("attrs", token, label)))

    def keystore(self, name: str, entries: list[tuple[str, str | list[str], str]]) -> Path:
        """A keystore file with one pkcs11 entry per (key name, token label(s), key label)."""
        text = ""
        for key_name, tokens, key_label in entries:
            labels = json.dumps(tokens)
            text += (
                f'[[key]]\nprovider_id = "FLEDemo"\nkey_name = "{key_name}"\nbackend = "pkcs11"\n'
                f'module = "{MODULE}"\ntoken_label = {labels}\nkey_label = "{key_label}"\n'
                'pin_env = "FLE_PKCS11_PIN"\nso_pin_env = "FLE_PKCS11_SO_PIN"\nsessions = 1\n\n'
            )
        path = self.root / name
        path.write_text(text)
        return path

    def create_key(self, key_name: str, *, backup: bool = True) -> tuple[Path, rsa.RSAPublicKey]:
        """`fle keys create` in the source token (a POOLED key: made already, by the same tooling); its
        keystore file (for a pooled key, the entry `fle keys create --backup` writes) and public key."""
        keystore, config = self.root / f"src-{key_name}.toml", self.root / "config"
        if backup and key_name in self.pooled:
            keystore.write_text(
                f'[[key]]\nprovider_id = "FLEDemo"\nkey_name = "{key_name}"\nbackend = "pkcs11"\n'
                f'module = "{MODULE}"\ntoken_label = "src"\nkey_label = "{key_name}"\n'
                'pin_env = "FLE_PKCS11_PIN"\nso_pin_env = "FLE_PKCS11_SO_PIN"\n'
            )
            return keystore, self.pooled.pop(key_name)  # once: a second create of a name would fail
        flags = ["--backup"] if backup else []
        self.fle(
            "keys", "create", "--backend", "pkcs11", "--provider-id", "FLEDemo", "--key-name", key_name,
            "--module", MODULE, "--token-label", "src", "--keystore", str(keystore), "--config", str(config),
            *flags,
        )  # fmt: skip
        document = json.loads((config / f"{key_name}.public-key.json").read_text())
        public = serialization.load_pem_public_key(
            document["PublicKey"]["PublicKeyConfig"]["EncodedKey"].encode()
        )
        assert isinstance(public, rsa.RSAPublicKey)
        return keystore, public

    def decrypt(self, keystore: Path, ciphertexts: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "fle", "decrypt", "--keystore", str(keystore), "--json"],
            input="\n".join(ciphertexts) + "\n",
            capture_output=True,
            text=True,
            env=self.env,
            cwd=ROOT,
            timeout=120,
        )

    @property
    def removed(self) -> _Removed:
        return _Removed(self)


class _Removed:
    """`with hsm.removed:` the source token's directory is away (as if the HSM died), then back."""

    def __init__(self, hsm: Hsm) -> None:
        self.hsm = hsm
        self.away = hsm.root / "src-token-away"

    def __enter__(self) -> None:
        shutil.move(self.hsm.token_dirs["src"], self.away)

    def __exit__(self, *exc: object) -> None:
        shutil.move(self.away, self.hsm.token_dirs["src"])


@pytest.fixture(scope="module")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hsm]:
    root = tmp_path_factory.mktemp("hsm-backup")
    conf = softhsm_conf(root)
    env = {
        **os.environ,
        "SOFTHSM2_CONF": str(conf),
        "PYTHONPATH": str(ROOT),
        "FLE_PKCS11_PIN": USER_PIN,
        "FLE_PKCS11_SO_PIN": SO_PIN,
    }
    dirs = init_tokens(conf, TOKENS, USER_PIN, SO_PIN)
    made = Hsm(root, env, dirs)
    src = made.keystore("src-any.toml", [("Any", "src", "Any")])
    trusted = made.fle(
        "hsm",
        "trust",
        "--keystore",
        str(src),
        "--member",
        str(made.keystore("m1.toml", [("Any", "m1", "Any")])),
    )
    assert "src: trusts m1's transport key" in trusted.stdout
    assert "m1: accepts archives signed by src" in trusted.stdout
    pems = root / "pooled"
    pems.mkdir()
    made.probe("generate", "src", ",".join(POOLED), str(pems))
    for name in POOLED:
        public = serialization.load_pem_public_key((pems / f"{name}.pem").read_bytes())
        assert isinstance(public, rsa.RSAPublicKey)
        made.pooled[name] = public
    yield made


def edge_encrypt(public: rsa.RSAPublicKey, key_name: str, plaintext: bytes) -> str:
    """What the edge writes for a protected field."""
    return base64.b64encode(
        esdk.encrypt(plaintext, esdk.FieldKey(public, b"FLEDemo", key_name.encode()))
    ).decode()


def plaintexts(result: subprocess.CompletedProcess[str]) -> list[str | None]:
    return [json.loads(line).get("plaintext") for line in result.stdout.splitlines()]


# -- fle keys create --backup ---------------------------------------------------------------------------
def test_create_backup_key_is_extractable_only_under_a_trusted_key(hsm: Hsm) -> None:
    keystore, _ = hsm.create_key("Backed")
    assert 'so_pin_env = "FLE_PKCS11_SO_PIN"' in keystore.read_text()
    assert hsm.attrs("src", "Backed") == BACKUP_KEY_ATTRS
    plain, _ = hsm.create_key("Plain", backup=False)
    assert "so_pin_env" not in plain.read_text()
    attrs = hsm.attrs("src", "Plain")
    assert attrs["extractable"] is False and attrs["never_extractable"] is True


def test_backing_up_a_never_extractable_key_is_refused_saying_why(hsm: Hsm) -> None:
    keystore, _ = hsm.create_key("Stuck", backup=False)
    out = hsm.root / "stuck.json"
    refused = hsm.fle("hsm", "backup", "--keystore", str(keystore), "--out", str(out), check=False)
    assert refused.returncode == 2
    assert "FLEDemo/Stuck cannot be backed up: it was created never-extractable" in refused.stderr
    assert "fle keys create --backend pkcs11 ... --backup" in refused.stderr  # what to do
    assert not out.exists()


# -- backup and restore -----------------------------------------------------------------------------------
def test_edge_ciphertext_from_before_the_backup_decrypts_with_only_the_restored_token(hsm: Hsm) -> None:
    source, public = hsm.create_key("RoundTrip")
    before = [
        edge_encrypt(public, "RoundTrip", b"404-555-0150"),
        edge_encrypt(public, "RoundTrip", b"4111 1111"),
    ]
    archive = hsm.root / "roundtrip.json"
    made = hsm.fle("hsm", "backup", "--keystore", str(source), "--out", str(archive))
    assert "(FLEDemo/RoundTrip) for 1 member(s)" in made.stdout
    member = hsm.keystore("m1-roundtrip.toml", [("RoundTrip", "m1", "RoundTrip")])
    restored = hsm.fle("hsm", "restore", "--archive", str(archive), "--keystore", str(member))
    assert "restored         FLEDemo/RoundTrip in token 'm1' (proven by a round trip" in restored.stdout
    assert hsm.attrs("m1", "RoundTrip") == BACKUP_KEY_ATTRS  # the source's protections, kept
    with hsm.removed:
        gone = hsm.decrypt(source, before)
        assert gone.returncode != 0 and "404-555-0150" not in gone.stdout  # the source really is away
        answer = hsm.decrypt(member, before)
        assert answer.returncode == 0, answer.stderr
        assert plaintexts(answer) == ["404-555-0150", "4111 1111"]
    again = hsm.fle("hsm", "restore", "--archive", str(archive), "--keystore", str(member))
    assert "already present  FLEDemo/RoundTrip in token 'm1'" in again.stdout
    assert hsm.count("m1", "RoundTrip") == 2  # one private and one public key: nothing doubled
    wider = hsm.keystore(
        "m1-wider.toml", [("RoundTrip", "m1", "RoundTrip"), ("Elsewhere", "m1", "Elsewhere")]
    )
    partial = hsm.fle("hsm", "restore", "--archive", str(archive), "--keystore", str(wider))
    assert "not in archive   FLEDemo/Elsewhere in token 'm1'" in partial.stdout
    none = hsm.keystore("m1-none.toml", [("Elsewhere", "m1", "Elsewhere")])
    refused = hsm.refused_restore(archive, none)
    assert "the archive holds none of the keystore's keys (it holds FLEDemo/RoundTrip)" in refused


def test_the_archive_holds_no_key_material(hsm: Hsm) -> None:
    known = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # only this test knows it
    der = hsm.root / "known.der"
    der.write_bytes(
        known.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    hsm.probe("import", "src", "Known", str(der))
    der.unlink()
    source = hsm.keystore("src-known.toml", [("Known", "src", "Known")])
    archive = hsm.root / "known.json"
    hsm.fle("hsm", "backup", "--keystore", str(source), "--out", str(archive))
    data = archive.read_bytes()
    manifest = json.loads(json.loads(data)["manifest"])
    blobs = [data]
    for key in manifest["keys"]:
        blobs += [base64.b64decode(key["wrapped"]), base64.b64decode(key["public_key"])]
    blobs += [base64.b64decode(m["backup_key"]) for m in manifest["members"]]
    numbers = known.private_numbers()
    secrets_ = {
        name: value.to_bytes((value.bit_length() + 7) // 8, "big")
        for name, value in (
            ("d", numbers.d), ("p", numbers.p), ("q", numbers.q),
            ("dmp1", numbers.dmp1), ("dmq1", numbers.dmq1), ("iqmp", numbers.iqmp),
        )
    }  # fmt: skip
    for name, value in secrets_.items():
        for form in (value, value[:16], value.hex().encode(), base64.b64encode(value)):
            assert not any(form in blob for blob in blobs), f"{name} is in the archive"
    assert any(
        known.public_key().public_numbers().n.to_bytes(256, "big") in blob for blob in blobs
    )  # searched right
    member = hsm.keystore("m1-known.toml", [("Known", "m1", "Known")])
    hsm.fle("hsm", "restore", "--archive", str(archive), "--keystore", str(member))
    answer = hsm.decrypt(member, [edge_encrypt(known.public_key(), "Known", b"known key")])
    assert plaintexts(answer) == ["known key"], answer.stderr


# -- refusals ---------------------------------------------------------------------------------------------
def _one_key_archive(hsm: Hsm, key_name: str) -> tuple[Path, Path]:
    source, _ = hsm.create_key(key_name)
    archive = hsm.root / f"{key_name}.json"
    hsm.fle("hsm", "backup", "--keystore", str(source), "--out", str(archive))
    return archive, hsm.keystore(f"m1-{key_name}.toml", [(key_name, "m1", key_name)])


@pytest.mark.parametrize("change", ["attributes", "wrapped", "sequence", "signature"])
def test_a_changed_archive_is_refused_and_nothing_restored(hsm: Hsm, change: str) -> None:
    name = f"Tamper{change.title()}"
    archive, member = _one_key_archive(hsm, name)
    outer = json.loads(archive.read_text())
    manifest = json.loads(outer["manifest"])
    if change == "attributes":
        manifest["keys"][0]["attributes"]["extractable"] = False
    elif change == "wrapped":
        wrapped = bytearray(base64.b64decode(manifest["keys"][0]["wrapped"]))
        wrapped[40] ^= 1
        manifest["keys"][0]["wrapped"] = base64.b64encode(bytes(wrapped)).decode()
    elif change == "sequence":
        manifest["sequence"] += 1000
    if change == "signature":
        signature = bytearray(base64.b64decode(outer["signature"]))
        signature[-1] ^= 1
        outer["signature"] = base64.b64encode(bytes(signature)).decode()
    else:
        outer["manifest"] = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    archive.write_text(json.dumps(outer))
    refused = hsm.refused_restore(archive, member)
    assert "the archive was changed after it was made: its signature does not verify" in refused
    assert hsm.count("m1", name) == 0


def test_a_token_without_the_trust_cannot_restore(hsm: Hsm) -> None:
    archive, _ = _one_key_archive(hsm, "ForStranger")
    stranger = hsm.keystore("stranger.toml", [("ForStranger", "stranger", "ForStranger")])
    refused = hsm.refused_restore(archive, stranger)
    assert "token 'stranger' does not trust the archive's source" in refused
    assert hsm.count("stranger", "ForStranger") == 0


def test_an_archive_for_other_members_is_refused(hsm: Hsm) -> None:
    """`late` is trusted only after the archive was made: the archive holds no copy of the backup key
    it could unwrap (its security officer trusting the source does not change that)."""
    archive, _ = _one_key_archive(hsm, "NotForLate")
    src = hsm.keystore("src-only.toml", [("X", "src", "X")])
    hsm.fle(
        "hsm",
        "trust",
        "--keystore",
        str(src),
        "--member",
        str(hsm.keystore("late-t.toml", [("X", "late", "X")])),
    )
    member = hsm.keystore("late.toml", [("NotForLate", "late", "NotForLate")])
    refused = hsm.refused_restore(archive, member)
    assert "the archive was not made for token 'late'" in refused
    assert hsm.count("late", "NotForLate") == 0


def test_untrust_stops_backups_for_a_member(hsm: Hsm) -> None:
    src = hsm.keystore("src-untrust.toml", [("X", "src", "X")])
    late = hsm.keystore("late-untrust.toml", [("X", "late", "X")])
    hsm.fle("hsm", "trust", "--keystore", str(src), "--member", str(late))
    removed = hsm.fle("hsm", "untrust", "--keystore", str(src), "--member", str(late))
    assert "src: no longer trusts late's transport key" in removed.stdout
    archive, _ = _one_key_archive(hsm, "AfterUntrust")
    assert len(json.loads(json.loads(archive.read_text())["manifest"])["members"]) >= 1  # m1 still
    member = hsm.keystore("late-after.toml", [("AfterUntrust", "late", "AfterUntrust")])
    refused = hsm.refused_restore(archive, member)
    assert "the archive was not made for token 'late'" in refused
    again = hsm.fle("hsm", "untrust", "--keystore", str(src), "--member", str(late))
    assert "src does not make backups for late" in again.stdout


def test_an_older_archive_is_refused_unless_allow_older(hsm: Hsm) -> None:
    older, member_older = _one_key_archive(hsm, "Older")
    newer, member_newer = _one_key_archive(hsm, "Newer")
    hsm.fle("hsm", "restore", "--archive", str(newer), "--keystore", str(member_newer))
    refused = hsm.refused_restore(older, member_older)
    assert "this archive is backup" in refused and "older. Give --allow-older" in refused
    assert hsm.count("m1", "Older") == 0
    allowed = hsm.fle(
        "hsm", "restore", "--archive", str(older), "--keystore", str(member_older), "--allow-older"
    )
    assert "restored         FLEDemo/Older in token 'm1'" in allowed.stdout
    # the newer archive is still the last restored: the older one again is refused
    again = hsm.refused_restore(older, member_older)
    assert "older" in again


def test_nothing_is_half_restored(hsm: Hsm) -> None:
    """Two keys and two tokens: one refusal anywhere, and neither key is in either token."""
    _, first = hsm.create_key("HalfA")
    _, second = hsm.create_key("HalfB")
    source = hsm.keystore("src-half.toml", [("HalfA", "src", "HalfA"), ("HalfB", "src", "HalfB")])
    archive = hsm.root / "half.json"
    hsm.fle("hsm", "backup", "--keystore", str(source), "--out", str(archive))
    # m1 is trusted, the stranger is not: nothing goes to m1 either
    both = hsm.keystore("half-both.toml", [("HalfA", "m1", "HalfA"), ("HalfB", ["m1", "stranger"], "HalfB")])
    refused = hsm.refused_restore(archive, both)
    assert "token 'stranger' does not trust" in refused
    # m1 already holds a different key under the second label: the first is not restored either
    clash = hsm.keystore("half-clash.toml", [("HalfA", "m1", "HalfA"), ("HalfB", "m1", "RoundTripClash")])
    hsm.probe(
        "import",
        "m1",
        "RoundTripClash",
        str(_der(hsm, rsa.generate_private_key(public_exponent=65537, key_size=2048))),
    )
    refused = hsm.refused_restore(archive, clash)
    assert "already holds a different private key labelled 'RoundTripClash'" in refused
    assert hsm.count("m1", "HalfA") == 0 and hsm.count("m1", "HalfB") == 0
    assert first.public_numbers() != second.public_numbers()


def test_a_key_that_fails_its_proof_takes_back_the_whole_restore(hsm: Hsm) -> None:
    """A failure while restoring (here the second key's round trip: a key the token will not decrypt
    with) destroys what was already made (the first key, its public key) and records no sequence."""
    hsm.create_key("ProofA")
    hsm.probe(
        "import",
        "src",
        "ProofB",
        str(_der(hsm, rsa.generate_private_key(public_exponent=65537, key_size=2048))),
        "nodecrypt",
    )
    source = hsm.keystore("src-proof.toml", [("ProofA", "src", "ProofA"), ("ProofB", "src", "ProofB")])
    archive = hsm.root / "proof.json"
    hsm.fle("hsm", "backup", "--keystore", str(source), "--out", str(archive))
    member = hsm.keystore("m1-proof.toml", [("ProofA", "m1", "ProofA"), ("ProofB", "m1", "ProofB")])
    refused = hsm.refused_restore(archive, member)
    assert "FLEDemo/ProofB in token 'm1': the round trip with its public key failed" in refused
    assert hsm.count("m1", "ProofA") == 0 and hsm.count("m1", "ProofB") == 0


def _der(hsm: Hsm, key: rsa.RSAPrivateKey) -> Path:
    path = hsm.root / "other.der"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return path


def test_trust_needs_both_security_officers(hsm: Hsm) -> None:
    src = hsm.keystore("src-noso.toml", [("X", "src", "X")])
    member = hsm.keystore("stranger-t.toml", [("X", "stranger", "X")])
    refused = hsm.fle("hsm", "trust", "--keystore", str(src), "--member", str(member), check=False,
                      env={"FLE_PKCS11_SO_PIN": ""})  # fmt: skip
    assert refused.returncode == 2
    assert "needs its security officer's PIN: name the variable holding it as so_pin_env" in refused.stderr
    wrong = hsm.fle("hsm", "trust", "--keystore", str(src), "--member", str(member), check=False,
                    env={"FLE_PKCS11_SO_PIN": "not-the-pin"})  # fmt: skip
    assert wrong.returncode == 2 and "the security officer PIN is incorrect" in wrong.stderr


# -- clone and S3 -----------------------------------------------------------------------------------------
def test_clone_adds_a_cluster_member_that_decrypts_without_the_original(hsm: Hsm) -> None:
    source, public = hsm.create_key("Clustered")
    before = edge_encrypt(public, "Clustered", b"clone me")
    cluster = hsm.keystore("cluster.toml", [("Clustered", ["src", "m2"], "Clustered")])
    hsm.fle("hsm", "trust", "--keystore", str(source), "--member", str(cluster))  # idempotent
    cloned = hsm.fle("hsm", "clone", "--keystore", str(source), "--member", str(cluster))
    assert "restored         FLEDemo/Clustered in token 'm2' (proven by a round trip" in cloned.stdout
    assert hsm.count("src", "Clustered") == 2  # the source keeps its key
    both = hsm.decrypt(cluster, [before])
    assert plaintexts(both) == ["clone me"], both.stderr
    with hsm.removed:
        answer = hsm.decrypt(cluster, [before, edge_encrypt(public, "Clustered", b"written after")])
        assert answer.returncode == 0, answer.stderr
        assert plaintexts(answer) == ["clone me", "written after"]
        checked = hsm.fle("keys", "check", "--keystore", str(cluster))
        assert "token 'src' DOWN" in checked.stdout and "token 'm2' healthy" in checked.stdout


def test_archives_in_s3(hsm: Hsm, aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", aws.url)  # moto on loopback, for the test and for fle
    aws.client("s3").create_bucket(Bucket="fle-hsm-backups")
    env = {name: value for name, value in os.environ.items() if name.startswith("AWS_")}
    source, public = hsm.create_key("InS3")
    location = "s3://fle-hsm-backups/src/backup-1.json"
    hsm.fle("hsm", "backup", "--keystore", str(source), "--out", location, env=env)
    stored = aws.client("s3").get_object(Bucket="fle-hsm-backups", Key="src/backup-1.json")["Body"].read()
    assert json.loads(json.loads(stored)["manifest"])["keys"][0]["key_name"] == "InS3"
    member = hsm.keystore("m1-s3.toml", [("InS3", "m1", "InS3")])
    hsm.fle("hsm", "restore", "--archive", location, "--keystore", str(member), env=env)
    assert plaintexts(hsm.decrypt(member, [edge_encrypt(public, "InS3", b"via s3")])) == ["via s3"]
    missing = hsm.fle(
        "hsm", "restore", "--archive", "s3://fle-hsm-backups/nope.json", "--keystore", str(member),
        env=env, check=False,
    )  # fmt: skip
    assert missing.returncode == 2 and "cannot read s3://fle-hsm-backups/nope.json" in missing.stderr
