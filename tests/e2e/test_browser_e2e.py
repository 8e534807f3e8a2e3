"""A person's path in a real browser: headless Chromium fills the form THROUGH the edge proxy; the origin
stores it in a DynamoDB-API table (dynalite); the decryptor handler turns the phone back into plaintext."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

from decryptor import handler
from edge_proxy import ProxySettings
from edge_proxy import build_app as build_proxy
from origin import build_app as build_origin
from profiles import load_config_dir
from store import open_store
from tests.helpers import make_config_dir, serving, write_file_keystore

PERSON = {"name": "Jane Doe", "email": "jane@example.org", "phone": "404-555-0150"}


async def test_a_form_filled_in_chromium_is_stored_encrypted_and_decrypts(
    tmp_path: Path,
    rsa_key: rsa.RSAPrivateKey,
    monkeypatch: pytest.MonkeyPatch,
    dynamodb_env: str,
    browser_context: Any,
) -> None:
    store_url = f"dynamodb://{dynamodb_env}"
    monkeypatch.setenv("FLE_STORE", store_url)
    monkeypatch.setenv("TEST_KEY_PASSPHRASE", "pw")
    monkeypatch.setenv("FLE_KEYSTORE", str(write_file_keystore(tmp_path / "ks", rsa_key, "pw")))
    handler.reset_cache()
    config = load_config_dir(make_config_dir(tmp_path / "config", rsa_key)).only_config()

    async with serving(build_origin(open_store(store_url))) as origin_url:
        async with serving(build_proxy(ProxySettings(origin=URL(origin_url), config=config))) as proxy_url:
            page = await browser_context.new_page()
            await page.goto(proxy_url + "/")
            assert await page.title() == "Field-level encryption sample"
            await page.fill("#name", PERSON["name"])
            await page.fill("#email", PERSON["email"])
            await page.fill("#phone", PERSON["phone"])
            async with page.expect_navigation():
                await page.click("button[type=submit]")
            assert page.url == proxy_url + "/submit"
            assert await page.locator("h1").inner_text() == "Submission stored"
            item_id = await page.locator("#submission-id").inner_text()
            shown_phone = await page.locator('td[data-field="phone"]').inner_text()
            assert shown_phone.startswith("AYABe") and PERSON["phone"] not in await page.content()
            assert await page.locator('td[data-field="name"]').inner_text() == PERSON["name"]
            await page.screenshot(path=str(tmp_path / "answer-page.png"), full_page=True)

    raw = boto3.client("dynamodb").get_item(TableName=dynamodb_env, Key={"id": {"S": item_id}})["Item"]
    stored = {name: value["S"] for name, value in raw["fields"]["M"].items()}
    assert stored["phone"] == shown_phone and stored["phone"].startswith("AYABe")
    assert stored["name"] == PERSON["name"] and stored["email"] == PERSON["email"]
    assert raw["encrypted_fields"] == {"L": [{"S": "phone"}]}
    assert PERSON["phone"] not in str(raw)

    result = await asyncio.to_thread(handler.lambda_handler, {"ids": [item_id]}, None)
    assert result["items"][0]["fields"] == PERSON
    assert result["items"][0]["errors"] == {}
    assert (tmp_path / "answer-page.png").stat().st_size > 10_000
