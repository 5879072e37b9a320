"""The ``daypart`` command: check, explain, report, propose, demo, simulate, hash-password."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from daypart.rules.errors import DaypartError, RulesError


def _check(args: argparse.Namespace) -> int:
    from daypart.rules.lint import check_file

    problems = check_file(args.file)
    for problem in problems:
        print(problem)
    errors = sum(1 for p in problems if p.severity == "error")
    warnings = len(problems) - errors
    if errors:
        print(f"{args.file}: {errors} error(s), {warnings} warning(s)", file=sys.stderr)
        return 1
    print(f"{args.file}: ok ({warnings} warning(s))", file=sys.stderr)
    return 0


def _explain(args: argparse.Namespace) -> int:
    from daypart.middleware.tools.explain import explain

    headers: list[tuple[str, str]] = []
    for item in args.header:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            print(f"--header {item!r}: expected NAME:VALUE", file=sys.stderr)
            return 2
        headers.append((name.strip(), value.strip()))
    try:
        at = datetime.fromisoformat(args.at)
    except ValueError:
        print(f"--at {args.at!r}: expected an ISO time such as 2026-11-24T17:30", file=sys.stderr)
        return 2
    result = explain(
        args.file,
        user_agent=args.ua,
        at=at,
        path=args.path,
        method=args.method,
        headers=headers,
        visitor=args.visitor,
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"device:     {result['device']}")
    print(f"local time: {result['local_time']} ({result['timezone']}, {result['weekday']})")
    print(f"dayparts:   {', '.join(result['dayparts']) or '(none)'}")
    if "channel" in result:  # only when the rules declare channels
        print(f"channel:    {result['channel']}")
    for verdict in result["rules_checked"]:
        mark = "✔" if verdict["matched"] else "✘"
        why = "" if verdict["matched"] else f": {verdict['reason']}"
        print(f"  {mark} {verdict['rule']}{why}")
    if result["rule"] is None:
        print("no rule matches: the request passes through unchanged")
    else:
        print(f"rule:       {result['rule']}")
        print(f"variant:    {result['variant']}")
        if result["experiment"]:
            arm = result["arm"] or "not enrolled (pass --visitor ID for a visitor's arm)"
            print(f"experiment: {result['experiment']} (arm: {arm})")
        if result.get("holdout") == "default":
            print("holdout:    held out (the default variant, no experiment)")
        elif result.get("holdout") == "adaptive":
            print("holdout:    not held out (the rule adapts)")
    return 0


def _report(args: argparse.Namespace) -> int:
    from daypart.experiments.holdout_report import (
        as_experiment_reports,
        build_holdout_reports,
        format_holdouts,
    )
    from daypart.experiments.report import build_reports
    from daypart.experiments.report_export import reports_csv
    from daypart.experiments.store import store_from_url
    from daypart.rules.loader import load_rules

    ruleset = load_rules(args.rules) if args.rules else None
    store = store_from_url(args.store)

    async def run() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        try:
            reports = [] if args.holdouts else await build_reports(store, ruleset)
            holdouts = await build_holdout_reports(store, ruleset)
            return [r.to_dict() for r in reports], [h.to_dict() for h in holdouts]
        finally:
            await store.close()

    reports, holdouts = asyncio.run(run())
    if args.json:  # one list: the experiments, or (--holdouts) the holdouts
        print(json.dumps(holdouts if args.holdouts else reports, indent=2))
    elif args.csv:
        sys.stdout.write(
            reports_csv(reports + [r for h in holdouts for r in as_experiment_reports(h)])
        )
    else:
        from daypart.experiments.report_export import format_reports

        if not args.holdouts:
            print(format_reports(reports))
        if holdouts or args.holdouts:
            print(("" if args.holdouts else "\n") + format_holdouts(holdouts))
    return 0


def _propose(args: argparse.Namespace) -> int:
    from daypart.experiments.store import store_from_url
    from daypart.experiments.store.errors import StoreError
    from daypart.middleware.tools.propose import NOTHING, Proposal, propose

    if args.output is not None and Path(args.output).resolve() == Path(args.rules).resolve():
        print(
            f"--output {args.output}: that is the rule file itself; propose never rewrites "
            "it (review the diff, then apply it yourself)",
            file=sys.stderr,
        )
        return 2

    async def run() -> Proposal:
        store = store_from_url(args.store)
        try:
            return await propose(args.rules, store)
        finally:
            await store.close()

    try:
        proposal = asyncio.run(run())
    except RulesError as exc:  # bad input: exit 2 (check's exit 1 means "fix the file")
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"daypart propose: {exc}", file=sys.stderr)
        return 2
    if args.output is not None:
        try:
            Path(args.output).write_text(proposal.proposed, encoding="utf-8")
        except OSError as exc:
            print(f"--output {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(proposal.to_dict(), indent=2, ensure_ascii=False))
        return 0
    for note in proposal.notes:
        print(f"note: {note}", file=sys.stderr)
    if proposal.changes:
        sys.stdout.write(proposal.diff())
        print(f"{len(proposal.changes)} change(s) proposed; nothing was written", file=sys.stderr)
    else:
        print(NOTHING)
    return 0


def _demo(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:
        print("the demo needs uvicorn: pip install 'daypart[demo]'", file=sys.stderr)
        return 1
    from daypart.middleware.tools.demo.app import build_demo

    store = args.store or os.environ.get("DAYPART_STORE", "memory://")
    options: dict[str, Any] = {}
    if args.at:
        try:
            at = datetime.fromisoformat(args.at)
        except ValueError:
            print(
                f"--at {args.at!r}: expected an ISO time such as 2026-11-24T17:30+01:00",
                file=sys.stderr,
            )
            return 2
        if at.tzinfo is None:  # a wall-clock time on the site's own clock
            from daypart.rules.loader import load_rules
            from daypart.rules.localtime import zone_named

            at = at.replace(tzinfo=zone_named(load_rules(args.rules).site.timezone))
        frozen = at.timestamp()
        options["clock"] = lambda: frozen
    app = build_demo(rules=args.rules, store=store, **options)
    print(f"daypart demo on http://{args.host}:{args.port}  (store: {store})", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from daypart.middleware.tools.simulate import SimulationConfig, simulate

    config = SimulationConfig(
        rules=Path(args.rules),
        experiment=args.experiment,
        base_rate=args.base_rate,
        uplift=args.uplift,
        visitors_per_day=args.visitors_per_day,
        channel_share=args.channel_share,
        max_days=args.days,
        seed=args.seed,
        truth=None if args.truth is None else Path(args.truth),
        path=args.path,
    )
    try:
        result = asyncio.run(simulate(config))
    except ValueError as exc:  # an impossible truth or setting: say which, no traceback
        print(f"daypart simulate: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.summary())
    return 0


def _hash_password(args: argparse.Namespace) -> int:
    import getpass

    from daypart.middleware.admin.auth import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("the two passwords differ", file=sys.stderr)
            return 2
    else:  # piped: the first line
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 12:
        print("choose a password of at least 12 characters", file=sys.stderr)
        return 2
    print(f"{args.name}:{hash_password(password)}" if args.name else hash_password(password))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from daypart.rules import EXAMPLES_DIR

    example = str(EXAMPLES_DIR / "travel.yaml")
    parser = argparse.ArgumentParser(prog="daypart", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="validate and lint a rule file")
    check.add_argument("file")
    check.set_defaults(run=_check)

    explain = commands.add_parser("explain", help="which rule, variant and arm, and why")
    explain.add_argument("file")
    explain.add_argument("--ua", required=True, help="User-Agent string")
    explain.add_argument("--at", required=True, help="ISO time; without offset: visitor-local")
    explain.add_argument("--path", default="/")
    explain.add_argument("--method", default="GET")
    explain.add_argument("--header", action="append", default=[], metavar="NAME:VALUE")
    explain.add_argument("--visitor", help="a visitor id: show that visitor's arm")
    explain.add_argument("--json", action="store_true")
    explain.set_defaults(run=_explain)

    report = commands.add_parser("report", help="experiment results from a store")
    report.add_argument("--store", default=os.environ.get("DAYPART_STORE", "memory://"))
    report.add_argument("--rules", help="rule file (adds arms without data, goals, weights)")
    form = report.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true")
    form.add_argument("--csv", action="store_true")
    report.add_argument(
        "--holdouts", action="store_true", help="only what the adaptive rules earn (holdouts)"
    )
    report.set_defaults(run=_report)

    proposing = commands.add_parser(
        "propose", help="the rule changes the evidence supports, as a diff (writes nothing)"
    )
    proposing.add_argument("rules", metavar="RULES", help="the rule file")
    proposing.add_argument(
        "--store",
        default=os.environ.get("DAYPART_STORE"),
        required="DAYPART_STORE" not in os.environ,
        help="the store URL (default: $DAYPART_STORE)",
    )
    proposing.add_argument("--json", action="store_true", help="changes, numbers and diff")
    proposing.add_argument("--output", metavar="FILE", help="also write the proposed file here")
    proposing.set_defaults(run=_propose)

    demo = commands.add_parser("demo", help="the travel demo site behind the middleware")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--rules", default=example)
    demo.add_argument("--store", default=None, help="default: $DAYPART_STORE or memory://")
    demo.add_argument(
        "--at", default=None, help="freeze the clock at this ISO time (to try the dayparts)"
    )
    demo.set_defaults(run=_demo)

    simulate = commands.add_parser("simulate", help="synthetic visitors with known true rates")
    simulate.add_argument("--rules", default=example)
    simulate.add_argument("--experiment", default="evening-offer")
    simulate.add_argument("--base-rate", type=float, default=0.10)
    simulate.add_argument("--uplift", type=float, default=0.20, help="relative, e.g. 0.2")
    simulate.add_argument("--visitors-per-day", type=int, default=4000)
    simulate.add_argument(
        "--channel-share", type=float, default=0.05, help="visitors of the audience stage"
    )
    simulate.add_argument("--days", type=int, default=60)
    simulate.add_argument("--seed", type=int, default=1)
    simulate.add_argument(
        "--truth", help="YAML: true rates per arm, for everyone and per device × daypart"
    )
    simulate.add_argument(
        "--path",
        choices=("requests", "counts"),
        default="requests",
        help="requests: every visitor through the middleware; counts: each hour's counts "
        "drawn, same store, evaluator and gates (much faster)",
    )
    simulate.add_argument("--json", action="store_true")
    simulate.set_defaults(run=_simulate)

    hashing = commands.add_parser(
        "hash-password", help="a password hash for admin_users / DAYPART_ADMIN_USERS"
    )
    hashing.add_argument("name", nargs="?", help="print a name:hash line for the users file")
    hashing.set_defaults(run=_hash_password)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except RulesError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    except DaypartError as exc:
        print(f"daypart: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
