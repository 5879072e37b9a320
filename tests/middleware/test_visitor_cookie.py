from __future__ import annotations

import base64
import hmac
import os
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daypart.experiments.policy import Mark, experiment_code
from daypart.middleware.visitor import (
    MAX_COOKIE_CHARS,
    MAX_MARKS,
    CookieSigner,
    VisitorCookie,
    _keyed,
    _signature,
    new_visitor_id,
)

SIGNER = CookieSigner("a-test-secret-of-enough-length")


def test_round_trip_with_marks() -> None:
    cookie = VisitorCookie(new_visitor_id()).with_mark(
        Mark(experiment_code("evening-offer", "s1"), "offer", "desktop", "evening")
    )
    assert SIGNER.load(SIGNER.dump(cookie)) == cookie


def test_a_mark_carries_its_channel_and_one_without_is_written_as_before() -> None:
    code = experiment_code("evening-offer", "s1")
    with_channel = Mark(code, "offer", "desktop", "evening", "newsletter")
    cookie = VisitorCookie(new_visitor_id()).with_mark(with_channel)
    value = SIGNER.dump(cookie)
    assert f".{code}:offer:d:evening:newsletter." in value
    assert SIGNER.load(value) == cookie
    # Rules without channels: the mark reads exactly as in cookies set before channels.
    without = VisitorCookie(cookie.visitor_id).with_mark(Mark(code, "offer", "desktop", "evening"))
    assert f".{code}:offer:d:evening." in SIGNER.dump(without)


def test_a_cookie_set_before_channels_still_reads_with_no_channel() -> None:
    # A value as daypart wrote it before channels existed: two marks of four parts each.
    code, other = experiment_code("evening-offer", "s1"), experiment_code("commute", "")
    payload = f"1.AAAAAAAAAAAAAAAA.{code}:offer:d:evening/{other}:video:m:train_home"
    signature = _signature(_keyed(b"a-test-secret-of-enough-length"), payload.encode())
    value = f"{payload}.{signature.decode()}"
    cookie = SIGNER.load(value)
    assert cookie is not None
    assert cookie.marks == (
        Mark(code, "offer", "desktop", "evening", ""),
        Mark(other, "video", "mobile", "train_home", ""),
    )
    # A mark gaining a channel later keeps the older marks as they were.
    newer = cookie.with_mark(Mark(experiment_code("e", ""), "a", "tablet", "other", "ads"))
    assert SIGNER.load(SIGNER.dump(newer)) == newer


def test_marks_are_bounded_oldest_first() -> None:
    cookie = VisitorCookie(new_visitor_id())
    for i in range(MAX_MARKS + 3):
        cookie = cookie.with_mark(Mark(experiment_code(f"e{i}", ""), "a", "mobile", "other"))
    assert len(cookie.marks) == MAX_MARKS
    assert cookie.mark_for(experiment_code("e0", "")) is None
    assert SIGNER.load(SIGNER.dump(cookie)) == cookie


def test_a_new_salt_is_a_new_experiment() -> None:
    assert experiment_code("x", "a") != experiment_code("x", "b")


def test_tampering_is_a_new_visitor() -> None:
    value = SIGNER.dump(VisitorCookie(new_visitor_id()))
    payload, _, signature = value.rpartition(".")
    forged = payload.replace(payload.split(".")[1], "A" * 16) + "." + signature
    assert SIGNER.load(forged) is None
    assert CookieSigner("another-secret-of-enough-length").load(value) is None


@given(st.text(max_size=300))
def test_garbage_never_raises(value: str) -> None:
    assert SIGNER.load(value) is None or isinstance(SIGNER.load(value), VisitorCookie)


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        CookieSigner("short")


def test_the_signature_is_hmac_sha256_so_cookies_already_set_keep_verifying() -> None:
    secret = b"a-test-secret-of-enough-length"
    value = CookieSigner(secret).dump(VisitorCookie("o9WP46RwdwyiQQsv"))
    payload, _, signature = value.rpartition(".")
    expected = hmac.digest(secret, payload.encode(), "sha256")[:16]
    assert signature == base64.urlsafe_b64encode(expected).rstrip(b"=").decode()
    long_secret = b"k" * 100  # longer than SHA-256's block: HMAC hashes the key first
    value = CookieSigner(long_secret).dump(VisitorCookie("o9WP46RwdwyiQQsv"))
    payload, _, signature = value.rpartition(".")
    expected = hmac.digest(long_secret, payload.encode(), "sha256")[:16]
    assert signature == base64.urlsafe_b64encode(expected).rstrip(b"=").decode()


def test_visitor_ids_are_distinct_well_formed_and_never_shared_with_a_forked_worker() -> None:
    ids = [new_visitor_id() for _ in range(2000)]  # several draws of the id pool
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{16}", visitor_id) for visitor_id in ids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a worker forked by a process manager after start-up
        os.write(write, new_visitor_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    childs_first = os.read(read, 16).decode()
    os.close(read)
    os.close(write)
    # Without the pool emptying itself at fork, the child would hand out the parent's next.
    assert childs_first != new_visitor_id()


def test_a_cookie_always_fits_what_load_accepts_keeping_the_newest_marks() -> None:
    long = "a" + "b" * 63  # the longest names the rules allow
    cookie = VisitorCookie(new_visitor_id())
    for i in range(MAX_MARKS):
        mark = Mark(experiment_code(f"e{i}", ""), long, "desktop", long, "c" + "d" * 31)
        cookie = cookie.with_mark(mark)
    value = SIGNER.dump(cookie)
    assert len(value) <= MAX_COOKIE_CHARS
    loaded = SIGNER.load(value)
    assert loaded is not None  # not a new visitor
    assert loaded.visitor_id == cookie.visitor_id
    assert 0 < len(loaded.marks) < MAX_MARKS
    assert loaded.marks == cookie.marks[-len(loaded.marks) :]  # the oldest went first
