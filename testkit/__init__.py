"""Test kit shared by tests/ and benchmarks/: CloudFront config builders, the differential corpus, an app
served on loopback, a dynalite process. It imports product packages only, never tests/ or benchmarks/, so
the one import direction is tests -> benchmarks -> testkit (and tests -> testkit). Not shipped: pyproject's
package list leaves it out."""
