"""The demo on the travel example, for browser tests served by uvicorn (``uvicorn
tests.middleware.demo_site:app``): the memory store, and the clock fixed at a Tuesday
21:00 in Amsterdam, when a laptop is shown the booking variant with its chat bar."""

from __future__ import annotations

from daypart.middleware.tools.demo.app import build_demo
from daypart.rules import EXAMPLES_DIR
from tests.middleware.conftest import TUESDAY_2100

app = build_demo(
    str(EXAMPLES_DIR / "travel.yaml"),
    "memory://",
    clock=lambda: TUESDAY_2100,
    evaluate_interval=None,
)
