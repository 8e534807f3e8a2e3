"""Real origin servers for the differential harness (tests/security/test_security_harness.py), one file
per family.

Every server listens on a free 127.0.0.1 port, prints `LISTENING <port>` on stdout, and answers any POST
with the canonical JSON of what its framework parsed from the body (see `common.py`), or a 4xx/5xx with
the framework's error when it refuses the body.
"""
