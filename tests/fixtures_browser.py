"""Headless Debian Chromium driven by Playwright, for tests that use the application as a person would.

Playwright's own browser builds are never downloaded (no `playwright install`): the fixture launches the
system's /usr/bin/chromium (Debian package `chromium`, installed by scripts/install.sh --test) with a
fresh profile, and with the background services that would talk to the network turned off.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("FLE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser_context(tmp_path: Path) -> AsyncIterator[object]:
    """A Playwright BrowserContext of a headless Chromium with its own user-data dir under tmp_path."""
    from playwright.async_api import async_playwright

    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(f"{CHROMIUM} not found: run scripts/install.sh --test (Debian package chromium)")
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1100, "height": 800},
        )
        try:
            yield context
        finally:
            await context.close()
