"""The ``cycles`` command: parses arguments and delegates; no model logic here.

One error boundary (:func:`main`): every input the command cannot take ends
in one line on stderr naming the field, the value and what is allowed, exit
status 2, before anything is written; Ctrl-C, SIGTERM and SIGHUP stop the
command and its children with one line (exit 130, or 128 + the signal); a
genuine internal error says so in one line, exit 1, with the traceback in a
log file. Each command checks everything, estimates the job's cost (sim.budget)
and claims its output (sim.storage.claim) before it writes anything.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from sim import api
from sim import params as P
from sim.budget import LIMITS, BudgetError
from sim.interventions import InterventionError
from sim.population import PRESETS
from sim.storage import OutputBusy

EXIT_USAGE = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130
_LETTERS = {"escalating": "E", "cycling": "C", "settling": "S", "secure-stable": "s", "dissolved": "D"}


class UsageError(api.InputError):
    """Bad arguments: reported in one line, exit status 2, nothing written (the API's errors are reported alike)."""


def _whole_number(minimum: int, maximum: int | None = None):
    """An argparse type: a whole number from ``minimum`` to ``maximum``."""
    allowed = (f"a whole number from {minimum:,} to {maximum:,}" if maximum is not None
               else f"a whole number of at least {minimum}")

    def parse(text: str) -> int:
        try:
            value = int(text.strip()) if len(text) < 40 else None
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"value {text[:40]!r} is not allowed; expected {allowed}")
        return value
    return parse


def _hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 24 * 365:
        raise argparse.ArgumentTypeError(f"value {text[:40]!r} is not allowed; expected a number of hours above 0 "
                                         "and at most 8760")
    return value


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()] if len(text) < 1000 else []
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 2 or max(sizes) > LIMITS.couples or len(sizes) > 100:
        raise argparse.ArgumentTypeError(f"value {text[:60]!r} is not allowed; expected up to 100 comma-separated "
                                         f"whole numbers of couples, each from 2 to {LIMITS.couples:,}")
    return sorted(set(sizes))


