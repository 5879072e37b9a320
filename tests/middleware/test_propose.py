"""``daypart propose``: the rule changes the per-segment evidence supports, as a diff of the
rule file that ``daypart check`` accepts, with the judgement's numbers in its comments —
and the rule file itself never touched."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from daypart.experiments.segment_gates import (
    SegmentJudgement,
    judge_segments,
    percent,
    probability,
)
from daypart.experiments.store import MemoryStore, Store, store_from_url
from daypart.experiments.store.base import Conversion, Exposure, Record, Segment
from daypart.middleware.tools.cli import main
from daypart.middleware.tools.propose import NOTHING, Proposal, propose
from daypart.rules import EXAMPLES_DIR
from daypart.rules.loader import load_rules

TRAVEL = EXAMPLES_DIR / "travel.yaml"
ROOT = Path(__file__).resolve().parents[2]

Cells = Mapping[
    tuple[str, str, str], tuple[int, int]
]  # (arm, device, daypart) -> (visitors, conv.)

# The travel example's evening-offer runs in evening-planners-book: desktop and tablet in
# the evening, two segments, so a segment ships at P(beat) ≥ 0.995 (the gate's 0.99 / 2).
DESKTOP_WINS: Cells = {
    ("control", "desktop", "evening"): (4_000, 120),
    ("offer", "desktop", "evening"): (4_000, 185),
    ("control", "tablet", "evening"): (1_000, 30),
    ("offer", "tablet", "evening"): (1_000, 31),
}
TABLET_LOSES: Cells = {
    **DESKTOP_WINS,
    ("control", "tablet", "evening"): (4_000, 160),
    ("offer", "tablet", "evening"): (4_000, 80),
}
BOTH_WIN: Cells = {
    **DESKTOP_WINS,
    ("control", "tablet", "evening"): (4_000, 120),
    ("offer", "tablet", "evening"): (4_000, 185),
}
BOTH_LOSE: Cells = {
    ("control", "desktop", "evening"): (4_000, 160),
    ("offer", "desktop", "evening"): (4_000, 80),
    ("control", "tablet", "evening"): (4_000, 160),
    ("offer", "tablet", "evening"): (4_000, 90),
}


async def seed(store: Store, cells: Cells, experiment: str = "evening-offer") -> None:
    """Real exposures and conversions through the store's own ``record``."""
    records: list[Record] = []
    for (arm, device, daypart), (visitors, conversions) in cells.items():
        segment = Segment(device, daypart)
        for i in range(visitors):
            visitor = f"{arm}:{device}:{daypart}:{i}"
            records.append(Exposure(experiment, arm, segment, visitor))
            if i < conversions:
                records.append(Conversion(experiment, arm, segment, visitor, "booked", 120.0))
    for start in range(0, len(records), 5_000):
        await store.record(records[start : start + 5_000])


def proposed_for(rules: Path, cells: Cells, experiment: str = "evening-offer") -> Proposal:
    async def run() -> Proposal:
        store = MemoryStore()
        await seed(store, cells, experiment)
        return await propose(rules, store)

    return asyncio.run(run())


def judged(rules: Path, cells: Cells, experiment: str = "evening-offer") -> SegmentJudgement:
    async def run() -> SegmentJudgement:
        store = MemoryStore()
        await seed(store, cells, experiment)
        return judge_segments(
            load_rules(rules).experiments[experiment], await store.counts(experiment)
        )

    return asyncio.run(run())


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    shutil.copyfile(TRAVEL, path)
    return path


def numbers(judgement: SegmentJudgement, device: str, daypart: str, arm: str = "offer") -> str:
    """The numbers as the comment must write them, straight from the judgement."""
    segment = judgement.segment((device, daypart))
    assert segment is not None
    offer = segment.arm(arm)
    low, high = offer.uplift_interval
    label = "P(beat)" if offer.verdict == "ship" else "P(worse)"
    p = offer.prob_beat_control if label == "P(beat)" else offer.prob_worse_than_control
    return (
        f"{probability(label, p)}, uplift {percent(offer.uplift)} "
        f"(95%: {percent(low)} to {percent(high)}), "
        f"{segment.control_visitors + offer.visitors:,} visitors"
    )


