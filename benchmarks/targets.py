"""The verdict table: every target of issue 17 (and the checks of issue 7 that still hold), goal, measured
figure and met/missed, computed from the run's results so that no verdict is written by hand.

Ratios are medians of per-round ratios (contender and reference measured seconds apart in each round);
the range over the rounds is shown next to them so a reader sees how firm a verdict is.
"""

from __future__ import annotations

from dataclasses import dataclass

from .results import Results
from .rounds import Stat, cores, ratio_per_round

# Issue 17, "Targets" (ratios side by side in one run, --workers 1 for every contender)
FLE_VS_REFERENCE = 0.65
FLE_VS_REFERENCE_STRETCH = 0.9
PASSTHROUGH_VS_REFERENCE = 0.95
ADDED_P99_MS = 1.0
DECRYPT_SCALING = 1.6
# Issue 7's checks that still stand (its proxy ratios are replaced by issue 17's above)
ENCODER_VS_SDK = 5.0
UPLOAD_RSS_MIB = 64.0  # "constant memory": a 1 GiB body must not move RSS by more than this
LONG_RUN_RSS_MIB = 16.0


@dataclass(frozen=True, slots=True)
class Verdict:
    issue: int
    target: str
    goal: str
    measured: str
    verdict: str  # "met", "**missed**", "reported", "not measured"

    def row(self) -> list[str]:
        return [str(self.issue), self.target, self.goal, self.measured, self.verdict]


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _ratio_text(s: Stat) -> str:
    return f"{s.median:.2f} (rounds {s.low:.2f}-{s.high:.2f})"


def _at_least(issue: int, target: str, goal: float, s: Stat, errors: int = 0) -> Verdict:
    measured = _ratio_text(s) + (f"; {errors} errors" if errors else "")
    return Verdict(issue, target, f">= {goal:g}", measured, _met(s.median >= goal and not errors))


def headline_verdicts(r: Results) -> list[Verdict]:
    h = r.headline
    if h is None or not {"fle", "passthrough", "reference"} <= h.samples.keys():
        return []
    fle, passthrough, reference = h.samples["fle"], h.samples["passthrough"], h.samples["reference"]
    errors = sum(s.errors for name in ("fle", "passthrough", "reference") for s in h.samples[name])
    fle_rps = ratio_per_round(fle, reference, "rps")
    fle_cpu = ratio_per_round(fle, reference, "proxy_us", invert=True)
    pass_rps = ratio_per_round(passthrough, reference, "rps")
    pass_cpu = ratio_per_round(passthrough, reference, "proxy_us", invert=True)
    out = [
        _at_least(
            17,
            f"FLE (1 of 3 fields encrypted) vs reference proxy, peak rps ({h.connections} connections)",
            FLE_VS_REFERENCE,
            fle_rps,
            errors,
        ),
        _at_least(
            17, "same, CPU basis: reference CPU / FLE CPU per request", FLE_VS_REFERENCE, fle_cpu, errors
        ),
        _at_least(17, "stretch: FLE vs reference, CPU basis", FLE_VS_REFERENCE_STRETCH, fle_cpu, errors),
        _at_least(
            17, "own pass-through vs reference proxy, peak rps", PASSTHROUGH_VS_REFERENCE, pass_rps, errors
        ),
        _at_least(
            17,
            "same, CPU basis: reference CPU / pass-through CPU",
            PASSTHROUGH_VS_REFERENCE,
            pass_cpu,
            errors,
        ),
    ]
    out.append(_uvloop_verdict(r))
    return out


def _uvloop_verdict(r: Results) -> Verdict:
    target, goal = "uvloop: supported, gain measured (uvloop / asyncio, same rounds)", "measured"
    h = r.headline
    if h is None or not {"fle_uvloop", "fle"} <= h.samples.keys():
        return Verdict(
            17, target, goal, "not in this run (uvloop not installed, or --no-uvloop)", "not measured"
        )
    uv, aio = h.samples["fle_uvloop"], h.samples["fle"]
    rps = ratio_per_round(uv, aio, "rps")
    cpu = ratio_per_round(uv, aio, "proxy_us")
    errors = sum(s.errors for name in ("fle_uvloop", "passthrough_uvloop") for s in h.samples.get(name, []))
    measured = f"FLE: rps x{rps.median:.2f} ({rps.low:.2f}-{rps.high:.2f}), CPU per request x{cpu.median:.2f}"
    if {"passthrough_uvloop", "passthrough"} <= h.samples.keys():
        p_uv, p_aio = h.samples["passthrough_uvloop"], h.samples["passthrough"]
        p_rps, p_cpu = ratio_per_round(p_uv, p_aio, "rps"), ratio_per_round(p_uv, p_aio, "proxy_us")
        measured += f"; pass-through: rps x{p_rps.median:.2f}, CPU per request x{p_cpu.median:.2f}"
    return Verdict(17, target, goal, measured + (f"; {errors} errors" if errors else ""), _met(not errors))


