"""Benchmarks: proxy load tests with wrk, the message encoder against its limits, memory.

Run everything with `python -m benchmarks`; all on 127.0.0.1, bounded; results: `docs/benchmarks-proxy.md`.
"""
