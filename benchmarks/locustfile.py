"""A load-test scenario for users: browsers submitting the sample form through the edge proxy.

Each simulated user posts the 3-field form (its phone field is the one the example profile encrypts) at
a fixed rate, so the total target rate is users x FLE_USER_RPS. See docs/load-testing.md. Example:

    FLE_USER_RPS=2 locust -f benchmarks/locustfile.py --host http://127.0.0.1:8080 \\
        --headless --users 100 --spawn-rate 20 --run-time 2m      # about 200 forms per second

Settings (environment): FLE_USER_RPS (requests per second per user, default 1), FLE_FORM_PATH (default
/submit), FLE_FORM_FIELDS (an urlencoded body to send instead of the sample form).
"""

from __future__ import annotations

import os
import random

from locust import constant_throughput, task
from locust.contrib.fasthttp import FastHttpUser

PATH = os.environ.get("FLE_FORM_PATH", "/submit")
USER_RPS = float(os.environ.get("FLE_USER_RPS", "1"))
FIXED_BODY = os.environ.get("FLE_FORM_FIELDS")


def sample_form() -> str:
    """A plausible submission: different values every time, as real traffic would have."""
    n = random.randrange(10_000)
    return f"name=Jane+Doe+{n}&email=jane{n}%40example.com&phone=404-555-{n:04d}"


class FormSubmitter(FastHttpUser):
    wait_time = constant_throughput(USER_RPS)

    @task
    def submit(self) -> None:
        body = FIXED_BODY or sample_form()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        with self.client.post(PATH, data=body, headers=headers, name=PATH, catch_response=True) as response:
            if response.status_code >= 400:
                response.failure(f"HTTP {response.status_code}")