def half_peak_verdict(r: Results) -> list[Verdict]:
    hp = r.half_peak
    if hp is None:
        return []
    added = hp.added_p99()
    measured = f"{added.median:.2f} ms (rounds {added.low:.2f} to {added.high:.2f})"
    if hp.encrypt_step is not None and hp.encrypt_step.count:
        measured += f"; the encryption step's own p99 {hp.encrypt_step.quantile_ms(0.99):.2f} ms"
    target = f"p99 added by encryption at half of FLE peak ({hp.target_rps:,.0f} rps offered)"
    return [Verdict(17, target, f"<= {ADDED_P99_MS:g} ms", measured, _met(added.median <= ADDED_P99_MS))]


def workers_verdict(r: Results) -> list[Verdict]:
    w = r.workers
    if w is None or not {"1", "2"} <= w.samples.keys():
        return []
    scaling = ratio_per_round(w.samples["2"], w.samples["1"], "rps")
    two = w.samples["2"]
    wrk_share = Stat.of([s.share(s.wrk_cpu_s) for s in two]).median
    origin_share = Stat.of([s.share(s.origin_cpu_s) for s in two]).median
    other_share = Stat.of([s.share(s.other_cpu_s) for s in two]).median
    measured = (
        f"x{scaling.median:.2f} rps ({scaling.low:.2f}-{scaling.high:.2f}); of the {cores()} cores wrk took "
        f"{wrk_share:.0%}, the origin {origin_share:.0%}, other processes {other_share:.0%}"
    )
    return [
        Verdict(
            17,
            "`--workers 2` vs `--workers 1`, load generator's CPU accounted",
            "reported",
            measured,
            "reported",
        )
    ]


def decrypt_verdicts(r: Results) -> list[Verdict]:
    goal = f">= {DECRYPT_SCALING:g}x"
    if r.decrypt is None:
        why = r.decrypt_note or "not run (--only without decrypt)"
        return [Verdict(17, "decryptor, 2 processes vs one core (file, SoftHSM)", goal, why, "not measured")]
    out = []
    for backend, label in (("file", "file backend"), ("pkcs11", "SoftHSM, 2 sessions")):
        s = r.decrypt.scaling.get(backend, {})
        ratio = s.get("ratio_2_to_1core", float("nan"))
        measured = (
            f"{ratio:.2f}x ({s.get('items_per_s@2', 0):,.0f} vs {s.get('items_per_s@1core', 0):,.0f} items/s)"
        )
        out.append(
            Verdict(
                17,
                f"decryptor, 2 processes vs one core, {label}",
                goal,
                measured,
                _met(ratio >= DECRYPT_SCALING),
            )
        )
    return out


def other_verdicts(r: Results) -> list[Verdict]:
    out = []
    small = [e for e in r.encoder if e.primitives_us is not None]
    if small:
        e = small[0]
        out.append(
            Verdict(
                7,
                f"encoder vs aws-encryption-sdk ({e.size} B field)",
                f">= {ENCODER_VS_SDK:g}x",
                f"{e.speedup_vs_sdk:.2f}x",
                _met(e.speedup_vs_sdk >= ENCODER_VS_SDK),
            )
        )
    if r.upload is not None:
        u = r.upload
        growth = u.rss_peak_mib - u.rss_before_mib
        out.append(
            Verdict(
                7,
                f"RSS streaming {u.size / 2**20:,.0f} MiB (no profile applies)",
                "constant",
                f"{growth:+.1f} MiB peak",
                _met(growth < UPLOAD_RSS_MIB),
            )
        )
    if r.long_run is not None:
        lr = r.long_run
        growth = lr.rss_end_mib - lr.rss_start_mib
        out.append(
            Verdict(
                7,
                f"RSS over {lr.requests:,} FLE requests (after the first tenth)",
                "no growth",
                f"{growth:+.1f} MiB",
                _met(growth < LONG_RUN_RSS_MIB),
            )
        )
    return out


def verdicts(r: Results) -> list[Verdict]:
    return [
        *headline_verdicts(r),
        *half_peak_verdict(r),
        *workers_verdict(r),
        *decrypt_verdicts(r),
        *other_verdicts(r),
    ]
