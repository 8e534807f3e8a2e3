"""Blind indexes at the edge: beside each indexed protected field, the beacon of its plaintext.

For a profile with "Fle:Indexes" the edge compiles its own selection (`indexed_selection`), each pattern
tagged with an `IndexTag`: the entity whose key encrypts the value and, for an indexed field, its index.
The sidecar names (`<field>__bidx`, and `<field>__bidx_prev`) are tagged `RESERVED`, so a body carrying
one, under any origin family's reading of its name, is refused before a byte is forwarded: a client must
never plant a beacon of its choosing beside a value it did not send.

The transform (`IndexedTransform`) encrypts a value as every protected value is encrypted and, for an
indexed one, adds the sidecars as sibling fields (`fields.selection.Rewritten`, written right after the
value in all three body formats): the DB-ESDK standard beacon of the normalized plaintext under the
index's key, and while the index key rotates ("PreviousKey") the beacon under the old key as well. An
empty value gets no beacon (there is nothing to find). A value the normalizer refuses is the client's
mistake (400); an index key that cannot be used refuses the request (503 when its token is away, else
500): a protected field never leaves without its beacon, nor in plaintext.

Index keys are not decryption keys (blindindex holds no private key), so the edge may hold them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from blindindex import BlindIndexError, NormalizeError, TokenError, get_normalizer
from blindindex.keys import IndexKeys
from blindindex.settings import FileKeySettings
from fields.errors import Reason, RequestRefused
from fields.json_pointer import JsonPointerPattern
from fields.patterns import FieldPattern
from fields.selection import Rewritten, Selection
from profiles import BlindIndex, ConfigError, EncryptionEntity, Profile, parse_pattern, parse_pointer_pattern


@dataclass(frozen=True, eq=False, slots=True)
class IndexTag:
    """What a selected field is: its entity, and its index with the sidecar names as written in the body
    (a form/multipart field name, or the JSON member beside the value). `entity` None: a sidecar name."""

    entity: EncryptionEntity | None
    index: BlindIndex | None = None
    sidecar: str = ""
    previous_sidecar: str = ""  # written only while the index names a PreviousKey
    normalize: Callable[[str], str] | None = None  # the index's normalizer, looked up once, at compile


RESERVED = IndexTag(None)


def _member(name: str) -> str:
    """The sibling's name as written: a form name as it is, a pointer's last member."""
    if name.startswith("/"):
        segment = parse_pointer_pattern(name).segments[-1]
        assert segment is not None  # profiles refuses an index on a wildcard or an array element
        return segment
    return name


def _pattern(text: str) -> FieldPattern | JsonPointerPattern:
    return parse_pointer_pattern(text) if text.startswith("/") else parse_pattern(text)


def indexed_selection(profile: Profile) -> Selection[IndexTag]:
    """The profile's selection with index tags: sidecar names first (JSON: the first pointer found wins),
    then every pattern; the fields of one entity without an index share one tag, as before."""
    plain = {id(entity): IndexTag(entity) for entity in profile.entities}
    by_field = {index.field: index for index in profile.indexes}
    pairs: list[tuple[FieldPattern | JsonPointerPattern, IndexTag]] = []
    for reserved in profile.indexes:
        pairs += [(_pattern(reserved.sidecar), RESERVED), (_pattern(reserved.previous_sidecar), RESERVED)]
    for entity in profile.entities:
        for pattern in entity.patterns:
            index = by_field.get(pattern.text)
            if index is None:
                pairs.append((pattern, plain[id(entity)]))
                continue
            previous = _member(index.previous_sidecar) if index.previous_key else ""
            normalize = get_normalizer(index.normalize).apply
            pairs.append((pattern, IndexTag(entity, index, _member(index.sidecar), previous, normalize)))
    return Selection.compile(
        names=[(p, t) for p, t in pairs if isinstance(p, FieldPattern)],
        pointers=[(p, t) for p, t in pairs if isinstance(p, JsonPointerPattern)],
    )


def check_keys(profile: Profile, keys: IndexKeys | None, *, prepare: bool = True) -> bool:
    """Make every index key of `profile` ready now (derived, or found in its token), so a request never
    meets a missing one; True when one of them lives in a token (its HMAC blocks: call off the loop).
    Without `prepare` only the names are checked: a process that forks workers must not open a token.
    ConfigError naming the profile, the index and the key when the proxy cannot compute an index."""
    if not profile.indexes:
        return False
    if keys is None:
        raise ConfigError(
            f"profile {profile.id} has Fle:Indexes but the proxy was given no index keys (--index-keys FILE)"
        )
    blocking = False
    for index in profile.indexes:
        for key in (index.key, index.previous_key):
            if key is None:
                continue
            where = f"profile {profile.id}: index {index.name}: index key {key!r}"
            if key not in keys.names:
                raise ConfigError(f"{where} is not in {keys.source}")
            try:
                if prepare:
                    keys.prepare(key, index.name)
            except BlindIndexError as e:
                raise ConfigError(f"{where}: {e}") from None
            blocking |= not isinstance(keys.entries[key].settings, FileKeySettings)
    return blocking


Encrypt = Callable[[bytes, EncryptionEntity], bytes]


class IndexedTransform:
    """The transform of a profile with indexes: encrypt, and write the beacon(s) of an indexed value."""

    def __init__(self, encrypt: Encrypt, keys: IndexKeys) -> None:
        self._encrypt = encrypt
        self._keys = keys

    def __call__(self, value: bytes, tag: IndexTag) -> bytes | Rewritten:
        entity, index = tag.entity, tag.index
        if entity is None:
            raise RequestRefused(
                Reason.BLIND_INDEX_SIDECAR,
                "a field is named like a blind-index sidecar: only the edge writes it",
            )
        ciphertext = self._encrypt(value, entity)
        if index is None or not value:
            return ciphertext
        assert tag.normalize is not None  # set with the index (indexed_selection)
        normalized = self._normalized(value, index, tag.normalize)
        siblings = [(tag.sidecar, self._beacon(index.key, index, normalized))]
        if tag.previous_sidecar and index.previous_key is not None:
            siblings.append((tag.previous_sidecar, self._beacon(index.previous_key, index, normalized)))
        return Rewritten(ciphertext, tuple(siblings))

    @staticmethod
    def _normalized(value: bytes, index: BlindIndex, normalize: Callable[[str], str]) -> str:
        try:
            return normalize(value.decode("utf-8"))
        except (UnicodeDecodeError, NormalizeError):  # the message never repeats the value
            raise RequestRefused(
                Reason.BLIND_INDEX_VALUE,
                f"field {index.field}: its index ({index.normalize}) refuses the value",
            ) from None

    def _beacon(self, key: str, index: BlindIndex, normalized: str) -> bytes:
        try:
            return self._keys.beacon(key, index.name, index.bits, normalized).encode("ascii")
        except TokenError:
            raise RequestRefused(
                Reason.BLIND_INDEX_UNAVAILABLE, f"index {index.name}: the token of index key {key} is away"
            ) from None
