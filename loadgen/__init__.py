"""A small load generator: POST one body to a URL at a set concurrency or rate, with live progress.

The engine behind `fle bench` (fle/cmd_bench.py is the thin command that parses its flags and prints the
summary). It imports nothing of ours: it measures any URL that takes a POST, the proxy's or another's.
With a rate, requests are scheduled at fixed times and latency is measured from the scheduled time, so a
stalled server shows up in the percentiles instead of silently lowering the rate.
"""

from .report import Summary, Tally, percentile, summarise
from .run import LoadError, Plan, load, preflight

__all__ = ["LoadError", "Plan", "Summary", "Tally", "load", "percentile", "preflight", "summarise"]
