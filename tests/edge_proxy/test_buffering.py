"""The buffer between a slow client and the origin (pipeline/buffering.py): memory, then a temporary file.

Whatever the order of writes and reads, the bytes come out as they went in, the disk budget is given back
once the file's bytes are read (or the buffer closed), and a write that needs more disk than is left is
refused without changing anything."""

from __future__ import annotations

import asyncio
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_proxy.pipeline.buffering import Buffering, DiskBudget, Spool, SpooledBody, buffer_request

_STEPS = st.lists(st.one_of(st.binary(min_size=1, max_size=300), st.none()), max_size=60)


@settings(max_examples=200, deadline=None)
@given(steps=_STEPS, memory=st.integers(1, 600), disk=st.integers(0, 3000))
def test_bytes_come_out_in_order_and_the_budget_is_given_back(
    steps: list[bytes | None], memory: int, disk: int
) -> None:
    budget = DiskBudget(disk)
    spool = Spool(memory, budget)
    written, read = bytearray(), bytearray()
    try:
        for step in steps:
            if step is None:  # a read
                read += spool.take()
            elif spool.put(step):
                written += step
            assert spool.size == len(written) - len(read)
            assert 0 <= budget.used <= disk
        while piece := spool.take():
            read += piece
        assert bytes(read) == bytes(written)
        assert budget.used == 0  # everything read: the file's bytes are free again
    finally:
        spool.close()
    assert budget.used == 0


def test_a_large_body_goes_to_an_unlinked_file_and_comes_back_whole() -> None:
    budget = DiskBudget(10 << 20)
    pieces = [os.urandom(100_000) for _ in range(30)]

    async def chunks():  # type: ignore[no-untyped-def]
        for piece in pieces:
            yield piece

    async def run() -> bytes:
        body = await buffer_request(chunks(), Buffering(memory_bytes=65536), budget, None)
        assert isinstance(body, SpooledBody) and body.length == 3_000_000
        assert budget.used > 0
        fd = body.spool._fd
        assert os.fstat(fd).st_nlink == 0  # no name on disk: gone with its descriptor
        return b"".join([piece async for piece in body])

    assert asyncio.run(run()) == b"".join(pieces)
    assert budget.used == 0
