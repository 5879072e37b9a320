"""``daypart propose``: the rule changes the evidence supports, as a reviewable diff.

For every experiment a rule runs, the per-segment gates (``experiments.segment_gates``)
say where a treatment wins, where it loses, and where it cannot tell yet. From that:

- a treatment wins in every segment the rule covers: the rule serves it, and its
  experiment ends;
- it wins in every segment of one device (and the winner differs by device): a rule for
  that device goes above — the rule is split by device;
- it wins in some segments: a rule for each of those segments goes above;
- once every segment is decided (some won, the rest lost), the experiment ends in the
  rule, which keeps serving the control to the segments where the treatment lost;
- it loses everywhere, or nothing is decided yet: no change, and the notes say so.

Segments here are device × daypart, pooled over channels even where the rules declare
channels (``segments.device_daypart_of``): a rule selects a channel only through the
conditions on its sources (a query parameter, a header, a cookie), which a proposal
cannot write faithfully for a channel read from several of them, case-insensitively.

Nothing rewrites the rule file: ``propose`` returns the proposed text, the changes with
the numbers behind them (also written into the proposed text as comments), and a unified
diff. The proposed text is loaded again before it is shown, and must give exactly the
rules the changes describe; a rule whose layout the line edits cannot handle is left
alone, with its change in words in the notes.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from daypart.experiments.segment_gates import (
    ArmInSegment,
    SegmentJudgement,
    SegmentVerdicts,
    judge_segments,
    percent,
    probability,
)
from daypart.experiments.segments import (
    DEVICE_DAYPART,
    NO_DAYPART,
    SegmentKey,
    device_daypart_of,
    segment_fields,
    segment_name,
    segment_words,
)
from daypart.experiments.store.base import Store
from daypart.middleware.tools.rule_text import LayoutError, RuleText
from daypart.rules.condition_text import condition_text
from daypart.rules.errors import Problem, RulesError
from daypart.rules.lint import condition_minutes, covers, daypart_minutes
from daypart.rules.loader import parse_rules
from daypart.rules.model import DEVICES, Condition, Experiment, Rule, RuleSet
from daypart.rules.yaml_source import MAX_FILE_BYTES, decode, file_size_problem

ChangeKind = Literal["serve_everywhere", "serve_on_device", "serve_in_segment", "end_experiment"]
MARK = "proposed by daypart propose"
NOTHING = "no changes supported by the evidence yet"


@dataclass(frozen=True, slots=True)
class Change:
    """One change to the rule file, with the segments' numbers behind it."""

    kind: ChangeKind
    experiment: str
    rule: str  # the rule the change is made to, or inserted above
    arm: str  # the arm served from now on (the control's when an experiment just ends)
    variant: str
    segments: tuple[SegmentVerdicts, ...]  # the evidence
    new_rule: str | None = None  # the name of an inserted rule
    when: Condition | None = None  # its condition
    comment: tuple[str, ...] = ()  # as written into the proposed file

    def to_dict(self, daypart_order: Sequence[str] = ()) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "experiment": self.experiment,
            "rule": self.rule,
            "new_rule": self.new_rule,
            "when": None if self.when is None else condition_text(self.when, daypart_order),
            "arm": self.arm,
            "variant": self.variant,
            "segments": [_evidence(segment, self.arm) for segment in self.segments],
            "comment": list(self.comment),
        }


@dataclass(slots=True)
class Proposal:
    rules: str  # the file's name
    original: str
    proposed: str
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    judgements: list[SegmentJudgement] = field(default_factory=list)
    daypart_order: tuple[str, ...] = ()

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.original.splitlines(keepends=True),
                self.proposed.splitlines(keepends=True),
                fromfile=self.rules,
                tofile=f"{self.rules} (proposed)",
            )
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rules": self.rules,
            "changes": [change.to_dict(self.daypart_order) for change in self.changes],
            "notes": list(self.notes),
            "judgements": [judgement.to_dict() for judgement in self.judgements],
            "diff": self.diff(),
        }


def read_rule_file(path: str | Path) -> tuple[str, RuleSet]:
    """The file's text and its rule set; ``RulesError`` (file:line:col) when either fails."""
    name = str(path)
    try:
        data = Path(name).read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RulesError([Problem(name, 1, 1, f"cannot read the rule file: {reason}")]) from exc
    if len(data) > MAX_FILE_BYTES:
        raise RulesError([file_size_problem(name, len(data))])
    ruleset = parse_rules(data, source=name)  # refuses what decode would
    return decode(data, name), ruleset


