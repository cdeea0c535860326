"""The ``cycles`` command: parses arguments and delegates; no model logic here."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from sim import params as P
from sim.interventions import InterventionError, plan
from sim.population import PRESETS, Override, make_population
from sim.storage import check_writable, write_json, write_parquet

EXIT_USAGE = 2
_LETTERS = {"escalating": "E", "cycling": "C", "settling": "S", "secure-stable": "s", "dissolved": "D"}


class UsageError(Exception):
    """Bad input: reported in one line, exit status 2, nothing written."""


def _whole_number(minimum: int):
    """An argparse type: a whole number of at least ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(
                f"value {text!r} is not allowed; expected a whole number of at least {minimum}")
        return value
    return parse


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 2:
        raise argparse.ArgumentTypeError(f"value {text!r} is not allowed; expected comma-separated whole numbers "
                                         "of couples, each at least 2")
    return sorted(set(sizes))


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors in one line with exit status 2."""

    def error(self, message: str) -> None:  # noqa: D102 - argparse hook
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``cycles`` command."""
    parser = _Parser(prog="cycles", description="Simulate the anxious-avoidant pursue-withdraw cycle in couples.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="simulate couples and write the daily table")
    run.add_argument("--preset", default="anxious-avoidant",
                     help=f"pairing, partner a first (default anxious-avoidant); one of {', '.join(PRESETS)}, "
                          "or any STYLE-STYLE of secure, anxious, avoidant, fearful")
    run.add_argument("--couples", type=_whole_number(1), default=1, help="number of couples (default 1)")
    run.add_argument("--population", action="store_true",
                     help="draw couples from realistic distributions instead of repeating the preset")
    run.add_argument("--days", type=_whole_number(1), default=365, help="days to simulate (default 365)")
    run.add_argument("--seed", type=_whole_number(0), default=0, help="root seed (default 0)")
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

    swp = sub.add_parser("sweep", help="run an experiment spec (experiments/*.toml) over many couples")
    swp.add_argument("spec", help="the experiment spec, e.g. experiments/support_balance.toml")
    swp.add_argument("--out", help="output folder (default results/NAME)")
    swp.add_argument("--workers", type=_whole_number(1), default=None,
                     help="worker processes (default: all cores; 1 runs in this process)")
    swp.add_argument("--dask", metavar="ADDRESS", help="run on a Dask cluster: tcp://HOST:PORT, or 'local'")
    swp.add_argument("--force", action="store_true", help="start over, replacing results of another spec")
    swp.add_argument("--report", action="store_true", help="write report.html into the results folder at the end")

    rep = sub.add_parser("report", help="write report.html (self-contained, works offline) for a results folder")
    rep.add_argument("folder", help="a results folder written by cycles sweep, e.g. results/support_balance")
    rep.add_argument("--png", action="store_true", help="also export every figure as PNG (needs Chromium)")

    std = sub.add_parser("study", help="run a virtual study: a cohort measured and analysed like a real one")
    std.add_argument("spec", help="a spec with a [study] section, e.g. experiments/support_balance_study.toml")
    std.add_argument("--out", help="output folder (default results/NAME)")
    std.add_argument("--samples", type=_whole_number(1), default=1,
                     help="independent virtual cohorts for power by simulation (default 1: no power analysis)")
    std.add_argument("--n", dest="sizes", type=_sizes, default=None, metavar="N,N,...",
                     help="cohort sizes for a power curve, e.g. 100,200,326,500,1000 (default: the spec's)")
    std.add_argument("--formula", dest="formulas", action="append", default=[],
                     help="another model to fit and report, e.g. 'anxiety_t2 ~ anxiety_t1_c + "
                          "perceived_responsiveness_t1_c' (repeatable)")
    std.add_argument("--workers", type=_whole_number(1), default=None, help="worker processes (default: all cores)")
    std.add_argument("--dask", metavar="ADDRESS", help="run the samples on a Dask cluster, or 'local'")

    sen = sub.add_parser("sensitivity", help="which parameters an outcome depends on (SALib: Morris or Sobol)")
    sen.add_argument("spec", help="a spec with a [sensitivity] section, e.g. experiments/sensitivity.toml")
    sen.add_argument("--method", choices=("morris", "sobol"), default="morris", help="default morris")
    sen.add_argument("--outcome", dest="outcomes", action="append", default=[],
                     help="an outcome to analyse, e.g. share_escalating (repeatable; default: the spec's)")
    sen.add_argument("--out", help="output folder (default results/NAME)")
    sen.add_argument("--workers", type=_whole_number(1), default=None, help="worker processes (default: all cores)")
    sen.add_argument("--dask", metavar="ADDRESS", help="run on a Dask cluster, or 'local'")

    app = sub.add_parser("app", help="the classroom app: watch a couple's cycle in the browser and change it live")
    app.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1: this computer only; anything else is "
                          "reachable from the network)")
    app.add_argument("--port", type=_whole_number(1), default=8765, help="port (default 8765)")

    demo = sub.add_parser("demo", help="a standalone animated HTML page of one couple's cycle (no Python needed)")
    demo.add_argument("--preset", default="anxious-avoidant", help="pairing, partner a first")
    demo.add_argument("--days", type=_whole_number(1), default=365, help="days to show (default 365)")
    demo.add_argument("--seed", type=_whole_number(0), default=0, help="root seed (default 0)")
    demo.add_argument("--set", dest="overrides", action="append", default=[], metavar="[WHO.]NAME=VALUE",
                      help="override a declared parameter (repeatable)")
    demo.add_argument("--out", default="demo.html", help="the HTML file to write (default demo.html)")

    ivs = sub.add_parser("interventions", help="list the intervention recipes and the change syntax")
    ivs.add_argument("--markdown", action="store_true", help="print the recipes as Markdown (as in docs/ODD.md)")

    prm = sub.add_parser("params", help="list every declared parameter")
    prm.add_argument("--markdown", action="store_true", help="print the table as Markdown (as in docs/ODD.md)")
    return parser


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
    """``cycles run``: simulate and write the daily table, outcomes and manifest."""
    out = _output_file(Path(args.out), (".parquet",))
    outcomes_path = out.with_name(out.stem + ".outcomes.parquet")
    manifest_path = out.with_name(out.stem + ".manifest.json")
    for path in (outcomes_path, manifest_path):
        _output_file(path, (".parquet", ".json"))
    overrides = [Override.parse(text).checked() for text in args.overrides]
    population = make_population(None if args.population else args.preset, args.couples, args.seed,
                                 drawn=args.population, overrides=overrides,
                                 intervention=args.interventions or None)

    started = time.perf_counter()
    if args.engine == "mesa":
        from sim.model import CoupleModel
        model = CoupleModel(population=population, days=args.days, seed=args.seed).run()
        daily, outcomes = model.daily_table(), model.outcomes()
    else:
        from sim.engine import simulate
        result = simulate(population, args.days, series_couples=range(population.n))
        daily, outcomes = result.series, result.outcomes
    seconds = time.perf_counter() - started
    outcomes.insert(0, "couple_id", range(population.n))
    outcomes.insert(1, "pairing", population.pairing)

    out.parent.mkdir(parents=True, exist_ok=True)
    write_parquet(daily, out)
    write_parquet(outcomes, outcomes_path)
    from sim.manifest import build, now
    write_json(build(command="run", arguments=vars(args), overrides=[o.__dict__ for o in overrides],
                     interventions=[change.text() for change in plan(args.interventions).changes],
                     couples=population.n, days=args.days, seed=args.seed, finished=now(),
                     seconds=round(seconds, 3), outputs=[str(out), str(outcomes_path)]), manifest_path)
    print(_summary_line(args, outcomes, seconds))
    return 0