def _port(text: str) -> int:
    return _whole_number(1, 65535)(text)


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors in one line with exit status 2."""

    def error(self, message: str) -> None:  # noqa: D102 - argparse hook
        raise UsageError(message)

    def exit(self, status: int = 0, message: str | None = None) -> None:  # noqa: D102 - argparse hook
        if status:
            raise UsageError((message or "").strip() or "bad arguments")
        super().exit(status, message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``cycles`` command."""
    parser = _Parser(prog="cycles", description="Simulate the anxious-avoidant pursue-withdraw cycle in couples.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="simulate couples and write the daily table")
    run.add_argument("--preset", default="anxious-avoidant",
                     help=f"pairing, partner a first (default anxious-avoidant); one of {', '.join(PRESETS)}, "
                          "or any STYLE-STYLE of secure, anxious, avoidant, fearful")
    run.add_argument("--couples", type=_whole_number(1, LIMITS.couples), default=1,
                     help="number of couples (default 1)")
    run.add_argument("--population", action="store_true",
                     help="draw the partners' styles too (prevalence, assortative pairing) instead of the "
                          "preset's pairing")
    run.add_argument("--days", type=_whole_number(1, LIMITS.days), default=365, help="days to simulate (default 365)")
    run.add_argument("--seed", type=_whole_number(0, 2**63 - 1), default=0, help="root seed (default 0)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="[WHO.]NAME=VALUE",
                     help="override a declared parameter; WHO is a role (a, b) or a style "
                          "(e.g. avoidant.responsiveness=0.8); repeatable")
    run.add_argument("--intervene", dest="interventions", action="append", default=[], metavar="CHANGE|RECIPE",
                     help="schedule an intervention: a recipe (e.g. 'checkin-ritual from=180'; see `cycles "
                          "interventions`) or a change such as 'b.responsiveness=0.9 from=100 every=7', "
                          "'more-anxious.rumination*=0.5 from=60 ramp=56' or 'a.conflict=1 from=200'; repeatable")
    run.add_argument("--engine", choices=("batch", "mesa"), default="batch",
                     help="driver: the numpy batch engine (default) or the Mesa model; same output")
    run.add_argument("--out", default="results/run.parquet",
                     help="daily table (Parquet); outcomes and manifest are written beside it")
    _max_hours(run)

    swp = sub.add_parser("sweep", help="run an experiment spec (experiments/*.toml) over many couples")
    swp.add_argument("spec", help="the experiment spec, e.g. experiments/support_balance.toml")
    swp.add_argument("--out", help="output folder (default results/NAME)")
    swp.add_argument("--workers", type=_whole_number(1), default=None,
                     help="worker processes (default: all cores; 1 runs in this process)")
    swp.add_argument("--dask", metavar="ADDRESS", help="run on a Dask cluster: tcp://HOST:PORT, or 'local'")
    swp.add_argument("--force", action="store_true", help="start over, replacing results of another spec")
    swp.add_argument("--report", action="store_true", help="write report.html into the results folder at the end")
    _max_hours(swp)

    rep = sub.add_parser("report", help="write report.html (self-contained, works offline) for a results folder")
    rep.add_argument("folder", help="a results folder written by cycles sweep, e.g. results/support_balance")
    rep.add_argument("--png", action="store_true", help="also export every figure as PNG (needs Chromium)")

    std = sub.add_parser("study", help="run a virtual study: a cohort measured and analysed like a real one")
    std.add_argument("spec", help="a spec with a [study] section, e.g. experiments/support_balance_study.toml")
    std.add_argument("--out", help="output folder (default results/NAME)")
    std.add_argument("--samples", type=_whole_number(1, LIMITS.samples), default=1,
                     help="independent virtual cohorts for power by simulation (default 1: no power analysis)")
    std.add_argument("--n", dest="sizes", type=_sizes, default=None, metavar="N,N,...",
                     help="cohort sizes for a power curve, e.g. 100,200,326,500,1000 (default: the spec's)")
    std.add_argument("--formula", dest="formulas", action="append", default=[],
                     help="another model to fit and report, e.g. 'anxiety_t2 ~ anxiety_t1_c + "
                          "perceived_responsiveness_t1_c' (repeatable)")
    std.add_argument("--workers", type=_whole_number(1), default=None, help="worker processes (default: all cores)")
    std.add_argument("--dask", metavar="ADDRESS", help="run the samples on a Dask cluster, or 'local'")
    std.add_argument("--force", action="store_true", help="replace results of another spec or command in --out")
    _max_hours(std)

    dia = sub.add_parser("diary", help="simulate a daily-diary study: the long table a real one has, truth beside it")
    dia.add_argument("spec", help="a spec with a [diary] section, e.g. experiments/diary_fit.toml")
    dia.add_argument("--out", help="output folder (default results/NAME_diary)")
    dia.add_argument("--force", action="store_true", help="replace results of another spec or command in --out")

    fit = sub.add_parser("fit", help="fit the model to diary data: posteriors per couple, checks and what-ifs")
    fit.add_argument("spec", help="a spec with [diary] and [fit] sections, e.g. experiments/diary_fit.toml")
    fit.add_argument("--out", help="output folder (default results/NAME)")
    fit.add_argument("--estimator", metavar="PATH",
                     help="reuse a trained estimator (the estimator folder of an earlier fit): no training")
    fit.add_argument("--force", action="store_true", help="replace results of another spec or command in --out")

    sen = sub.add_parser("sensitivity", help="which parameters an outcome depends on (SALib: Morris or Sobol)")
    sen.add_argument("spec", help="a spec with a [sensitivity] section, e.g. experiments/sensitivity.toml")
    sen.add_argument("--method", choices=("morris", "sobol"), default="morris", help="default morris")
    sen.add_argument("--outcome", dest="outcomes", action="append", default=[],
                     help="an outcome to analyse, e.g. share_escalating (repeatable; default: the spec's)")
    sen.add_argument("--out", help="output folder (default results/NAME)")
    sen.add_argument("--workers", type=_whole_number(1), default=None, help="worker processes (default: all cores)")
    sen.add_argument("--dask", metavar="ADDRESS", help="run on a Dask cluster, or 'local'")
    sen.add_argument("--force", action="store_true", help="replace results of another spec or command in --out")
    _max_hours(sen)

    app = sub.add_parser("app", help="the classroom app: watch a couple's cycle in the browser and change it live")
    app.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1: this computer only; anything else is "
                          "reachable from the network)")
    app.add_argument("--port", type=_port, default=8765, help="port (default 8765)")

    demo = sub.add_parser("demo", help="a standalone animated HTML page of one couple's cycle (no Python needed)")
    demo.add_argument("--preset", default="anxious-avoidant", help="pairing, partner a first")
    demo.add_argument("--days", type=_whole_number(1, LIMITS.demo_days), default=365,
                      help="days to show (default 365)")
    demo.add_argument("--seed", type=_whole_number(0, 2**63 - 1), default=0, help="root seed (default 0)")
    demo.add_argument("--set", dest="overrides", action="append", default=[], metavar="[WHO.]NAME=VALUE",
                      help="override a declared parameter (repeatable)")
    demo.add_argument("--out", default="demo.html", help="the HTML file to write (default demo.html)")

    ivs = sub.add_parser("interventions", help="list the intervention recipes and the change syntax")
    ivs.add_argument("--markdown", action="store_true", help="print the recipes as Markdown (as in docs/ODD.md)")

    prm = sub.add_parser("params", help="list every declared parameter")
    prm.add_argument("--markdown", action="store_true", help="print the table as Markdown (as in docs/ODD.md)")
    return parser