async def propose(path: str | Path, store: Store) -> Proposal:
    """What the evidence in ``store`` supports changing in the rule file at ``path``.
    Raises ``RulesError`` for a file that does not load, ``StoreError`` for the store."""
    text, ruleset = read_rule_file(path)
    proposal = Proposal(str(path), text, text, daypart_order=tuple(ruleset.dayparts))
    edits = RuleText(text, str(path))
    current = ruleset  # the rules of the text as edited so far
    runs: dict[str, list[Rule]] = {}
    for rule in ruleset.rules:
        if rule.experiment is not None:
            runs.setdefault(rule.experiment, []).append(rule)
    names = {rule.name for rule in ruleset.rules}
    for name, experiment in ruleset.experiments.items():
        rules = runs.get(name, [])
        if not rules:
            continue
        if len(rules) > 1:
            proposal.notes.append(
                f"{name}: run by {len(rules)} rules ({', '.join(r.name for r in rules)}), so "
                "its segments mix their visitors; propose looks only at experiments run by one "
                "rule"
            )
            continue
        if len(experiment.arms) < 2:
            continue
        judgement = judge_segments(experiment, await store.counts(name), by=device_daypart_of)
        proposal.judgements.append(judgement)
        proposal.notes.extend(f"{name}: {warning}" for warning in judgement.warnings)
        planned, notes = _plan(ruleset, rules[0], experiment, judgement, names)
        proposal.notes.extend(f"{name}: {note}" for note in notes)
        if not planned:
            continue
        trial = edits.copy()
        try:
            _write(trial, ruleset, rules[0], planned)
            checked = _verify(current, trial.text(), rules[0], planned)
        except (LayoutError, RulesError) as exc:
            why = exc.problems[0] if isinstance(exc, RulesError) else exc
            proposal.notes.append(
                f"{name}: cannot edit rule '{rules[0].name}' in place ({why}); the change in "
                f"words: {'; '.join(' '.join(c.comment) for c in planned)}"
            )
            continue
        edits, current = trial, checked
        names |= {change.new_rule for change in planned if change.new_rule}
        proposal.changes.extend(planned)
    proposal.proposed = edits.text()
    return proposal


# --- planning -------------------------------------------------------------------------------


def _explicit(when: Condition, name: str) -> frozenset[str] | None:
    """The values a rule's condition names for a segment field (None: any)."""
    if name == "device":
        return when.device
    if name == "daypart":
        return when.daypart
    value = getattr(when, name, None)
    return value if isinstance(value, frozenset) else None


def _narrowed(when: Condition, fields: Mapping[str, str]) -> Condition:
    """``when`` and the segment ``fields`` (device, daypart) besides."""
    narrower: dict[str, Any] = {
        name: frozenset({value}) for name, value in fields.items() if name in DEVICE_DAYPART
    }
    return replace(when, **narrower)


def _covered(
    ruleset: RuleSet, rule: Rule, judgement: SegmentJudgement, notes: list[str]
) -> list[SegmentKey]:
    """The segments whose visitors the rule serves: every combination of the values its
    condition names (or, where it names none, of the values seen in the counts), less those
    it cannot reach as written now and those an earlier rule already serves."""
    seen = [judgement_segment.segment for judgement_segment in judgement.segments]
    values = []
    for position, name in enumerate(DEVICE_DAYPART):
        named = _explicit(rule.when, name)
        observed = sorted({segment[position] for segment in seen})
        values.append(sorted(named) if named is not None else observed)
    minutes = {name: daypart_minutes(d) for name, d in ruleset.dayparts.items()}
    rule_minutes = condition_minutes(rule.when, minutes)
    earlier = ruleset.rules[: ruleset.rules.index(rule)]
    covered = []
    for segment in sorted(set(itertools.product(*values)) | set(seen)):
        fields = segment_fields(segment)
        if not _reachable(rule.when, fields, minutes, rule_minutes):
            if segment in seen:
                notes.append(
                    f"counts {segment_words(segment)} cannot come from rule '{rule.name}' as "
                    "it is written now (did its condition change?); left out"
                )
            continue
        narrow = _segment_condition(rule.when, fields, ruleset)
        if narrow is not None:
            served = next((r for r in earlier if covers(r.when, narrow, minutes)), None)
            if served is not None:
                if segment in seen:
                    notes.append(
                        f"{segment_words(segment)} is served by rule '{served.name}' above "
                        f"'{rule.name}' now; its counts there are history"
                    )
                continue
        covered.append(segment)
    return _in_file_order(covered, ruleset)


