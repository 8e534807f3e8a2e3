"""Store backends side by side: SQLite vs the DynamoDB backend on dynalite, in one run, as ratios.

    python3 -m benchmarks.store_backends [--items 300] [--concurrency 16]

Starts dynalite (tests/node, installed by scripts/install.sh --test) on a free loopback port with dummy
credentials, then times put, get and get_many on each backend. Bounded: a few hundred items, ~20 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from store import Store, Submission, open_store
from testkit.dynalite import Dynalite

FIELDS = {"name": "Jane Doe", "email": "jane@example.org", "phone": "AYABe" + "x" * 420}


async def timed(jobs: list[Callable[[], Awaitable[object]]], concurrency: int) -> float:
    """Seconds to run `jobs` with at most `concurrency` in flight."""
    gate = asyncio.Semaphore(concurrency)

    async def one(job: Callable[[], Awaitable[object]]) -> None:
        async with gate:
            await job()

    started = time.perf_counter()
    await asyncio.gather(*(one(job) for job in jobs))
    return time.perf_counter() - started


async def measure(store: Store, items: int, concurrency: int) -> dict[str, float]:
    batch = [Submission(fields=FIELDS, encrypted_fields=("phone",)) for _ in range(items)]
    ids = [item.id for item in batch]
    await store.put(Submission(fields=FIELDS))  # warm up: client, table
    result = {
        "put, 1 in flight": items
        / await timed([lambda i=i: store.put(i) for i in batch[: items // 2]], 1)
        * 2,
        f"put, {concurrency} in flight": items
        / await timed([lambda i=i: store.put(i) for i in batch[items // 2 :]], concurrency)
        * 2,
        "get, 1 in flight": items / await timed([lambda i=i: store.get(i) for i in ids], 1),
        f"get, {concurrency} in flight": items
        / await timed([lambda i=i: store.get(i) for i in ids], concurrency),
        "get_many of 100": 100 * 5 / await timed([lambda: store.get_many(ids[:100])] * 5, 1),
    }
    await store.close()
    return result


async def main(items: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = Dynalite().start()
        os.environ |= {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(Path(tmp) / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(Path(tmp) / "none"),
            "AWS_ENDPOINT_URL_DYNAMODB": server.endpoint,
        }
        try:
            sqlite = await measure(open_store(f"sqlite:///{tmp}/bench.db"), items, concurrency)
            dynamo = await measure(open_store(f"dynamodb://bench-{uuid.uuid4().hex[:8]}"), items, concurrency)
        finally:
            server.stop()
    print(f"| operation ({items} items) | SQLite ops/s | DynamoDB on dynalite ops/s | SQLite / dynalite |")
    print("| --- | ---: | ---: | ---: |")
    for name in sqlite:
        print(f"| {name} | {sqlite[name]:,.0f} | {dynamo[name]:,.0f} | {sqlite[name] / dynamo[name]:.1f}x |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(main(min(args.items, 5000), args.concurrency))
