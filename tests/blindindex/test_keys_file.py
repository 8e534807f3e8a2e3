"""The index-keys file and its file backend: parsing, the root key file's mode and format, beacons."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from blindindex import IndexKeysError, UnknownIndexKey
from blindindex.beacon import derive_index_key, standard_beacon
from blindindex.keys import IndexKeys
from blindindex.settings import FileKeySettings, IndexKeyEntry, Pkcs11KeySettings, read_index_keys
from blindindex.tooling import append_entry, create_root_key_file

ROOT_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"


def write_key(path: Path, text: str = ROOT_HEX + "\n", mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def write_toml(directory: Path, text: str) -> Path:
    path = directory / "index-keys.toml"
    path.write_text(text)
    return path


def test_a_file_key_gives_the_specifications_beacon(tmp_path: Path) -> None:
    write_key(tmp_path / "root.hex")
    toml = write_toml(tmp_path, '[[index_key]]\nname = "pii-2026"\nbackend = "file"\npath = "root.hex"\n')
    with IndexKeys.load(toml) as keys:
        expected = standard_beacon(derive_index_key(bytes.fromhex(ROOT_HEX), "phone"), 16, "14045550150")
        assert keys.beacon("pii-2026", "phone", 16, "14045550150") == expected
        assert len(expected) == 4
        assert keys.beacon("pii-2026", "email", 16, "14045550150") != expected  # per-index keys
        assert keys.names == {"pii-2026"}


def test_relative_paths_are_relative_to_the_toml_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    write_key(tmp_path / "conf" / "root.hex")
    toml = write_toml(tmp_path / "conf", '[[index_key]]\nname = "k"\nbackend = "file"\npath = "root.hex"\n')
    monkeypatch.chdir(tmp_path)
    assert IndexKeys.load(toml).beacon("k", "n", 8, "x")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_a_key_file_readable_beyond_its_owner_is_refused(tmp_path: Path, mode: int) -> None:
    key = write_key(tmp_path / "root.hex", mode=mode)
    toml = write_toml(tmp_path, '[[index_key]]\nname = "k"\nbackend = "file"\npath = "root.hex"\n')
    with pytest.raises(IndexKeysError) as caught:
        IndexKeys.load(toml)
    assert str(key) in str(caught.value) and f"mode {mode:04o}" in str(caught.value)
    assert "chmod 600" in str(caught.value)


@pytest.mark.parametrize("text", ["", "abc", ROOT_HEX[:-2], ROOT_HEX + "00", "zz" + ROOT_HEX[2:], "\xff"])
def test_a_key_file_without_64_hex_characters_is_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / "root.hex").write_bytes(text.encode("latin-1"))
    (tmp_path / "root.hex").chmod(0o600)
    toml = write_toml(tmp_path, '[[index_key]]\nname = "k"\nbackend = "file"\npath = "root.hex"\n')
    with pytest.raises(IndexKeysError, match=r"root\.hex"):
        IndexKeys.load(toml)


def test_a_missing_key_file_is_named(tmp_path: Path) -> None:
    toml = write_toml(tmp_path, '[[index_key]]\nname = "k"\nbackend = "file"\npath = "nope.hex"\n')
    with pytest.raises(IndexKeysError, match=r"nope\.hex"):
        IndexKeys.load(toml)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[index_key]]\nbackend = 'file'\npath = 'x'\n", "missing name"),
        ("[[index_key]]\nname = 'k'\nbackend = 'ssm'\n", "backend must be one of"),
        ("[[index_key]]\nname = 'k'\nbackend = 'file'\n", "needs path"),
        (
            "[[index_key]]\nname = 'k'\nbackend = 'file'\npath = 'x'\npassphrase_env = 'P'\n",
            "unknown setting",
        ),
        ("[[index_key]]\nname = 'k'\nbackend = 'pkcs11'\nmodule = 'm'\ntoken_label = 't'\n", "needs pin_env"),
        ("[[index_key]]\nname = 'a b'\nbackend = 'file'\npath = 'x'\n", "letters, digits"),
        ("[[index_key]]\nname = 'k'\nbackend = 'file'\npath = 3\n", "non-empty string"),
        ("[[key]]\nname = 'k'\n", "unknown table"),
        ("index_key = 3\n", "array of tables"),
        ("[[index_key]\n", "not valid TOML"),
    ],
)
def test_malformed_entries_are_refused_with_the_file_named(tmp_path: Path, text: str, message: str) -> None:
    toml = write_toml(tmp_path, text)
    with pytest.raises(IndexKeysError, match=message) as caught:
        read_index_keys(toml)
    assert str(toml) in str(caught.value)


def test_a_name_twice_is_refused(tmp_path: Path) -> None:
    entry = '[[index_key]]\nname = "k"\nbackend = "file"\npath = "x"\n'
    with pytest.raises(IndexKeysError, match="defined twice"):
        read_index_keys(write_toml(tmp_path, entry + entry))


def test_pkcs11_key_label_defaults_to_the_name(tmp_path: Path) -> None:
    toml = write_toml(
        tmp_path,
        "[[index_key]]\nname = 'k'\nbackend = 'pkcs11'\nmodule = 'm'\ntoken_label = 't'\npin_env = 'P'\n",
    )
    assert read_index_keys(toml)["k"].settings == Pkcs11KeySettings("m", "t", "P", "k")


def test_an_unknown_key_name_is_refused(tmp_path: Path) -> None:
    write_key(tmp_path / "root.hex")
    toml = write_toml(tmp_path, '[[index_key]]\nname = "k"\nbackend = "file"\npath = "root.hex"\n')
    with pytest.raises(UnknownIndexKey, match=r"no index_key named 'other' \(known: k\)"):
        IndexKeys.load(toml).beacon("other", "phone", 16, "1")


def test_bits_are_checked(tmp_path: Path) -> None:
    write_key(tmp_path / "root.hex")
    toml = write_toml(tmp_path, '[[index_key]]\nname = "k"\nbackend = "file"\npath = "root.hex"\n')
    with pytest.raises(ValueError, match="1 to 63"):
        IndexKeys.load(toml).beacon("k", "phone", 64, "1")


def test_created_root_keys_are_random_owner_only_and_never_overwritten(tmp_path: Path) -> None:
    first, second = tmp_path / "a.hex", tmp_path / "b.hex"
    create_root_key_file(first)
    create_root_key_file(second)
    assert os.stat(first).st_mode & 0o777 == 0o600
    assert first.read_text() != second.read_text() and len(first.read_text().strip()) == 64
    before = first.read_text()
    with pytest.raises(IndexKeysError, match="already exists"):
        create_root_key_file(first)
    assert first.read_text() == before


def test_appended_entries_load_back(tmp_path: Path) -> None:
    toml = tmp_path / "conf" / "index-keys.toml"
    create_root_key_file(tmp_path / "root.hex")
    (tmp_path / "conf").mkdir()
    create_root_key_file(tmp_path / "conf" / "inner.hex")
    append_entry(toml, IndexKeyEntry("outer", FileKeySettings(tmp_path / "root.hex")))
    append_entry(toml, IndexKeyEntry("inner", FileKeySettings(tmp_path / "conf" / "inner.hex")))
    append_entry(toml, IndexKeyEntry("hsm", Pkcs11KeySettings("/m.so", "tok", "PIN_ENV", "lab")))
    assert 'path = "inner.hex"' in toml.read_text()  # inside the TOML's directory: relative
    entries = read_index_keys(toml)
    assert entries["outer"].settings == FileKeySettings(tmp_path / "root.hex")
    assert entries["inner"].settings == FileKeySettings(toml.parent / "inner.hex")
    assert entries["hsm"].settings == Pkcs11KeySettings("/m.so", "tok", "PIN_ENV", "lab")


def test_worker_threads_get_the_same_beacons(tmp_path: Path) -> None:
    write_key(tmp_path / "root.hex")
    toml = write_toml(tmp_path, '[[index_key]]\nname = "k"\nbackend = "file"\npath = "root.hex"\n')
    keys = IndexKeys.load(toml)
    values = [f"{n:06d}" for n in range(200)]
    expected = [
        standard_beacon(derive_index_key(bytes.fromhex(ROOT_HEX), f"i{n % 5}"), 20, v)
        for n, v in enumerate(values)
    ]
    results: list[list[str]] = []

    def work() -> None:
        results.append([keys.beacon("k", f"i{n % 5}", 20, v) for n, v in enumerate(values)])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == [expected] * 4


def test_field_beacon_normalizes_with_the_profiles_index(tmp_path: Path) -> None:
    """profiles.BlindIndex is what the edge holds: field_beacon takes it as it is."""
    from blindindex import NormalizeError
    from profiles import BlindIndex

    write_key(tmp_path / "root.hex")
    toml = write_toml(tmp_path, '[[index_key]]\nname = "pii-2026"\nbackend = "file"\npath = "root.hex"\n')
    index = BlindIndex(field="phone", name="phone", key="pii-2026", bits=16, normalize="digits/1")
    key = derive_index_key(bytes.fromhex(ROOT_HEX), "phone")
    with IndexKeys.load(toml) as keys:
        assert keys.field_beacon(index, "+1 (404) 555-0150") == standard_beacon(key, 16, "14045550150")
        assert keys.field_beacon(index, "1-404-555-0150") == keys.field_beacon(index, "14045550150")
        with pytest.raises(NormalizeError):
            keys.field_beacon(index, "n/a")
