"""Which of our modules run for one form POST through the edge: the walk docs/architecture.md lists.

    python -m benchmarks.walk            # one module per line, then the count

The proxy (the sample config: `phone` protected) and a trivial origin run in this process on loopback
ports the OS gives; after one warm-up request, a profiler hook (`sys.setprofile`) records every function
call of a second one, and the modules of ours they are in are printed. A measurement of the code's
structure, not of its speed: tests/project/test_walk.py checks the page states the count this prints.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

from edge_proxy import ProxySettings, build_app, start_site
from keystore.tooling import public_pem
from profiles import load_config_dir
from profiles.examples import write_example_config

ROOT = Path(__file__).resolve().parents[1]
# Not the request's own code, so not counted: logsafe (the log handlers a process installs, if any, run for
# the access log's record) and the loop-lag probe (a timer that may fire while the request is under way).
NOT_THE_REQUESTS = ("edge_proxy/pipeline/looplag.py",)
OURS = ("edge_proxy", "fields", "profiles", "esdk_format", "blindindex")
FORM = "application/x-www-form-urlencoded"


async def walk() -> list[str]:
    """The modules (paths relative to the checkout) whose code runs for one warm form POST."""
    seen: set[str] = set()

    def hook(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            path = Path(frame.f_code.co_filename)
            if path.is_relative_to(ROOT) and path.relative_to(ROOT).parts[0] in OURS:
                relative = path.relative_to(ROOT).as_posix()
                if relative not in NOT_THE_REQUESTS:
                    seen.add(relative)

    async def accept(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="stored")

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with tempfile.TemporaryDirectory() as directory:
        write_example_config(Path(directory), public_pem(key.public_key()))
        config = load_config_dir(directory).only_config()
    origin = web.Application()
    origin.router.add_post("/submit", accept)
    origin_runner, origin_url = await start_site(origin, "127.0.0.1", 0)
    proxy_runner, proxy_url = await start_site(
        build_app(ProxySettings(origin=URL(origin_url), config=config)), "127.0.0.1", 0
    )
    try:
        async with aiohttp.ClientSession() as session:
            for warm in (True, False):
                sys.setprofile(None if warm else hook)
                try:
                    async with session.post(
                        f"{proxy_url}/submit",
                        data="name=Jane+Doe&phone=404-555-0150",
                        headers={"Content-Type": FORM},
                    ) as response:
                        assert response.status == 200, await response.text()
                finally:
                    sys.setprofile(None)
    finally:
        await proxy_runner.cleanup()
        await origin_runner.cleanup()
    return sorted(seen)


def main() -> None:
    modules = asyncio.run(walk())
    print("\n".join(modules))
    print(f"{len(modules)} modules")


if __name__ == "__main__":
    main()