def checks(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``daypart check`` accepts the file (warnings allowed)."""
    assert main(["check", str(path)]) == 0, capsys.readouterr().out
    capsys.readouterr()


def only_additions_and(diff: str, removed: set[str]) -> None:
    """Every line the diff removes is one of ``removed``: comments and formatting elsewhere
    survive."""
    gone = {
        line[1:]
        for line in diff.splitlines()
        if line.startswith("-") and not line.startswith("---")
    }
    assert gone == removed


def test_a_segment_that_wins_gets_a_rule_of_its_own_above(
    rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = rules.read_bytes()
    proposal = proposed_for(rules, DESKTOP_WINS)
    judgement = judged(rules, DESKTOP_WINS)
    assert [c.kind for c in proposal.changes] == ["serve_on_device"]
    diff = proposal.diff()
    assert (
        "+  # proposed by daypart propose: offer beats control on desktop in the evening: "
        + numbers(judgement, "desktop", "evening")
        + "\n"
    ) in diff
    assert (
        "+  - name: evening-planners-book-desktop\n"
        "+    when: {device: desktop, daypart: evening}\n"
        "+    serve: booking-offer\n"
        "   - name: evening-planners-book\n"
    ) in diff
    only_additions_and(diff, set())
    assert any(
        "the experiment goes on in rule 'evening-planners-book' for tablet × evening" in note
        for note in proposal.notes
    )
    assert rules.read_bytes() == before  # nothing rewrites the rule file
    out = tmp_path / "proposed.yaml"
    out.write_text(proposal.proposed)
    checks(out, capsys)
    new = load_rules(out)
    assert [r.name for r in new.rules].index("evening-planners-book-desktop") == [
        r.name for r in new.rules
    ].index("evening-planners-book") - 1


def test_the_rule_is_split_by_device_and_its_experiment_ends_once_every_segment_is_decided(
    rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proposal = proposed_for(rules, TABLET_LOSES)
    judgement = judged(rules, TABLET_LOSES)
    assert [c.kind for c in proposal.changes] == ["serve_on_device", "end_experiment"]
    diff = proposal.diff()
    assert f"on desktop in the evening: {numbers(judgement, 'desktop', 'evening')}" in diff
    assert f"tablet × evening: offer {numbers(judgement, 'tablet', 'evening')}" in diff
    assert "-    experiment: evening-offer\n" in diff
    assert "+    # experiment: evening-offer  (ended, see above)\n" in diff
    only_additions_and(diff, {"    experiment: evening-offer"})
    out = tmp_path / "proposed.yaml"
    out.write_text(proposal.proposed)
    checks(out, capsys)
    rule = next(r for r in load_rules(out).rules if r.name == "evening-planners-book")
    assert (rule.serve, rule.experiment) == ("booking", None)  # the control, for tablets


def test_a_treatment_that_wins_everywhere_is_served_by_the_rule_itself(
    rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proposal = proposed_for(rules, BOTH_WIN)
    judgement = judged(rules, BOTH_WIN)
    assert [c.kind for c in proposal.changes] == ["serve_everywhere"]
    diff = proposal.diff()
    assert "offer beats control in every segment this rule covers:\n" in diff
    assert f"+  #   desktop × evening: {numbers(judgement, 'desktop', 'evening')}\n" in diff
    assert f"+  #   tablet × evening: {numbers(judgement, 'tablet', 'evening')}\n" in diff
    assert "+    serve: booking-offer\n" in diff
    only_additions_and(diff, {"    serve: booking", "    experiment: evening-offer"})
    out = tmp_path / "proposed.yaml"
    out.write_text(proposal.proposed)
    checks(out, capsys)
    rule = next(r for r in load_rules(out).rules if r.name == "evening-planners-book")
    assert (rule.serve, rule.experiment) == ("booking-offer", None)


def test_a_treatment_that_loses_everywhere_changes_nothing_and_says_so(rules: Path) -> None:
    proposal = proposed_for(rules, BOTH_LOSE)
    assert proposal.changes == []
    assert proposal.proposed == proposal.original
    assert proposal.diff() == ""
    [note] = [n for n in proposal.notes if n.startswith("evening-offer:")]
    assert "every treatment loses in every segment rule 'evening-planners-book' covers" in note
    assert "on desktop in the evening: offer P(worse)" in note


def test_nothing_decided_yet_is_said_per_experiment(rules: Path) -> None:
    proposal = proposed_for(rules, dict.fromkeys(DESKTOP_WINS, (200, 6)))
    assert proposal.changes == []
    assert proposal.notes == [
        "evening-offer: nothing decided yet in rule 'evening-planners-book': 2 segment(s) with "
        "too few visitors",
        "commute-video: nothing decided yet in rule 'commuters-get-inspiration': 2 segment(s) "
        "without visitors yet",
    ]


RULE_PER_SEGMENT = """\
version: 1
dayparts:
  lunch: {from: "12:00", to: "13:30"}
  evening: {from: "19:00", to: "23:30"}
  late: {from: "22:00", to: "02:00"}   # overlaps the evening: counted there until 23:30
variants:
  booking: {}
  offer: {headers: {X-Offer: "10"}}
rules:
  # Desktops and tablets, all day: the offer is tried on them.
  - name: planners
    when: {device: [desktop, tablet], path: "/deals/**"}
    serve: booking
    experiment: deal
  - name: everyone-else
    serve: booking
experiments:
  deal:
    arms: {control: booking, treat: offer}
    goal: booked
goals:
  booked: {path: /done}
"""


def test_a_rule_without_dayparts_gets_a_rule_per_winning_segment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULE_PER_SEGMENT)
    cells: Cells = {
        ("control", "desktop", "evening"): (5_000, 150),
        ("treat", "desktop", "evening"): (5_000, 240),
        ("control", "desktop", "late"): (5_000, 150),
        ("treat", "desktop", "late"): (5_000, 240),
        ("control", "desktop", "lunch"): (5_000, 150),
        ("treat", "desktop", "lunch"): (5_000, 150),
        ("control", "tablet", "evening"): (5_000, 150),
        ("treat", "tablet", "evening"): (5_000, 150),
    }
    proposal = proposed_for(path, cells, "deal")
    assert [(c.kind, c.new_rule) for c in proposal.changes] == [
        ("serve_in_segment", "planners-desktop-evening"),
        ("serve_in_segment", "planners-desktop-late"),
    ]
    diff = proposal.diff()
    assert '+    when: {device: desktop, daypart: evening, path: "/deals/**"}\n' in diff
    assert '+    when: {device: desktop, daypart: late, path: "/deals/**"}\n' in diff
    assert (
        "(where late overlaps evening, this rule also serves visitors counted under evening)"
        in diff
    )
    # The new rules go above the comment that describes the rule they come from.
    assert diff.index("+  - name: planners-desktop-late") < diff.index(
        "   # Desktops and tablets, all day"
    )
    out = tmp_path / "proposed.yaml"
    out.write_text(proposal.proposed)
    checks(out, capsys)
    # tablet × lunch and tablet × late have no visitors: the experiment goes on.
    assert any("tablet × late" in note and "goes on" in note for note in proposal.notes)


def test_proposing_again_after_applying_adds_nothing_new(rules: Path) -> None:
    rules.write_text(proposed_for(rules, DESKTOP_WINS).proposed)
    again = proposed_for(rules, DESKTOP_WINS)
    assert again.changes == []
    assert (
        "evening-offer: on desktop in the evening is served by rule "
        "'evening-planners-book-desktop' above 'evening-planners-book' now; its counts there "
        "are history"
    ) in again.notes


def test_a_rule_the_line_edits_cannot_change_is_left_alone_with_the_change_in_words(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rules.yaml"
    text = TRAVEL.read_text().replace(
        "  - name: evening-planners-book\n"
        "    when: {device: [desktop, tablet], daypart: evening}\n"
        "    serve: booking\n"
        "    experiment: evening-offer\n",
        "  - {name: evening-planners-book, when: {device: [desktop, tablet], daypart: evening},\n"
        "     serve: booking, experiment: evening-offer}\n",
    )
    path.write_text(text)
    proposal = proposed_for(path, BOTH_WIN)
    assert proposal.changes == []
    assert proposal.proposed == text
    [note] = [n for n in proposal.notes if "cannot edit" in n]
    assert note.startswith(
        "evening-offer: cannot edit rule 'evening-planners-book' in place (rule "
        "'evening-planners-book' is written as a flow mapping {...}, whose keys the line edits "
        "cannot change); the change in words: "
        "proposed by daypart propose: offer beats control in every segment this rule covers:"
    )


def test_an_experiment_run_by_two_rules_is_not_proposed_on(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    text = TRAVEL.read_text().replace(
        "  - name: night-owls-dream\n",
        "  - name: night-bookers\n"
        "    when: {device: desktop, daypart: night}\n"
        "    serve: booking\n"
        "    experiment: evening-offer\n"
        "  - name: night-owls-dream\n",
    )
    path.write_text(text)
    proposal = proposed_for(path, BOTH_WIN)
    assert proposal.changes == []
    assert (
        "evening-offer: run by 2 rules (evening-planners-book, night-bookers), so its segments "
        "mix their visitors; propose looks only at experiments run by one rule"
    ) in proposal.notes


def test_counts_the_rule_cannot_produce_any_more_are_named_and_left_out(rules: Path) -> None:
    cells = {**DESKTOP_WINS, ("control", "mobile", "evening"): (900, 30)}
    proposal = proposed_for(rules, cells)
    assert (
        "evening-offer: counts on mobile in the evening cannot come from rule "
        "'evening-planners-book' as it is written now (did its condition change?); left out"
    ) in proposal.notes
    assert [c.kind for c in proposal.changes] == ["serve_on_device"]


def test_inconsistent_cells_are_left_out_and_named(rules: Path) -> None:
    async def run() -> Proposal:
        store = MemoryStore()
        await seed(store, DESKTOP_WINS)
        # Conversions of visitors whose exposures the store lost (a flushed Redis).
        segment = Segment("tablet", "evening")
        await store.record(
            [
                Conversion("evening-offer", "offer", segment, f"lost-{i}", "booked")
                for i in range(2_000)
            ]
        )
        return await propose(rules, store)

    proposal = asyncio.run(run())
    assert any(
        note.startswith("evening-offer: inconsistent data in offer on tablet × evening: ")
        for note in proposal.notes
    )
    assert [c.kind for c in proposal.changes] == ["serve_on_device"]  # desktop still judged


def test_the_cli_reads_redis_and_prints_the_diff_json_and_proposed_file(
    rules: Path, tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def fill() -> SegmentJudgement:
        store = store_from_url(redis_url)
        try:
            await seed(store, TABLET_LOSES)
            counts = await store.counts("evening-offer")
        finally:
            await store.close()
        return judge_segments(load_rules(rules).experiments["evening-offer"], counts)

    judgement = asyncio.run(fill())
    before = rules.read_bytes()
    out = tmp_path / "proposed.yaml"
    assert main(["propose", str(rules), "--store", redis_url, "--output", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"--- {rules}\n+++ {rules} (proposed)\n")
    assert f"on desktop in the evening: {numbers(judgement, 'desktop', 'evening')}" in captured.out
    assert "note: evening-offer: the treatment loses on tablet in the evening" in captured.err
    assert "2 change(s) proposed; nothing was written" in captured.err
    assert rules.read_bytes() == before
    checks(out, capsys)

    assert main(["propose", str(rules), "--store", redis_url, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["kind"] for c in data["changes"]] == ["serve_on_device", "end_experiment"]
    first = data["changes"][0]
    assert first["new_rule"] == "evening-planners-book-desktop"
    assert first["when"] == "{device: desktop, daypart: evening}"
    assert first["variant"] == "booking-offer"
    desktop = judgement.segment(("desktop", "evening"))
    assert desktop is not None
    [evidence] = first["segments"]
    assert evidence["arms"][0]["prob_beat_control"] == desktop.arm("offer").prob_beat_control
    assert evidence["arms"][0]["uplift_interval"] == list(desktop.arm("offer").uplift_interval)
    assert data["judgements"][0] == json.loads(json.dumps(judgement.to_dict()))
    assert data["diff"] == captured.out

    if shutil.which("patch") is not None:  # the diff applies as printed
        patched = tmp_path / "patched.yaml"
        shutil.copyfile(rules, patched)
        diff = tmp_path / "proposal.diff"
        diff.write_text(data["diff"])
        subprocess.run(["patch", "-s", str(patched), str(diff)], check=True)
        assert patched.read_text() == out.read_text()


def test_no_evidence_exits_0_and_says_so(rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["propose", str(rules), "--store", "memory://"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{NOTHING}\n"
    assert "without visitors yet" in captured.err


def test_bad_input_exits_2_with_a_clear_message(
    rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.yaml"
    assert main(["propose", str(missing), "--store", "memory://"]) == 2
    assert f"{missing}:1:1: cannot read the rule file" in capsys.readouterr().err

    broken = tmp_path / "broken.yaml"
    broken.write_text(TRAVEL.read_text().replace("device: [desktop, tablet]", "device: [desk]"))
    assert main(["propose", str(broken), "--store", "memory://"]) == 2
    assert f"{broken}:" in capsys.readouterr().err

    assert main(["propose", str(rules), "--store", "redis://127.0.0.1:1/0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("daypart propose: Redis unavailable")
    assert "Traceback" not in err

    assert main(["propose", str(rules), "--store", "mongodb://x"]) == 2
    assert "unknown store URL" in capsys.readouterr().err

    assert main(["propose", str(rules), "--store", "memory://", "--output", str(rules)]) == 2
    assert "propose never rewrites it" in capsys.readouterr().err


def test_the_documented_example_is_what_propose_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = (ROOT / "docs" / "analysts.md").read_text()
    section = doc[doc.index("## From evidence to rules: daypart propose") :]
    shown = section[section.index("```diff\n") + len("```diff\n") :]
    shown = shown[: shown.index("```\n")]
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(TRAVEL, tmp_path / "rules.yaml")
    assert proposed_for(Path("rules.yaml"), DOCUMENTED).diff() == shown


# The example in docs/analysts.md.
DOCUMENTED: Cells = {
    ("control", "desktop", "evening"): (20_517, 615),
    ("offer", "desktop", "evening"): (20_686, 742),
    ("control", "tablet", "evening"): (3_802, 121),
    ("offer", "tablet", "evening"): (3_779, 118),
}


def test_counts_split_by_channel_are_proposed_on_pooled_over_channels(rules: Path) -> None:
    """The travel example declares channels; a proposal is per device × daypart, pooled
    over channels: the same change, numbers and text as the same counts without them."""

    async def run() -> Proposal:
        store = MemoryStore()
        records: list[Record] = []
        for (arm, device, daypart), (visitors, conversions) in DESKTOP_WINS.items():
            for i in range(visitors):
                # Half of each cell through the newsletter, half direct.
                channel = "newsletter" if i % 2 else "direct"
                segment = Segment(device, daypart, channel)
                visitor = f"{arm}:{device}:{daypart}:{i}"
                records.append(Exposure("evening-offer", arm, segment, visitor))
                if i < conversions:
                    records.append(
                        Conversion("evening-offer", arm, segment, visitor, "booked", 120.0)
                    )
        await store.record(records)
        return await propose(rules, store)

    split = asyncio.run(run())
    pooled = proposed_for(rules, DESKTOP_WINS)
    assert [c.kind for c in split.changes] == ["serve_on_device"]
    assert split.proposed == pooled.proposed
    assert [s.segment for s in split.judgements[0].segments] == [
        ("desktop", "evening"),
        ("tablet", "evening"),
    ]
