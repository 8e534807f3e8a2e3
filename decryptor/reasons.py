"""The reason codes callers see; everything else about a failure goes to the audit line or the log.

A caller (a Lambda invoker, an API Gateway client, `fle decrypt`'s table) gets one of these short codes
and nothing more: no file path, token label, parameter name, suite policy or AWS message, which would
tell an attacker how the keys are kept. The detail is written where the operator looks: the value's
audit line (`detail`) for a value, the `fle.decryptor` log for a whole request.

| code | HTTP (API Gateway) | meaning |
| --- | --- | --- |
| not_a_message | 200, per value | the value is not a base64 string |
| policy_refused | 200, per value | the header breaks the policy (size, suite, number of data keys) |
| key_unknown | 200, per value | the keystore holds no key the message names |
| key_unavailable | 200, per value | the key's backend cannot be opened or reached (HSM, Parameter Store) |
| decrypt_failed | 200, per value | anything else: corrupt, tampered, wrong key (one opaque reason) |
| not_found | 200, per item | no stored item with this id |
| no_field | 200, per item (match) | the stored item has no such field |
| not_normalized | 200, per value (match) | the index's normalizer refuses the value (or it is not UTF-8) |
| not_indexed | 400 | match: the config (FLE_CONFIG) has no index on that field |
| bad_event | 400 | the event (or API Gateway body) is not one the decryptor answers |
| method_not_allowed | 405 | API Gateway: not a POST |
| config_error | 500 | the decryptor's settings, the keystore file or the store URL are unusable |
| store_unavailable | 503 | the store cannot be read |
"""

from __future__ import annotations

import enum


class Reason(enum.StrEnum):
    """A reason code; its value is what the caller sees."""

    NOT_A_MESSAGE = "not_a_message"
    POLICY_REFUSED = "policy_refused"
    KEY_UNKNOWN = "key_unknown"
    KEY_UNAVAILABLE = "key_unavailable"
    DECRYPT_FAILED = "decrypt_failed"
    NOT_FOUND = "not_found"
    NO_FIELD = "no_field"
    NOT_NORMALIZED = "not_normalized"
    NOT_INDEXED = "not_indexed"
    BAD_EVENT = "bad_event"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFIG_ERROR = "config_error"
    STORE_UNAVAILABLE = "store_unavailable"