def _segment_condition(
    when: Condition, fields: Mapping[str, str], ruleset: RuleSet
) -> Condition | None:
    """``when`` narrowed to one segment, or None where no condition can name it: outside
    every daypart, or in a daypart the rule does not name (its visitors matched the rule
    through an overlapping daypart that comes later in the file)."""
    daypart = fields.get("daypart", NO_DAYPART)
    if daypart not in ruleset.dayparts:
        return None
    if when.daypart is not None and daypart not in when.daypart:
        return None
    return _narrowed(when, fields)


def _reachable(
    when: Condition, fields: Mapping[str, str], minutes: Mapping[str, int], within: int
) -> bool:
    """Whether a visitor in the segment ``fields`` can match ``when`` (``within``: the
    minutes ``when`` allows)."""
    device, daypart = fields.get("device", ""), fields.get("daypart", NO_DAYPART)
    if device not in DEVICES or (when.device is not None and device not in when.device):
        return False
    if daypart == NO_DAYPART:
        return when.daypart is None
    if daypart not in minutes:
        return False  # a daypart the rules no longer define
    return minutes[daypart] & within != 0


def _in_file_order(segments: Sequence[SegmentKey], ruleset: RuleSet) -> list[SegmentKey]:
    rank = {name: i for i, name in enumerate((*DEVICES, *ruleset.dayparts))}
    return sorted(segments, key=lambda s: tuple((rank.get(v, len(rank)), v) for v in s))


def _state(verdicts: SegmentVerdicts | None) -> str | None:
    """A segment's outcome: the winning treatment, "" where the control wins, None while
    undecided."""
    if verdicts is None:
        return None
    winner = verdicts.winner
    if winner is not None:
        return winner.arm
    return "" if verdicts.control_wins else None


def _plan(
    ruleset: RuleSet,
    rule: Rule,
    experiment: Experiment,
    judgement: SegmentJudgement,
    taken: set[str],
) -> tuple[list[Change], list[str]]:
    notes: list[str] = []
    covered = _covered(ruleset, rule, judgement, notes)
    verdicts = {key: judgement.segment(key) for key in covered}
    state = {key: _state(verdicts[key]) for key in covered}
    won = {key: arm for key, arm in state.items() if arm}
    lost = [key for key, arm in state.items() if arm == ""]
    open_ = [key for key, arm in state.items() if arm is None]
    if not covered:
        return [], [*notes, f"rule '{rule.name}' has no segment left to decide"]
    if not won:
        if not open_:
            notes.append(
                f"every treatment loses in every segment rule '{rule.name}' covers "
                f"({_listed(judgement, lost)}); nothing to propose: the rule "
                "already serves the control, and the gates roll the experiment back"
            )
        else:
            notes.append(f"nothing decided yet in rule '{rule.name}': {_tally(verdicts)}")
        return [], notes
    variants = {arm.name: arm.variant for arm in experiment.arms}
    control = experiment.control
    changes: list[Change] = []
    everything = not open_ and not lost and len(set(won.values())) == 1
    if everything:
        arm = next(iter(won.values()))
        segments = tuple(v for v in verdicts.values() if v is not None)
        comment = _won_comment(judgement, arm, segments, "in every segment this rule covers")
        comment.append(f"  experiment {experiment.name} ends: {arm} for everyone in this rule")
        changes.append(
            Change(
                "serve_everywhere",
                experiment.name,
                rule.name,
                arm,
                variants[arm],
                segments,
                comment=tuple(comment),
            )
        )
        return changes, notes
    devices = sorted({segment_fields(key)["device"] for key in covered}, key=DEVICES.index)
    unwritten: list[SegmentKey] = []  # won, but no condition can name the segment
    for device in devices:
        mine = [key for key in covered if segment_fields(key)["device"] == device]
        arms = {won.get(key) for key in mine}
        if len(devices) > 1 and len(arms) == 1 and None not in arms:
            arm = str(arms.pop())
            segments = tuple(v for key in mine if (v := verdicts[key]) is not None)
            when = _narrowed(rule.when, {"device": device})
            where = (
                f"on {device} in every segment this rule covers"
                if len(mine) > 1
                else segment_words(mine[0])
            )
            comment = _won_comment(judgement, arm, segments, where)
            changes.append(
                Change(
                    "serve_on_device",
                    experiment.name,
                    rule.name,
                    arm,
                    variants[arm],
                    segments,
                    new_rule=_name(f"{rule.name}-{device}", taken, changes),
                    when=when,
                    comment=tuple(comment),
                )
            )
            continue
        for key in mine:
            winner = won.get(key)
            segment = verdicts[key]
            if not winner or segment is None:
                continue
            fields = segment_fields(key)
            narrow = _segment_condition(rule.when, fields, ruleset)
            if narrow is None:
                unwritten.append(key)
                notes.append(
                    f"{winner} wins {segment_words(key)}, but no condition of rule "
                    f"'{rule.name}' can name that segment alone; nothing proposed there"
                )
                continue
            comment = _won_comment(judgement, winner, (segment,), segment_words(key))
            overlap = _overlap(ruleset, fields["daypart"], rule.when)
            if overlap:
                comment.append(
                    f"  (where {fields['daypart']} overlaps {overlap}, this rule also serves "
                    f"visitors counted under {overlap})"
                )
            changes.append(
                Change(
                    "serve_in_segment",
                    experiment.name,
                    rule.name,
                    winner,
                    variants[winner],
                    (segment,),
                    new_rule=_name(f"{rule.name}-{'-'.join(key)}", taken, changes),
                    when=narrow,
                    comment=tuple(comment),
                )
            )
    if not open_ and not unwritten and changes:
        segments = tuple(v for key in lost if (v := verdicts[key]) is not None)
        comment = [
            f"{MARK}: experiment {experiment.name} ends in this rule: every segment is "
            "decided; the rules above serve the winners"
            + (", and where the control won, this rule serves it:" if segments else "")
        ]
        comment += [f"  {s.name}: {_numbers(judgement, s, None)}" for s in segments]
        changes.append(
            Change(
                "end_experiment",
                experiment.name,
                rule.name,
                control.name,
                control.variant,
                segments,
                comment=tuple(comment),
            )
        )
    if open_:
        notes.append(
            f"the experiment goes on in rule '{rule.name}' for "
            f"{', '.join(segment_name(key) for key in open_)}: {_tally(verdicts, open_)}"
        )
    if lost:
        notes.append(f"the treatment loses {_listed(judgement, lost)}")
    return changes, notes


