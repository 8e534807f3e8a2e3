"""Everything one `python -m benchmarks` run measured, in one object (read by the report and the JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .decrypt_scaling import DecryptScaling
from .encoder import EncoderResult
from .headline import Comparison, HalfPeak
from .load import LongRun, Point, Upload
from .lone import LoneRequest


@dataclass
class Results:
    command: str
    started: str
    seconds_per_point: float
    repeats: int
    note: str
    load_before: str = ""
    load_after: str = ""
    finished: str = ""
    encoder: list[EncoderResult] = field(default_factory=list)
    headline: Comparison | None = None  # issue 17's side-by-side table, --workers 1 everywhere
    half_peak: HalfPeak | None = None
    lone: LoneRequest | None = None  # issue 27: a request arriving alone, FLE and pass-through
    matrix: dict[str, dict[int, Point]] = field(default_factory=dict)  # throughput versus concurrency
    workers: Comparison | None = None  # names "1" and "2": --workers 1 and 2
    decrypt: DecryptScaling | None = None
    decrypt_note: str = ""  # why the decryptor was not measured in this run, when it was not
    upload: Upload | None = None
    long_run: LongRun | None = None
    versions: dict[str, str] = field(default_factory=dict)