def _values_joined(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``--n -5,10`` as ``--n=-5,10``.

    argparse takes a value that starts with '-' for an option and reports
    "expected one argument", which hides what is wrong with the value; joined,
    the value reaches its own check and is named in the message.
    """
    valued, known = set(), set()
    parsers = [parser]
    while parsers:
        current = parsers.pop()
        for action in current._actions:
            known.update(action.option_strings)
            if action.option_strings and action.nargs is None and action.const is None:
                valued.update(action.option_strings)
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
    joined, tokens = [], iter(argv)
    for token in tokens:
        if token in valued:
            value = next(tokens, None)
            if value is not None and value.startswith("-") and value not in known:
                joined.append(f"{token}={value}")
                continue
            joined.append(token)
            if value is not None:
                joined.append(value)
            continue
        joined.append(token)
    return joined


def _max_hours(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-hours", type=_hours, default=LIMITS.max_hours,
                        help=f"refuse a job estimated to take longer (default {LIMITS.max_hours:g})")


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _summary_line(args: argparse.Namespace, outcomes, seconds: float) -> str:
    labels = outcomes["classification"].tolist()
    what = "drawn population" if args.population else args.preset
    head = f"{what}: {len(labels)} couple(s), {args.days} days, seed {args.seed}, {args.engine} engine, {seconds:.2f}s"
    counts = ", ".join(f"{k} {v}" for k, v in Counter(labels).most_common())
    if len(labels) <= 20:
        each = " ".join(f"#{i}={label}" for i, label in enumerate(labels))
        return f"{head} | {each} | {counts}"
    if len(labels) <= 500:
        # One letter per couple keeps every couple's classification on one line.
        each = "".join(_LETTERS[label] for label in labels)
        legend = ", ".join(f"{v} {k}" for k, v in _LETTERS.items())
        return f"{head} | {counts} | by couple: {each} ({legend})"
    return f"{head} | {counts} (per couple in the outcomes table)"


def command_run(args: argparse.Namespace) -> int:
    """``cycles run``: sim.simulate, writing the daily table, outcomes and manifest."""
    result = api.simulate(args.couples if args.population else args.preset,
                          n_couples=None if args.population else args.couples, days=args.days, seed=args.seed,
                          overrides=args.overrides, interventions=args.interventions, engine=args.engine,
                          out=args.out, max_hours=args.max_hours, log=_say)
    print(_summary_line(args, result.outcomes, result.seconds))
    return 0


def command_sweep(args: argparse.Namespace) -> int:
    """``cycles sweep``: sim.sweep (and sim.write_report with --report)."""
    result = api.sweep(args.spec, args.out, workers=args.workers, dask=args.dask, force=args.force,
                       max_hours=args.max_hours, log=_say)
    if result.already_complete:
        print(f"{result.folder} already holds the complete results of this spec (use --force to run it again)")
        return 0
    manifest = result.manifest
    resumed = f", resumed after {result.resumed_chunks} finished chunks" if result.resumed_chunks else ""
    print(f"{manifest['name']}: {manifest['runs']:,} runs in {result.seconds:.1f}s on {result.executor}{resumed} "
          f"-> {result.folder}")
    if args.report:
        _print_report(api.write_report(result.folder))
    return 0


def command_report(args: argparse.Namespace) -> int:
    """``cycles report``: sim.write_report."""
    _print_report(api.write_report(args.folder, png=args.png))
    return 0


def _print_report(done: api.Report) -> None:
    pngs = f", {len(done.pngs)} PNGs in {done.pngs[0].parent}" if done.pngs else ""
    # The path last, so the line ends with what to open.
    print(f"report: {done.figures} figures, {done.bytes / 1e6:.1f} MB, built in {done.seconds:.1f}s{pngs}; "
          f"open {done.path}")


def command_study(args: argparse.Namespace) -> int:
    """``cycles study``: sim.virtual_study."""
    done = api.virtual_study(args.spec, args.out, samples=args.samples, sizes=args.sizes, formulas=args.formulas,
                             workers=args.workers, dask=args.dask, force=args.force, max_hours=args.max_hours,
                             log=_say)
    from sim.study.analysis import INTERACTION
    main = done.fits[0]["terms"][INTERACTION]
    line = (f"{done.manifest['name']}: interaction {main['estimate']:+.3f} (p {main['p']:.4f}) in a cohort of "
            f"{done.analysis['cohort']['couples']} couples")
    if done.power is not None:
        power = done.power
        focus = power[(power.term == INTERACTION) & (power.formula == done.fits[0]["formula"])]
        line += "; power " + ", ".join(f"N={r.n}: {r.power:.2f}" for r in focus.itertuples())
    print(f"{line}; {done.seconds:.1f}s -> {done.folder}")
    return 0


def command_diary(args: argparse.Namespace) -> int:
    """``cycles diary``: sim.simulate_diary."""
    done = api.simulate_diary(args.spec, args.out, force=args.force)
    print(f"{done.manifest['name']}: diary of {done.couples} couples, {done.rows:,} entries "
          f"({done.entries_kept:.0%} kept) in {done.seconds:.1f}s -> {done.folder / 'diary.parquet'} "
          f"(and diary.csv; true parameters in truth.parquet)")
    return 0


def command_fit(args: argparse.Namespace) -> int:
    """``cycles fit``: sim.fit_diary."""
    done = api.fit_diary(args.spec, args.out, estimator=args.estimator, force=args.force, progress=sys.stderr)
    for warning in done.warnings:
        print(f"cycles: warning: {warning}", file=sys.stderr)
    covered = done.calibration[done.calibration.level == 0.9].set_index("parameter")["coverage"]
    print(f"{done.manifest['name']}: {done.couples} couples fitted in {done.timings['fit_seconds']:.1f}s "
          f"({done.seconds:.1f}s with checks and what-ifs); 90% coverage on held-out diaries "
          + ", ".join(f"{k} {v:.0%}" for k, v in covered.items())
          + f"; {len(done.warnings)} warnings -> {done.report}")
    return 0


def command_sensitivity(args: argparse.Namespace) -> int:
    """``cycles sensitivity``: sim.sensitivity."""
    done = api.sensitivity(args.spec, args.out, method=args.method, outcomes=args.outcomes, workers=args.workers,
                           dask=args.dask, force=args.force, max_hours=args.max_hours, log=_say)
    key = "mu_star" if args.method == "morris" else "ST"
    tops = []
    for outcome, part in done.indices.groupby("outcome", sort=False):
        best = part.sort_values(key, ascending=False).head(3)
        tops.append(f"{outcome}: " + ", ".join(f"{p} {v:.2f}"
                                               for p, v in zip(best["parameter"], best[key], strict=True)))
    print(f"{done.manifest['name']}: {args.method}, {done.points:,} points in {done.seconds:.1f}s; top {key}: "
          + "; ".join(tops) + f" -> {done.folder}")
    return 0


def command_app(args: argparse.Namespace) -> int:
    """``cycles app``: start the SolaraViz app and say where it is (sim.app_server supervises it)."""
    from sim.app_server import serve_app
    return serve_app(args.host, args.port)


def command_demo(args: argparse.Namespace) -> int:
    """``cycles demo``: sim.demo."""
    out = api.demo(args.preset, days=args.days, seed=args.seed, overrides=args.overrides, out=args.out)
    print(f"{out}: {args.days} days of a {args.preset} couple, {out.stat().st_size / 1e6:.1f} MB, opens offline")
    return 0


def command_interventions(args: argparse.Namespace) -> int:
    """``cycles interventions``: the recipes, what each changes, and the change syntax."""
    from sim.interventions import markdown_recipes, syntax_help
    if args.markdown:
        print(markdown_recipes(), end="")
        return 0
    print(syntax_help())
    return 0


def command_params(args: argparse.Namespace) -> int:
    """``cycles params``: the declared parameters."""
    if args.markdown:
        print(P.markdown_table(), end="")
        return 0
    rows = P.table_rows()
    widths = {k: max(len(k), *(len(r[k]) for r in rows)) for k in ("name", "scope", "default", "range", "unit")}
    cols = list(widths)
    print("  ".join(c.ljust(widths[c]) for c in cols) + "  source")
    for r in rows:
        print("  ".join(r[c].ljust(widths[c]) for c in cols) + "  " + r["source"])
    return 0


def _expected_errors() -> tuple[type[BaseException], ...]:
    """Every kind of error that means bad input or a refused job (exit 2), never a bug."""
    from sim.app_server import AppError
    from sim.experiment.execution import ExecutorError
    from sim.experiment.spec import SpecError
    from sim.study.formula import FormulaError
    return (api.InputError, P.ParameterError, InterventionError, BudgetError, OutputBusy, SpecError, FormulaError,
            AppError, ExecutorError)


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def _internal_error(exc: BaseException, args: argparse.Namespace | None) -> str:
    """Write the traceback to a log file (the output folder if there is one, else the temp folder); say where."""
    import tempfile
    import traceback
    text = "".join(traceback.format_exception(exc))
    folder = None
    out = getattr(args, "out", None) or getattr(args, "folder", None)
    if out:
        candidate = Path(out) if Path(out).is_dir() else Path(out).parent
        if candidate.is_dir():
            folder = candidate
    for place in (folder, None):
        try:
            handle = tempfile.NamedTemporaryFile("w", prefix="cycles-error-", suffix=".log", dir=place,
                                                 delete=False)
            with handle:
                handle.write(f"cycles {' '.join(sys.argv[1:])}\n{text}")
            return handle.name
        except OSError:
            continue
    return "(no log: nowhere writable)"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cycles`` console command: the one error boundary."""
    from sim.processes import Terminated, stop_on_signals
    args = None
    expected = _expected_errors()
    try:
        with stop_on_signals():
            parser = build_parser()
            args = parser.parse_args(_values_joined(parser, sys.argv[1:] if argv is None else list(argv)))
            handler = {"run": command_run, "sweep": command_sweep, "report": command_report,
                       "study": command_study, "diary": command_diary, "fit": command_fit,
                       "sensitivity": command_sensitivity, "app": command_app,
                       "demo": command_demo, "params": command_params,
                       "interventions": command_interventions}[args.command]
            return handler(args)
    except expected as exc:
        print(f"cycles: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except Terminated as exc:
        print(f"cycles: stopped by {exc}; run the same command again to resume", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("cycles: interrupted; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:
        print("cycles: error: the job ran out of memory; expected a smaller job (fewer couples, days or cells)",
              file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - the boundary: anything else is a bug, reported in one line
        log = _internal_error(exc, args)
        print(f"cycles: internal error ({type(exc).__name__}: {_one_line(exc)[:200]}); this is a bug, "
              f"the traceback is in {log}", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