def _output_file(path: Path, suffixes: tuple[str, ...]) -> Path:
    """An --out file: its name must end in one of ``suffixes`` and its folder must be writable."""
    if path.suffix.lower() not in suffixes:
        raise UsageError(f"--out: path {str(path)!r} is not allowed; expected a file name ending in {suffixes[0]}")
    try:
        check_writable(path)
    except OSError as exc:
        raise UsageError(f"--out: path {str(path)!r} is not writable ({exc}); expected a file in a writable folder") \
            from None
    return path


def _spec_and_folder(args: argparse.Namespace):
    """The validated spec of ``args.spec`` and its output folder (``--out`` or results/NAME), checked writable."""
    from sim.experiment.spec import SpecError, load
    try:
        design = load(args.spec)
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    out = Path(args.out) if args.out else Path("results") / design.spec.name
    try:
        check_writable(out / "manifest.json")
    except OSError as exc:
        raise UsageError(f"--out: path {str(out)!r} is not writable ({exc}); expected a writable folder") from None
    return design, out


def command_sweep(args: argparse.Namespace) -> int:
    """``cycles sweep``: run an experiment spec, resumably."""
    from sim.experiment.runner import SweepError, sweep
    design, out = _spec_and_folder(args)
    if design.spec.days is None or design.spec.replicates is None:
        raise UsageError(f"{args.spec}: a study spec (no days and replicates); run it with `cycles study`")
    print(f"{design.spec.name}: {design.n_cells:,} cells x {design.spec.replicates} couples = {design.n_runs:,} "
          f"runs of {design.spec.days} days -> {out}", file=sys.stderr)
    try:
        result = sweep(design, out, workers=args.workers, dask=args.dask, force=args.force)
    except SweepError as exc:
        raise UsageError(str(exc)) from None
    if result.already_complete:
        print(f"{out} already holds the complete results of this spec (use --force to run it again)")
        return 0
    resumed = f", resumed after {result.resumed_chunks} finished chunks" if result.resumed_chunks else ""
    print(f"{design.spec.name}: {result.runs:,} runs in {result.seconds:.1f}s on {result.executor}{resumed} -> {out}")
    if args.report:
        return command_report(argparse.Namespace(folder=str(out), png=False))
    return 0


