"""The ``daypart`` command as a marketer uses it: check and explain, with exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daypart.middleware.tools.cli import main
from daypart.rules import EXAMPLES_DIR
from tests.middleware.conftest import IPHONE, LAPTOP

TRAVEL = str(EXAMPLES_DIR / "travel.yaml")
BROKEN = Path(__file__).resolve().parents[1] / "rules" / "broken"


def test_check_a_clean_file_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", TRAVEL]) == 0
    assert "ok" in capsys.readouterr().err


def test_check_a_broken_file_prints_file_line_col_and_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = BROKEN / "12-bad-device.yaml"
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    expected = (BROKEN / "12-bad-device.expected").read_text().strip()
    assert out.strip().endswith(expected.split(":", 1)[1])
    assert f"{path}:7:20: unknown device 'mobil'" in out


def test_check_prints_lint_warnings_and_still_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "no-catch-all.yaml"
    path.write_text(
        "version: 1\nvariants:\n  m: {rewrite: '/m{path}'}\n"
        "rules:\n  - name: phones\n    when: {device: mobile}\n    serve: m\n"
    )
    assert main(["check", str(path)]) == 0
    assert "warning:" in capsys.readouterr().out


@pytest.mark.parametrize("content", [b"", b"\x00\xff\xfe binary", b"version: 1\nrules: [\n"])
def test_check_never_tracebacks_on_garbage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    assert main(["check", str(path)]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert f"{path}:" in captured.out


def test_check_a_missing_file_is_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(tmp_path / "nope.yaml")]) == 1
    assert "nope.yaml" in capsys.readouterr().out + capsys.readouterr().err


def test_explain_phone_on_the_train_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["explain", TRAVEL, "--ua", IPHONE, "--at", "2026-11-24T17:30", "--path", "/", "--json"]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["device"] == "mobile"
    assert result["local_time"].startswith("2026-11-24T17:30")
    assert result["dayparts"] == ["train_home"]
    assert result["rule"] == "commuters-get-inspiration"
    assert result["variant"] == "inspiration"
    skipped = [v for v in result["rules_checked"] if not v["matched"]]
    assert [v["rule"] for v in skipped] == [
        "newsletter-readers-book",
        "social-visitors-get-inspiration",
        "members-book",
    ]
    assert all(v["reason"] for v in skipped)


def test_explain_laptop_in_the_evening_text(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["explain", TRAVEL, "--ua", LAPTOP, "--at", "2026-11-24T21:00"])
    assert code == 0
    out = capsys.readouterr().out
    assert "device:     desktop" in out
    assert "evening" in out
    assert "rule:       evening-planners-book" in out
    assert "experiment: evening-offer" in out
    assert "✘ commuters-get-inspiration" in out


def test_explain_honours_headers_and_aware_times(capsys: pytest.CaptureFixture[str]) -> None:
    # 18:00 UTC is 19:00 in Amsterdam but 03:00 in Tokyo: the CF-Timezone header decides.
    code = main(
        [
            "explain",
            TRAVEL,
            "--ua",
            IPHONE,
            "--at",
            "2026-11-24T18:00+00:00",
            "--header",
            "CF-Timezone: Asia/Tokyo",
            "--json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["timezone"] == "Asia/Tokyo"
    assert result["local_time"].startswith("2026-11-25T03:00")
    assert result["dayparts"] == ["night"]
    assert result["rule"] == "night-owls-dream"


def test_explain_names_the_channel_from_the_query_or_a_header(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["explain", TRAVEL, "--ua", LAPTOP, "--at", "2026-11-24T21:00"]
    assert main([*argv, "--path", "/?utm_source=Instagram"]) == 0
    assert "channel:    instagram" in capsys.readouterr().out
    assert main([*argv, "--header", "X-Channel: callcenter", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["channel"] == "callcenter"
    assert main([*argv, "--path", "/?utm_source=tiktok", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["channel"] == "other"
    assert main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["channel"] == "direct"
    minimal = str(EXAMPLES_DIR / "minimal.yaml")  # no channels: no channel line
    assert main(["explain", minimal, "--ua", LAPTOP, "--at", "2026-11-24T21:00"]) == 0
    assert "channel" not in capsys.readouterr().out


def test_explain_rejects_a_bad_time(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", TRAVEL, "--ua", IPHONE, "--at", "half past five"]) == 2
    assert "expected an ISO time" in capsys.readouterr().err


def test_explain_shows_a_given_visitors_arm_deterministically(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the call centre's channel is stage 0 of evening-offer: its visitors are enrolled
    argv = ["explain", TRAVEL, "--ua", LAPTOP, "--at", "2026-11-24T21:00"]
    argv += ["--header", "X-Channel: callcenter", "--json"]
    seen: dict[str, set[str | None]] = {}
    for visitor in ("visitor-aaaaaaaaaaaa", "visitor-bbbbbbbbbbbb", "visitor-cccccccccccc"):
        for _ in range(2):
            assert main([*argv, "--visitor", visitor]) == 0
            seen.setdefault(visitor, set()).add(json.loads(capsys.readouterr().out)["arm"])
    assert all(len(arms) == 1 and None not in arms for arms in seen.values())
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["arm"] is None  # nobody asked: not enrolled


def test_demo_rejects_a_bad_frozen_time(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--at", "teatime"]) == 2
    assert "expected an ISO time" in capsys.readouterr().err


def test_report_lists_the_rules_experiments_as_text_json_and_csv(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["report", "--store", "memory://", "--rules", TRAVEL]) == 0
    text = capsys.readouterr().out
    assert "evening-offer" in text
    assert "stage 1 of 4: audience header x-channel=callcenter" in text
    assert "stage 1 has run 0.0 h of the 24.0 h minimum" in text
    assert main(["report", "--store", "memory://", "--rules", TRAVEL, "--json"]) == 0
    reports = json.loads(capsys.readouterr().out)
    assert [r["experiment"] for r in reports] == ["evening-offer", "commute-video"]
    assert main(["report", "--store", "memory://", "--rules", TRAVEL, "--csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("experiment,goal,status,stage,light,segment")
    assert len(lines) == 1 + 4  # pooled rows: two experiments × two arms
