"""Load test of the demo site through the middleware.

    daypart demo --port 8000 &      # or DAYPART_STORE=redis://... daypart demo
    locust -f loadtests/locustfile.py --headless -u 50 -r 10 -t 60s --host http://127.0.0.1:8000

Visitors are phones and laptops in a few time zones; some browse, some book (the
``booked`` goal, counted from the response) and some share (the beacon).
"""

from __future__ import annotations

import random

from locust import HttpUser, between, task

AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1",
]
ZONES = ["Europe/Amsterdam", "Europe/London", "America/New_York", "Asia/Tokyo"]


class Visitor(HttpUser):
    wait_time = between(0.05, 0.3)

    def on_start(self) -> None:
        self.client.headers["User-Agent"] = random.choice(AGENTS)
        self.client.cookies.set("tz", random.choice(ZONES))

    @task(10)
    def browse(self) -> None:
        self.client.get(
            random.choice(
                ["/", "/destinations/lisbon", "/destinations/kyoto", "/destinations/reykjavik"]
            ),
            name="page",
        )

    @task(2)
    def book(self) -> None:
        self.client.post(
            "/booking/confirm",
            data={"trip": "lisbon", "price": "640", "travellers": str(random.randint(1, 4))},
            name="book",
        )

    @task(1)
    def share(self) -> None:
        self.client.post("/_daypart/convert", json={"goal": "shared"}, name="beacon")
