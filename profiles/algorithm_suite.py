"""`"Fle:AlgorithmSuite"` in a profile config: the ESDK suite the edge writes for it (docs/formats.md).

An fle-edge extension to CloudFront's format: CloudFront writes 0x0178 only; a profile may choose the
committing 0x0478.
"""

from __future__ import annotations

from esdk_format import Suite

from .json_node import Node

ALGORITHM_SUITE_KEY = "Fle:AlgorithmSuite"  # the colon keeps it apart from every AWS key name
ALGORITHM_SUITES = {  # the suites the edge writes
    s.hex_id.lower(): s
    for s in (Suite.AES_256_GCM_IV12_TAG16_HKDF_SHA256, Suite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY)
}


def algorithm_suite(node: Node | None) -> Suite:
    """The suite `node` names (case-insensitive hex id), 0x0178 when absent; the node's error otherwise."""
    if node is None:
        return Suite.AES_256_GCM_IV12_TAG16_HKDF_SHA256
    text = node.str().lower()
    if text not in ALGORITHM_SUITES:
        raise node.error(
            f"unsupported algorithm suite {node.value!r}; supported: {', '.join(ALGORITHM_SUITES)}"
        )
    return ALGORITHM_SUITES[text]
