"""The travel demo shows the two faces of the site, and its booking form converts."""

from __future__ import annotations

from starlette.testclient import TestClient

from daypart.middleware.tools.demo.app import build_demo
from daypart.rules import EXAMPLES_DIR
from tests.middleware.conftest import IPHONE, LAPTOP, TUESDAY_1730, TUESDAY_2100, Clock

TRAVEL = str(EXAMPLES_DIR / "travel.yaml")


def test_phone_on_the_train_sees_inspiration() -> None:
    with TestClient(build_demo(TRAVEL, "memory://", clock=Clock(TUESDAY_1730))) as client:
        page = client.get("/destinations/kyoto", headers={"User-Agent": IPHONE})
    assert page.status_code == 200
    assert "Dream of Kyoto" in page.text
    assert "Share with family" in page.text
    assert "Book now" not in page.text


def test_laptop_in_the_evening_sees_booking_and_can_book() -> None:
    app = build_demo(TRAVEL, "memory://", clock=Clock(TUESDAY_2100))
    with TestClient(app) as client:
        page = client.get("/destinations/kyoto", headers={"User-Agent": LAPTOP})
        booked = client.post(
            "/booking/confirm",
            content=b"trip=kyoto&price=1290&travellers=2",
            headers={"User-Agent": LAPTOP, "Content-Type": "application/x-www-form-urlencoded"},
        )
    assert "Book Kyoto" in page.text
    assert "Chat with us" in page.text
    assert booked.status_code == 200
    assert booked.headers["x-order-value"] == "2580"
