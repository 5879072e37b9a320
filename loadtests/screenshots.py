"""``make screenshots``: the board and an experiment page as a person sees them, on a desktop
and on a phone, for the analysts' docs.

The travel demo runs in-process on a movable clock and the memory store; ten days of
evening visitors (laptops through the call-centre channel, the experiment's first stage)
arrive, book at known rates (control 4%, offer 5.2%), and the evaluator runs every night.
Then the same app is served by uvicorn, and Debian's Chromium (driven by Selenium through
Debian's chromedriver) logs in and takes the screenshots into ``docs/images/`` (or
``--out``). The visitors' arms come from their random ids, so the figures differ a
little from run to run; the booking decisions are seeded.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn

from daypart.middleware import AdaptiveMiddleware
from daypart.middleware.tools.demo.app import build_demo
from daypart.rules import EXAMPLES_DIR
from loadtests.harness import ASGIApp, Collector, http_scope
from loadtests.harness import _receive as receive

TOKEN = "screenshots-token-0123456789"
LAPTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
START = datetime(2026, 11, 9, 19, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))  # a Monday
RATES = {"control": 0.040, "offer": 0.052}
OUT = Path(__file__).resolve().parents[1] / "docs" / "images"


def _body(text: str) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": text.encode(), "more_body": False}

    return receive


class MovableClock:
    def __init__(self, epoch: float) -> None:
        self.epoch = epoch

    def __call__(self) -> float:
        return self.epoch


async def seed(app: AdaptiveMiddleware, clock: MovableClock, days: int, per_day: int) -> None:
    rng = random.Random(7)
    asgi: ASGIApp = app  # called with the harness's own receive and send
    await app.background.evaluate()  # the experiment starts now
    for day in range(days):
        evening = START.timestamp() + day * 86400
        for i in range(per_day):
            clock.epoch = evening + i * (4 * 3600 / per_day)  # 19:00 to 23:00
            headers = [(b"user-agent", LAPTOP.encode()), (b"x-channel", b"callcenter")]
            page = http_scope("/destinations/kyoto", headers=headers)
            answer = Collector()
            await asgi(page, receive, answer)  # this scope: it carries the decision back
            cookie = next((v for k, v in answer.headers if k == b"set-cookie"), None)
            decision = page.get("state", {}).get("daypart")
            arm = getattr(decision, "arm", None)
            if cookie is None or arm is None or rng.random() >= RATES[arm]:
                continue
            form = [(b"content-type", b"application/x-www-form-urlencoded")]
            book = http_scope(
                "/booking/confirm",
                method="POST",
                headers=[*headers, *form, (b"cookie", cookie.split(b";")[0])],
            )
            travellers = 1 + rng.randrange(4)
            await asgi(book, _body(f"trip=kyoto&price=1290&travellers={travellers}"), Collector())
        await app.runtime.recorder.flush()
        clock.epoch = evening + 5 * 3600  # midnight: the nightly look
        await app.background.evaluate()
    clock.epoch = START.timestamp() + (days - 1) * 86400 + 3 * 3600  # the last evening, 22:00


def serve(app: AdaptiveMiddleware, port: int) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    return server


def shoot(base: str, out: Path) -> list[Path]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1280,1000", "--hide-scrollbars"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(
        service=Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver"),
        options=options,
    )
    taken = []
    try:
        driver.get(f"{base}/_daypart/login")
        driver.find_element(By.NAME, "name").send_keys("Ana Lyst")
        driver.find_element(By.NAME, "password").send_keys(TOKEN)
        driver.find_element(By.CSS_SELECTOR, "button.primary").click()
        time.sleep(0.5)
        for name, url in (
            ("board", f"{base}/_daypart/"),
            ("experiment", f"{base}/_daypart/experiments/evening-offer"),
        ):
            for device, metrics in (
                ("desktop", None),
                ("phone", {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}),
            ):
                if metrics is None:
                    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
                else:
                    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
                driver.get(url)
                height = driver.execute_script("return document.body.scrollHeight")
                width = 1280 if metrics is None else 390
                tall = min(max(int(height) + 40, 600), 4000)
                driver.set_window_size(width, tall)
                if metrics is not None:  # the whole page, as a phone would scroll through it
                    driver.execute_cdp_cmd(
                        "Emulation.setDeviceMetricsOverride", {**metrics, "height": tall}
                    )
                path = out / f"{name}-{device}.png"
                driver.save_screenshot(str(path))
                taken.append(path)
    finally:
        driver.quit()
    return taken


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--per-day", type=int, default=300)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        print("needs Debian's chromium and chromium-driver (apt-get install ...)", file=sys.stderr)
        return 1
    clock = MovableClock(START.timestamp())
    app = build_demo(
        str(EXAMPLES_DIR / "travel.yaml"),
        "memory://",
        clock=clock,
        admin_token=TOKEN,
        evaluate_interval=None,
        reload_interval=0,
    )
    asyncio.run(seed(app, clock, args.days, args.per_day))
    args.out.mkdir(parents=True, exist_ok=True)
    server = serve(app, args.port)
    try:
        for path in shoot(f"http://127.0.0.1:{args.port}", args.out):
            print(path)
    finally:
        server.should_exit = True
    return 0


if __name__ == "__main__":
    sys.exit(main())