def _name(base: str, taken: set[str], planned: Sequence[Change]) -> str:
    used = taken | {change.new_rule for change in planned if change.new_rule}
    name, number = base, 2
    while name in used:
        name, number = f"{base}-{number}", number + 1
    return name


def _overlap(ruleset: RuleSet, daypart: str, when: Condition) -> str:
    """The earlier dayparts (file order) sharing minutes with ``daypart`` inside ``when``:
    where they overlap, a visitor's segment is the earlier one."""
    minutes = {name: daypart_minutes(d) for name, d in ruleset.dayparts.items()}
    inside = minutes[daypart] & condition_minutes(when, minutes)
    earlier = []
    for name in ruleset.dayparts:
        if name == daypart:
            break
        if minutes[name] & inside:
            earlier.append(name)
    return ", ".join(earlier)


# --- words and numbers ----------------------------------------------------------------------


def _arm_numbers(arm: ArmInSegment, control_visitors: int, rollback: bool) -> str:
    low, high = arm.uplift_interval
    prob = (
        probability("P(worse)", arm.prob_worse_than_control)
        if rollback
        else probability("P(beat)", arm.prob_beat_control)
    )
    return (
        f"{prob}, uplift {percent(arm.uplift)} (95%: {percent(low)} to {percent(high)}), "
        f"{control_visitors + arm.visitors:,} visitors"
    )


def _numbers(judgement: SegmentJudgement, segment: SegmentVerdicts, arm: str | None) -> str:
    """The numbers behind a segment's verdict: the winning ``arm``'s, or (None) each losing
    treatment's."""
    if arm is not None:
        return _arm_numbers(segment.arm(arm), segment.control_visitors, rollback=False)
    return "; ".join(
        f"{a.arm} {_arm_numbers(a, segment.control_visitors, rollback=True)}" for a in segment.arms
    )


def _gate_line(judgement: SegmentJudgement) -> str:
    return (
        f"  (a segment needs P(beat) ≥ {judgement.ship_threshold:.6g}: the gate's "
        f"{judgement.ship_probability:g} over {judgement.comparisons} comparison(s), "
        "partially pooled across segments)"
    )


