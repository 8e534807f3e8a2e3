"""edge_proxy's public names: the list other packages may use, checked as httpx checks its `__all__`.

reveal uses edge_proxy only through these names (and the fields layer for the codecs), never a module of
edge_proxy's rooms: a change inside a room must not reach reveal unseen.
"""

from __future__ import annotations

import ast
from pathlib import Path

import edge_proxy

ROOT = Path(__file__).resolve().parents[2]

EXPORTED = [
    "RUNTIME",
    "Buffering",
    "CannotListen",
    "ClientLimits",
    "ClientWriteTimeout",
    "ConfigSource",
    "Limits",
    "Listener",
    "OriginPool",
    "PoolBusy",
    "Proxy",
    "ProxyError",
    "ProxySettings",
    "RequestRefused",
    "Runtime",
    "Timeouts",
    "UpstreamError",
    "UpstreamTimeout",
    "answer_to",
    "build_admin_app",
    "build_app",
    "drain",
    "end_to_end",
    "expect",
    "loops",
    "raw_path",
    "read_limited",
    "reload_config",
    "start_site",
    "stream_answer",
    "tls_context",
    "until_signalled",
]


def test_the_exported_members_are_these() -> None:
    assert edge_proxy.__all__ == EXPORTED
    public = sorted(name for name in vars(edge_proxy) if not name.startswith("_"))
    rooms = {"encrypting", "origin_client", "pipeline", "serving"}  # subpackages bound by the imports
    assert sorted(set(public) - rooms) == sorted(EXPORTED)


def test_every_exported_member_is_defined() -> None:
    for name in EXPORTED:
        assert getattr(edge_proxy, name) is not None, name


def _edge_proxy_imports(package: str) -> list[tuple[str, str, list[str]]]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module.split(".")[0] == "edge_proxy":
                    found.append((path.name, node.module, [alias.name for alias in node.names]))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "edge_proxy":
                        found.append((path.name, alias.name, []))
    return found


def test_reveal_imports_only_edge_proxys_public_names() -> None:
    imports = _edge_proxy_imports("reveal")
    assert imports, "the checker sees reveal's imports of edge_proxy"
    for where, module, names in imports:
        assert module == "edge_proxy", f"{where} imports the private module {module}"
        assert set(names) <= set(EXPORTED), f"{where} imports {set(names) - set(EXPORTED)}"


def test_the_checker_sees_a_private_import() -> None:
    assert ("cmd_proxy.py", "edge_proxy.serving", ["workers"]) in _edge_proxy_imports("fle")
