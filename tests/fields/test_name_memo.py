"""The answers remembered per compiled selection (names.NameIndex.memo and raw_memo, issue 27): the
same answers as a fresh reading, refusals never remembered, and bounded memory."""

from __future__ import annotations

import pytest

from fields import forms, names
from fields.errors import RequestRefused
from fields.limits import Limits
from fields.patterns import parse_pattern
from fields.selection import Selection

CARD, NUMBER = "card", "number"


def _selection() -> Selection[str]:
    return Selection.compile(names=[(parse_pattern("card"), CARD), (parse_pattern("card_number"), NUMBER)])


def _mark(value: bytes, tag: str) -> bytes:
    return tag.encode() + b"-" + value


def test_remembered_answers_are_the_fresh_ones() -> None:
    warm, cold = _selection(), _selection()
    sent = [b"card", b"CARD", b"card%5B0%5D", b"card_number", b"other", b"x%2Ey", b"card+x", b"cardx"]
    for raw in sent * 3:
        name = forms.decode_name(raw)
        assert names.tag_for(warm.names, name) == names._tag_for(cold.names, name)
    body = b"&".join(r + b"=v" for r in sent)
    assert forms.rewrite(body, warm, _mark, Limits()) == forms.rewrite(body, _selection(), _mark, Limits())
    assert b"card" in warm.names.raw_memo and "card" in warm.names.memo


def test_a_refused_name_is_refused_every_time_and_never_remembered() -> None:
    selection = _selection()
    for _ in range(3):
        with pytest.raises(RequestRefused):
            forms.rewrite(b"card.number=4111", selection, _mark, Limits())
        with pytest.raises(RequestRefused):  # not UTF-8 once decoded
            forms.rewrite(b"%FF=1", selection, _mark, Limits())
    assert b"card.number" not in selection.names.raw_memo and "card.number" not in selection.names.memo
    assert b"%FF" not in selection.names.raw_memo


def test_the_memos_are_bounded() -> None:
    selection = _selection()
    for i in range(names.MEMO_ENTRIES + 50):
        forms.rewrite(b"f%d=1" % i, selection, _mark, Limits())
    assert 0 < len(selection.names.raw_memo) <= names.MEMO_ENTRIES
    assert 0 < len(selection.names.memo) <= names.MEMO_ENTRIES
    long_name = b"n" * (names.MEMO_NAME_LENGTH + 1)
    forms.rewrite(long_name + b"=1", selection, _mark, Limits())
    assert long_name not in selection.names.raw_memo