def _won_comment(
    judgement: SegmentJudgement, arm: str, segments: Sequence[SegmentVerdicts], where: str
) -> list[str]:
    control = judgement.control
    if len(segments) == 1:
        lines = [f"{MARK}: {arm} beats {control} {where}: {_numbers(judgement, segments[0], arm)}"]
    else:
        lines = [f"{MARK}: {arm} beats {control} {where}:"]
        lines += [f"  {s.name}: {_numbers(judgement, s, arm)}" for s in segments]
    lines.append(_gate_line(judgement))
    return lines


def _listed(judgement: SegmentJudgement, keys: Sequence[SegmentKey]) -> str:
    parts = []
    for key in keys:
        segment = judgement.segment(key)
        if segment is not None:
            parts.append(f"{segment_words(key)}: {_numbers(judgement, segment, None)}")
    return "; ".join(parts)


def _tally(
    verdicts: Mapping[SegmentKey, SegmentVerdicts | None], keys: Sequence[SegmentKey] = ()
) -> str:
    """``2 segments inconclusive, 1 with too few visitors`` (of ``keys``, default all)."""
    counts: dict[str, int] = {}
    for key in keys or list(verdicts):
        segment = verdicts[key]
        if segment is None:
            verdict = "no_data"
        elif any(arm.verdict == "too_few_visitors" for arm in segment.arms):
            verdict = "too_few_visitors"
        elif segment.control_wins:
            verdict = "rollback"
        else:
            verdict = "inconclusive"
        counts[verdict] = counts.get(verdict, 0) + 1
    words = {
        "no_data": "without visitors yet",
        "too_few_visitors": "with too few visitors",
        "inconclusive": "not yet conclusive",
        "rollback": "where the treatment loses",
    }
    return ", ".join(f"{n} segment(s) {words[v]}" for v, n in counts.items())


def _evidence(segment: SegmentVerdicts, arm: str) -> dict[str, Any]:
    """A segment's numbers behind a change, as ``--json`` gives them."""
    data: dict[str, Any] = {
        **segment_fields(segment.segment),
        "segment": segment.name,
        "control_visitors": segment.control_visitors,
    }
    shown = [a for a in segment.arms if a.arm == arm] or list(segment.arms)
    data["arms"] = [
        {
            "arm": a.arm,
            "visitors": a.visitors,
            "compared_visitors": segment.control_visitors + a.visitors,
            "prob_beat_control": a.prob_beat_control,
            "prob_worse_than_control": a.prob_worse_than_control,
            "uplift": a.uplift,
            "uplift_interval": list(a.uplift_interval),
            "verdict": a.verdict,
        }
        for a in shown
    ]
    return data


# --- writing and checking -------------------------------------------------------------------


def _write(edits: RuleText, ruleset: RuleSet, rule: Rule, changes: Sequence[Change]) -> None:
    order = tuple(ruleset.dayparts)
    for change in changes:
        if change.new_rule is not None and change.when is not None:
            edits.insert_rule_before(
                rule,
                change.comment,
                change.new_rule,
                condition_text(change.when, order),
                change.variant,
            )
    for change in changes:
        if change.kind == "serve_everywhere":
            edits.comment_above(rule, change.comment)
            edits.set_serve(rule, change.variant)
            edits.end_experiment(rule, f"ended: {change.arm} won, see above")
        elif change.kind == "end_experiment":
            edits.comment_above(rule, change.comment)
            edits.end_experiment(rule, "ended, see above")


def _verify(before: RuleSet, text: str, rule: Rule, changes: Sequence[Change]) -> RuleSet:
    """The proposed text's rules: it must load, and give ``before``'s rules with exactly the
    changes made to ``rule``."""
    after = parse_rules(text, source=before.source)
    expected: list[tuple[str, str, Condition, str | None]] = []
    for existing in before.rules:
        if existing.name == rule.name:
            for change in changes:
                if change.new_rule is not None and change.when is not None:
                    expected.append((change.new_rule, change.variant, change.when, None))
            serve, experiment = existing.serve, existing.experiment
            for change in changes:
                if change.kind in ("serve_everywhere", "end_experiment"):
                    serve, experiment = change.variant, None
            expected.append((existing.name, serve, existing.when, experiment))
        else:
            expected.append((existing.name, existing.serve, existing.when, existing.experiment))
    got = [(r.name, r.serve, r.when, r.experiment) for r in after.rules]
    if got != expected:
        problem = Problem(before.source, 1, 1, "the edited text does not give the planned rules")
        raise RulesError([problem])
    return after
