"""What loading a rule file costs: a realistic file of about 1 MB, and hostile files
(alias bombs, deep nesting) that must end in a ``RulesError`` quickly.

The realistic file is generated: a site like ``rules/examples/travel.yaml`` grown to
~1,400 rules, each with its own variants, goal and staged experiment. Figures are
wall-clock seconds of ``parse_rules`` (median of ``--rounds``) and the peak memory of one
more run under ``tracemalloc``.

    python -m loadtests.bench_load
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

from daypart.rules.errors import RulesError
from daypart.rules.loader import parse_rules


def realistic(target: int = 1_000_000) -> str:
    """A valid rule file of about ``target`` bytes."""
    head = [
        "version: 1",
        "site:",
        "  timezone: Europe/Amsterdam",
        "  timezone_from: [cookie:tz, header:CF-Timezone]",
        '  paths: ["/", "/destinations/**", "/deals/**"]',
        "dayparts:",
        *(
            f'  part-{i}: {{days: weekdays, from: "{i % 24:02d}:00", to: "{(i + 1) % 24:02d}:30"}}'
            for i in range(50)
        ),
    ]
    variants, goals, rules, experiments = ["variants:"], ["goals:"], ["rules:"], ["experiments:"]
    size, i = sum(map(len, head)), 0
    while size < target:
        added = [
            f'  v-{i}: {{rewrite: "/v{i}{{path}}", headers: {{X-Variant: v{i}, X-Layout: grid}}}}',
            f'  w-{i}: {{rewrite: "/w{i}{{path}}"}}',
        ]
        variants += added
        goals.append(
            f"  g-{i}: {{method: POST, path: /booking/{i}/confirm, status: 2xx, "
            "value_header: X-Order-Value}"
        )
        rules.append(
            f"  - name: rule-{i}\n"
            f"    when: {{device: [mobile, tablet], daypart: [part-{i % 50}, part-{(i + 7) % 50}], "
            f'path: ["/destinations/{i}/**", "/deals/*/{i}"], '
            f"query: {{utm_source: [news{i}, social]}}, header: {{X-Channel: web}}}}\n"
            f"    serve: v-{i}\n"
            f"    experiment: exp-{i}"
        )
        experiments.append(
            f"  exp-{i}:\n"
            f"    arms: {{control: v-{i}, offer: w-{i}}}\n"
            f"    goal: g-{i}\n"
            "    rollout:\n"
            "      - {audience: {header: {X-Channel: callcenter}}}\n"
            "      - {traffic: 5%}\n"
            "      - {traffic: 50%}\n"
            "    gates: {min_visitors_per_arm: 300, advance_when: {prob_beat_control: 0.95}, "
            "min_stage_duration: 24h}"
        )
        size += sum(map(len, added)) + len(goals[-1]) + len(rules[-1]) + len(experiments[-1])
        i += 1
    rules.append("  - name: everyone-else\n    serve: v-0")
    return "\n".join(head + variants + goals + rules + experiments) + "\n"


def alias_bomb(rules: int, items: int) -> str:
    """``rules`` rules aliasing one rule whose ``when`` lists ``items`` unknown devices."""
    devices = ", ".join(["x"] * items)
    return (
        "version: 1\nvariants: {a: {}}\n"
        f"rules:\n  - &r {{name: r, serve: a, when: {{device: [{devices}]}}}}\n"
        + "  - *r\n"
        * (rules - 1)
    )


def shared_list(rules: int, items: int) -> str:
    """``rules`` distinct rules whose ``when`` names one anchored list of bad devices."""
    devices = ", ".join(["x"] * items)
    return f"version: 1\nvariants: {{a: {{}}}}\nlists: [&bad [{devices}]]\nrules:\n" + "".join(
        f"  - {{name: r{i}, serve: a, when: {{device: *bad}}}}\n" for i in range(rules)
    )


def billion_laughs(levels: int = 9) -> str:
    return "version: 1\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, levels + 1)
    )


def load(text: str) -> str:
    try:
        ruleset = parse_rules(text, source="bench.yaml")
    except RulesError as exc:
        first = str(exc.problems[0])
        return f"RulesError, {len(exc.problems):,} problems: {first[:90]}"
    return f"loaded, {len(ruleset.rules):,} rules"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cases = {
        "realistic 1 MB": realistic(),
        "alias bomb 1,000 x 1,000": alias_bomb(1000, 1000),
        "alias bomb 3,000 x 3,000": alias_bomb(3000, 3000),
        "shared list 1,000 x 1,000": shared_list(1000, 1000),
        "shared list 3,000 x 3,000": shared_list(3000, 3000),
        "shared list 200 x 1,000": shared_list(200, 1000),
        "billion laughs": billion_laughs(),
        "[[[[... 5,000 deep": "version: 1\nrules: " + "[" * 5000 + "]" * 5000,
    }
    print(f"{'file':28} {'size':>10} {'seconds':>8} {'peak MB':>8}  outcome")
    for name, text in cases.items():
        seconds = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            outcome = load(text)
            seconds.append(time.perf_counter() - start)
        tracemalloc.start()
        load(text)
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        size = f"{len(text.encode()) / 1000:,.1f} KB"
        print(f"{name:28} {size:>10} {statistics.median(seconds):8.2f} {peak:8.1f}  {outcome}")


if __name__ == "__main__":
    main()
