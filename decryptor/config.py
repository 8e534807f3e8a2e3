"""The decryptor's settings, read once from the environment (Lambda) or from `fle decrypt` flags.

| variable | meaning | default |
| --- | --- | --- |
| FLE_KEYSTORE | path of the keystore file (TOML) | required |
| FLE_STORE | store URL for `ids` / `recent` events | required for those events |
| FLE_ACCEPTED_SUITES | algorithm suites accepted, hex ids, comma-separated | 0x0178,0x0478,0x0578 |
| FLE_MAX_DATA_KEYS | most encrypted data keys per message | 1 |
| FLE_MAX_MESSAGE_BYTES | largest message accepted (decoded bytes) | 65536 |
| FLE_DECRYPT_WORKERS | threads decrypting at once (unwraps in flight) | 8 |
| FLE_DECRYPT_PROCESSES | processes for 256+ values, also fle rewrap's (1: threads) | cores (1 on Lambda) |
| FLE_AUDIT_FILE | append the audit log to this file instead of stdout | stdout |
| FLE_CONFIG | CloudFront config directory: `match` takes a field's normalizer from its Fle:Indexes | none |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from esdk_format import suite_name

from .errors import DecryptorConfigError
from .policy import DEFAULT_MAX_DATA_KEYS, DEFAULT_MAX_MESSAGE_BYTES, Policy, parse_suites

KEYSTORE_ENV = "FLE_KEYSTORE"
STORE_ENV = "FLE_STORE"
SUITES_ENV = "FLE_ACCEPTED_SUITES"
MAX_DATA_KEYS_ENV = "FLE_MAX_DATA_KEYS"
MAX_MESSAGE_ENV = "FLE_MAX_MESSAGE_BYTES"
WORKERS_ENV = "FLE_DECRYPT_WORKERS"
PROCESSES_ENV = "FLE_DECRYPT_PROCESSES"
AUDIT_FILE_ENV = "FLE_AUDIT_FILE"
CONFIG_ENV = "FLE_CONFIG"
DEFAULT_WORKERS = 8
MAX_WORKERS = 256
MAX_PROCESSES = 64
# a batch smaller than this stays on the thread pool: starting the worker processes costs about a second
# (each imports aws-encryption-sdk and opens its keystore), which a one-shot `fle decrypt --recent 50`
# would pay for ~50 ms of work; from 256 values (~0.25 s on one core) a long-lived service gains.
# Here, not in processes.py, so that `fle decrypt --help` can say it without importing the decryptor.
MIN_PROCESS_BATCH = 256
LAMBDA_ENV = "AWS_LAMBDA_FUNCTION_NAME"


def _int(value: str, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise DecryptorConfigError(f"{name} must be an integer, not {value!r}") from None
    if not low <= number <= high:
        raise DecryptorConfigError(f"{name} must be from {low} to {high}, not {number}")
    return number


def default_processes(env: Mapping[str, str]) -> int:
    """The cores this process may run on; 1 on AWS Lambda, where the pool's semaphores cannot be made
    (processes.py)."""
    if env.get(LAMBDA_ENV):
        return 1
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def processes_setting(env: Mapping[str, str]) -> int:
    """FLE_DECRYPT_PROCESSES, else the cores this process may use (1 on AWS Lambda), at most MAX_PROCESSES;
    DecryptorConfigError names the variable. `fle decrypt` and `fle rewrap` share it."""
    default = min(default_processes(env), MAX_PROCESSES)
    return _int(env.get(PROCESSES_ENV) or str(default), PROCESSES_ENV, 1, MAX_PROCESSES)


@dataclass(frozen=True, slots=True)
class DecryptorConfig:
    """Everything the decrypt service needs to start; hashable, so a Lambda container can reuse it."""

    keystore_path: str | None = None
    store_url: str | None = None
    policy: Policy = field(default_factory=Policy)
    workers: int = DEFAULT_WORKERS  # threads decrypting at once
    processes: int = 1  # worker processes for a large batch (processes.py); 1: threads only
    audit_file: str | None = None  # None: stdout
    config_dir: str | None = None  # FLE_CONFIG: match's normalizers come from its Fle:Indexes

    def __post_init__(self) -> None:
        if not 1 <= self.workers <= MAX_WORKERS:
            raise DecryptorConfigError(f"decrypt workers must be from 1 to {MAX_WORKERS}, not {self.workers}")
        if not 1 <= self.processes <= MAX_PROCESSES:
            raise DecryptorConfigError(
                f"decrypt processes must be from 1 to {MAX_PROCESSES}, not {self.processes}"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DecryptorConfig:
        """The settings in `env` (os.environ in Lambda); DecryptorConfigError names the bad variable."""
        default_suites = ",".join(suite_name(s) for s in sorted(Policy().suites))
        try:
            suites = parse_suites(env.get(SUITES_ENV) or default_suites)
        except DecryptorConfigError as e:
            raise DecryptorConfigError(f"{SUITES_ENV}: {e}") from None
        policy = Policy(
            suites=suites,
            max_data_keys=_int(
                env.get(MAX_DATA_KEYS_ENV) or str(DEFAULT_MAX_DATA_KEYS), MAX_DATA_KEYS_ENV, 1, 64
            ),
            max_message_bytes=_int(
                env.get(MAX_MESSAGE_ENV) or str(DEFAULT_MAX_MESSAGE_BYTES), MAX_MESSAGE_ENV, 64, 1 << 30
            ),
        )
        return cls(
            keystore_path=env.get(KEYSTORE_ENV) or None,
            store_url=env.get(STORE_ENV) or None,
            policy=policy,
            workers=_int(env.get(WORKERS_ENV) or str(DEFAULT_WORKERS), WORKERS_ENV, 1, MAX_WORKERS),
            processes=processes_setting(env),
            audit_file=env.get(AUDIT_FILE_ENV) or None,
            config_dir=env.get(CONFIG_ENV) or None,
        )
