"""The classic sample configuration (provider FLEDemo, key DemoPublicKey, pattern phone), as files."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

EXAMPLE_FILES = ("public-key.json", "profile.json", "config.json")


def write_example_config(directory: Path, public_key_pem: str) -> None:
    """Copy `profiles/examples/` into `directory`, with `public_key_pem` as DemoPublicKey's EncodedKey."""
    directory.mkdir(parents=True, exist_ok=True)
    source = resources.files("profiles").joinpath("examples")
    for name in EXAMPLE_FILES:
        document = json.loads(source.joinpath(name).read_text(encoding="utf-8"))
        if "PublicKey" in document:
            document["PublicKey"]["PublicKeyConfig"]["EncodedKey"] = public_key_pem
        (directory / name).write_text(json.dumps(document, indent=4) + "\n", encoding="utf-8")