def command_report(args: argparse.Namespace) -> int:
    """``cycles report``: the HTML report of a results folder."""
    from sim.report.page import PngExportError, build
    from sim.report.results import ResultsError
    try:
        done = build(args.folder, png=args.png)
    except ResultsError as exc:
        raise UsageError(str(exc)) from None
    except PngExportError as exc:
        raise UsageError(f"--png: {exc}") from None
    pngs = f", {len(done['pngs'])} PNGs in {done['pngs'][0].parent}" if done["pngs"] else ""
    print(f"{done['report']}: {done['figures']} figures, {done['bytes'] / 1e6:.1f} MB, "
          f"built in {done['seconds']:.1f}s{pngs}")
    return 0


def command_study(args: argparse.Namespace) -> int:
    """``cycles study``: a virtual cohort, its analysis and (optionally) power by simulation."""
    from sim.study.run import StudyError, run
    design, out = _spec_and_folder(args)
    if design.spec.study is None:
        raise UsageError(f"{args.spec}: no [study] section; `cycles study` needs one "
                         "(see experiments/support_balance_study.toml)")
    try:
        done = run(design, out, samples=args.samples, sizes=args.sizes, formulas=args.formulas,
                   workers=args.workers, dask=args.dask)
    except StudyError as exc:
        raise UsageError(str(exc)) from None
    from sim.study.analysis import INTERACTION
    main = done["fits"][0]["terms"][INTERACTION]
    line = (f"{design.spec.name}: interaction {main['estimate']:+.3f} (p {main['p']:.4f}) in a cohort of "
            f"{design.spec.study.couples} couples")
    if done["summary"] is not None:
        power = done["summary"]
        focus = power[(power.term == INTERACTION) & (power.formula == done["fits"][0]["formula"])]
        line += "; power " + ", ".join(f"N={r.n}: {r.power:.2f}" for r in focus.itertuples())
    print(f"{line}; {done['seconds']:.1f}s -> {out}")
    return 0


def command_sensitivity(args: argparse.Namespace) -> int:
    """``cycles sensitivity``: Morris screening or Sobol indices over the spec's uncertain parameters."""
    from sim.experiment.sensitivity import SensitivityError, run
    design, out = _spec_and_folder(args)
    if design.spec.days is None or design.spec.replicates is None:
        raise UsageError(f"{args.spec}: a sensitivity analysis needs days and replicates (couples per point)")
    try:
        done = run(design, out, args.method, outcomes=args.outcomes or None, workers=args.workers, dask=args.dask)
    except SensitivityError as exc:
        raise UsageError(str(exc)) from None
    key = "mu_star" if args.method == "morris" else "ST"
    tops = []
    for outcome, part in done["table"].groupby("outcome", sort=False):
        best = part.sort_values(key, ascending=False).head(3)
        tops.append(f"{outcome}: " + ", ".join(f"{p} {v:.2f}" for p, v in zip(best["parameter"], best[key])))
    print(f"{design.spec.name}: {args.method}, {done['points']:,} points in {done['seconds']:.1f}s; top {key}: "
          + "; ".join(tops) + f" -> {out}")
    return 0


def command_app(args: argparse.Namespace) -> int:
    """``cycles app``: start the SolaraViz app and say where it is."""
    import importlib.util
    import socket
    import subprocess
    missing = [m for m in ("solara", "solara_assets", "matplotlib", "altair") if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"the app needs the app extra ({', '.join(missing)} missing): pip install -e '.[app]'")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"cycles: note: listening on {args.host} makes the app reachable from other computers",
              file=sys.stderr)
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host, args.port)) == 0:
            raise UsageError(f"--port: port {args.port} is already in use; expected a free port")
    server = subprocess.Popen([sys.executable, "-m", "solara", "run", "sim.app", "--host", args.host,
                               "--port", str(args.port), "--production", "--no-open"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}/"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            if server.poll() is not None:
                raise UsageError(f"the app server stopped: {server.stderr.read().strip().splitlines()[-1:]}")
            with socket.socket() as probe:
                if probe.connect_ex((url.split("//")[1].split(":")[0], args.port)) == 0:
                    break
            time.sleep(0.2)
        print(f"The classroom app is ready at {url} (Ctrl-C to stop)", flush=True)
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
    return 0


def command_demo(args: argparse.Namespace) -> int:
    """``cycles demo``: the app's views as a standalone animated page."""
    from sim.classroom import write_demo
    from sim.model import CoupleModel
    out = _output_file(Path(args.out), (".html", ".htm"))
    overrides = [Override.parse(text).checked() for text in args.overrides]
    model = CoupleModel(args.preset, n_couples=1, seed=args.seed, overrides=overrides, days=args.days)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_demo(model, args.days, out)
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cycles`` console command."""
    try:
        args = build_parser().parse_args(argv)
        handler = {"run": command_run, "sweep": command_sweep, "report": command_report, "study": command_study,
                   "sensitivity": command_sensitivity, "app": command_app, "demo": command_demo,
                   "params": command_params, "interventions": command_interventions}[args.command]
        return handler(args)
    except (UsageError, P.ParameterError, InterventionError) as exc:
        print(f"cycles: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
