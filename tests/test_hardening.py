"""Bad input, as a hostile but fair reviewer would type it, across every command.

Each case in :data:`CASES` must end with exit status 2 and one line on stderr
that names the field or value at fault, with no traceback, and must leave the
working folder exactly as it was: nothing created, nothing changed. The cases
run in-process through ``sim.cli.main`` (the console command's entry point) in
a fresh folder that is also the working directory, so default outputs
(``results/NAME``, ``demo.html``) would land there if anything went wrong.

Beside the table: formula injection attempts create nothing; HTML in a spec
is escaped in the report; the spec grammar is fuzzed with hypothesis (any
spec either loads or is refused in one line); and, as real processes, two
commands on one folder, kill -9 then resume (byte-identical results), and
SIGTERM leaving no child process behind.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.cli import main
from sim.experiment.runner import FINISHED_CHUNKS

ROOT = Path(__file__).resolve().parents[1]

SWEEP = """name = "probe"
purpose = "A hardening probe."
days = 30
replicates = 2
seed = 1

[population]
pairing = "anxious-avoidant"
"""

STUDY = """name = "probe_study"
purpose = "A hardening probe of a study."
seed = 3

[population]
drawn = true

[study]
couples = 20
acclimation_days = 20
wave_gap_days = 30
window_days = 7
"""

SENSITIVITY = """name = "probe_sensitivity"
purpose = "A hardening probe of a sensitivity analysis."
days = 30
replicates = 2
seed = 4

[population]
pairing = "anxious-avoidant"

[sensitivity]
uncertain = ["responsiveness", "goal_support"]
trajectories = 2
"""

INJECTION = """anxiety_t2 ~ I('\\'' + str(__import__("os").system("touch INJECTED")) + '') + anxiety_t1_c"""


@dataclass
class Case:
    """One bad input: the arguments ({spec} is the spec file written from ``spec``), and words stderr must hold."""

    id: str
    argv: list[str]
    names: tuple[str, ...]
    spec: str | bytes | None = None
    files: dict[str, str | bytes] = field(default_factory=dict)
    needs: str | None = None          # a prepared folder copied in as results/ready: "sweep" or "study"


def sweep_spec(body: str, *extra: str) -> str:
    return body + "".join("\n" + e + "\n" for e in extra)


def replaced(body: str, old: str, new: str) -> str:
    assert old in body, old
    return body.replace(old, new)


def spec_cases(command: str, base: str) -> list[Case]:
    """Broken spec files, fed to ``command``."""
    c = command
    return [
        Case(f"{c}-missing-file", [c, "nowhere.toml"], ("nowhere.toml",)),
        Case(f"{c}-folder", [c, "folder"], ("folder", "spec file"), files={"folder/keep": ""}),
        Case(f"{c}-empty", [c, "{spec}"], ("name", "required"), spec=""),
        Case(f"{c}-binary", [c, "{spec}"], ("UTF-8",), spec=bytes(range(256))),
        Case(f"{c}-utf16", [c, "{spec}"], ("UTF-8",), spec=base.encode("utf-16")),
        Case(f"{c}-latin1", [c, "{spec}"], ("UTF-8",), spec=replaced(base, "hardening", "caf\u00e9").encode("latin-1")),
        Case(f"{c}-bom", [c, "{spec}"], ("byte-order mark",), spec="\ufeff" + base),
        Case(f"{c}-nul", [c, "{spec}"], ("NUL",), spec=base + "\x00"),
        Case(f"{c}-deep-list", [c, "{spec}"], ("nested too deeply",), spec=base + "x = " + "[" * 5000 + "]" * 5000),
        Case(f"{c}-too-big", [c, "{spec}"], ("bytes",), spec=base + "#" * 1_100_000),
        Case(f"{c}-not-toml", [c, "{spec}"], ("not valid TOML",), spec=base + "days = = 3\n"),
        Case(f"{c}-unknown-key", [c, "{spec}"], ("colour", "unknown key"), spec="colour = 'red'\n" + base),
        Case(f"{c}-name-html", [c, "{spec}"], ("name",),
             spec=replaced(base, base.splitlines()[0], 'name = "<img src=x onerror=alert(1)>"')),
        Case(f"{c}-name-path", [c, "{spec}"], ("name", "../x"),
             spec=replaced(base, base.splitlines()[0], 'name = "../x"')),
        Case(f"{c}-seed-negative", [c, "{spec}"], ("seed", "-1"), spec=replaced(base, "seed = ", "seed = -1 #")),
        Case(f"{c}-seed-text", [c, "{spec}"], ("seed", "'1'"), spec=replaced(base, "seed = ", "seed = '1' #")),
        Case(f"{c}-seed-float", [c, "{spec}"], ("seed", "1.5"), spec=replaced(base, "seed = ", "seed = 1.5 #")),
        Case(f"{c}-pairing-unknown", [c, "{spec}"], ("pairing", "clingy-distant"),
             spec=base.replace('pairing = "anxious-avoidant"', 'pairing = "clingy-distant"')
             .replace("drawn = true", 'pairing = "clingy-distant"')),
        Case(f"{c}-fixed-unknown", [c, "{spec}"], ("warmth",), spec=sweep_spec(base, "[fixed]\nwarmth = 0.3")),
        Case(f"{c}-fixed-range", [c, "{spec}"], ("responsiveness", "1.5"),
             spec=sweep_spec(base, "[fixed]\nresponsiveness = 1.5")),
        Case(f"{c}-fixed-text", [c, "{spec}"], ("responsiveness", "text"),
             spec=sweep_spec(base, "[fixed]\nresponsiveness = '0.5'")),
        Case(f"{c}-fixed-list", [c, "{spec}"], ("responsiveness", "single value"),
             spec=sweep_spec(base, "[fixed]\nresponsiveness = [0.5]")),
        Case(f"{c}-fixed-nan", [c, "{spec}"], ("responsiveness", "nan"),
             spec=sweep_spec(base, "[fixed]\nresponsiveness = nan")),
        Case(f"{c}-fixed-inf", [c, "{spec}"], ("responsiveness", "inf"),
             spec=sweep_spec(base, "[fixed]\nresponsiveness = inf")),
        Case(f"{c}-fixed-role", [c, "{spec}"], ("c.responsiveness",),
             spec=sweep_spec(base, "[fixed]\n'c.responsiveness' = 0.5")),
        Case(f"{c}-fixed-integer", [c, "{spec}"], ("dissolution_days", "2.5"),
             spec=sweep_spec(base, "[fixed]\ndissolution_days = 2.5")),
        Case(f"{c}-shares", [c, "{spec}"], ("share_anxious", "share_avoidant"),
             spec=sweep_spec(base, "[fixed]\nshare_anxious = 0.9\nshare_avoidant = 0.9")),
    ]


SWEEP_ONLY = [
    Case("sweep-days-true", ["sweep", "{spec}"], ("days", "True"), spec=replaced(SWEEP, "days = 30", "days = true")),
    Case("sweep-days-text", ["sweep", "{spec}"], ("days", "'30'"), spec=replaced(SWEEP, "days = 30", "days = '30'")),
    Case("sweep-days-zero", ["sweep", "{spec}"], ("days", "0"), spec=replaced(SWEEP, "days = 30", "days = 0")),
    Case("sweep-days-huge", ["sweep", "{spec}"], ("days", "10000000000000"),
         spec=replaced(SWEEP, "days = 30", "days = 10000000000000")),
    Case("sweep-days-float", ["sweep", "{spec}"], ("days", "30.5"), spec=replaced(SWEEP, "days = 30", "days = 30.5")),
    Case("sweep-days-missing", ["sweep", "{spec}"], ("days", "required"), spec=replaced(SWEEP, "days = 30\n", "")),
    Case("sweep-replicates-text", ["sweep", "{spec}"], ("replicates", "'10'"),
         spec=replaced(SWEEP, "replicates = 2", "replicates = '10'")),
    Case("sweep-replicates-zero", ["sweep", "{spec}"], ("replicates", "0"),
         spec=replaced(SWEEP, "replicates = 2", "replicates = 0")),
    Case("sweep-replicates-huge", ["sweep", "{spec}"], ("replicates",),
         spec=replaced(SWEEP, "replicates = 2", "replicates = 1000000").replace("days = 30", "days = 100000")),
    Case("sweep-purpose-empty", ["sweep", "{spec}"], ("purpose",), spec=replaced(SWEEP, '"A hardening probe."', '""')),
    Case("sweep-no-population", ["sweep", "{spec}"], ("population",),
         spec=replaced(SWEEP, '[population]\npairing = "anxious-avoidant"\n', "")),
    Case("sweep-two-populations", ["sweep", "{spec}"], ("only one of",),
         spec=replaced(SWEEP, 'pairing = "anxious-avoidant"', 'pairing = "anxious-avoidant"\ndrawn = true')),
    Case("sweep-pairings-empty", ["sweep", "{spec}"], ("pairings", "[]"),
         spec=replaced(SWEEP, 'pairing = "anxious-avoidant"', "pairings = []")),
    Case("sweep-pairings-unknown", ["sweep", "{spec}"], ("pairings", "secure-clingy"),
         spec=replaced(SWEEP, 'pairing = "anxious-avoidant"', 'pairings = ["secure-secure", "secure-clingy"]')),
    Case("sweep-drawn-text", ["sweep", "{spec}"], ("drawn", "'yes'"),
         spec=replaced(SWEEP, 'pairing = "anxious-avoidant"', "drawn = 'yes'")),
    Case("sweep-factor-booleans", ["sweep", "{spec}"], ("responsiveness", "True"),
         spec=sweep_spec(SWEEP, "[factors]\nresponsiveness = [true, false]")),
    Case("sweep-factor-empty", ["sweep", "{spec}"], ("responsiveness", "[]"),
         spec=sweep_spec(SWEEP, "[factors]\nresponsiveness = []")),
    Case("sweep-factor-text", ["sweep", "{spec}"], ("responsiveness", "'high'"),
         spec=sweep_spec(SWEEP, "[factors]\nresponsiveness = 'high'")),
    Case("sweep-factor-range-zero", ["sweep", "{spec}"], ("responsiveness", "num", "0"),
         spec=sweep_spec(SWEEP, "[factors]\nresponsiveness = {start = 0, stop = 1, num = 0}")),
    Case("sweep-factor-range-no-num", ["sweep", "{spec}"], ("responsiveness", "num", "missing"),
         spec=sweep_spec(SWEEP, "[factors]\nresponsiveness = {start = 0, stop = 1}")),
    Case("sweep-factor-range-extra", ["sweep", "{spec}"], ("responsiveness", "step"),
         spec=sweep_spec(SWEEP, "[factors]\nresponsiveness = {start = 0, stop = 1, num = 3, step = 2}")),
    Case("sweep-factor-range-out", ["sweep", "{spec}"], ("responsiveness", "2"),
         spec=sweep_spec(SWEEP, "[factors]\nresponsiveness = {start = 0, stop = 2, num = 3}")),
    Case("sweep-factor-range-many", ["sweep", "{spec}"], ("responsiveness", "num", "10000"),
         spec=sweep_spec(SWEEP, "[factors]\nresponsiveness = {start = 0, stop = 1, num = 100000}")),
    Case("sweep-factor-out-of-range", ["sweep", "{spec}"], ("responsiveness", "2"),
         spec=sweep_spec(SWEEP, "[factors]\nresponsiveness = [0.5, 2]")),
    Case("sweep-factor-unknown", ["sweep", "{spec}"], ("warmth",),
         spec=sweep_spec(SWEEP, "[factors]\nwarmth = [1, 2]")),
    Case("sweep-factor-population-scope", ["sweep", "{spec}"], ("share_anxious", "[fixed]"),
         spec=sweep_spec(SWEEP, "[factors]\nshare_anxious = [0.1, 0.2]")),
    Case("sweep-two-huge-factors", ["sweep", "{spec}"], ("cells", "1,000,000"),
         spec=sweep_spec(SWEEP, "[factors]\nresponsiveness = {start = 0, stop = 1, num = 10000}\n"
                                "goal_support = {start = 0, stop = 1, num = 10000}")),
    Case("sweep-intervention-unknown", ["sweep", "{spec}"], ("hug-more",),
         spec=sweep_spec(SWEEP, "[factors]\nintervention = ['none', 'hug-more']")),
    Case("sweep-intervention-number", ["sweep", "{spec}"], ("intervention",),
         spec=sweep_spec(SWEEP, "[factors]\nintervention = [1, 2]")),
    Case("sweep-pairing-factor-unknown", ["sweep", "{spec}"], ("pairing", "x-y"),
         spec=replaced(SWEEP, '[population]\npairing = "anxious-avoidant"\n', "[factors]\npairing = ['x-y']\n")),
    Case("sweep-pairing-factor-and-population", ["sweep", "{spec}"], ("pairing factor",),
         spec=sweep_spec(SWEEP, "[factors]\npairing = ['secure-secure']")),
    Case("sweep-sampling-method", ["sweep", "{spec}"], ("method", "grid"),
         spec=sweep_spec(SWEEP, "[sampling]\nmethod = 'grid'\npoints = 4\nbounds = {responsiveness = [0, 1]}")),
    Case("sweep-sampling-points-zero", ["sweep", "{spec}"], ("points", "0"),
         spec=sweep_spec(SWEEP, "[sampling]\nmethod = 'lhs'\npoints = 0\nbounds = {responsiveness = [0, 1]}")),
    Case("sweep-sampling-points-huge", ["sweep", "{spec}"], ("points", "1000000"),
         spec=sweep_spec(SWEEP, "[sampling]\nmethod = 'lhs'\npoints = 100000000\nbounds = {responsiveness = [0, 1]}")),
    Case("sweep-sampling-bounds-empty", ["sweep", "{spec}"], ("bounds", "{}"),
         spec=sweep_spec(SWEEP, "[sampling]\nmethod = 'lhs'\npoints = 4\nbounds = {}")),
    Case("sweep-sampling-bounds-out", ["sweep", "{spec}"], ("responsiveness", "0..1"),
         spec=sweep_spec(SWEEP, "[sampling]\nmethod = 'lhs'\npoints = 4\nbounds = {responsiveness = [0, 3]}")),
    Case("sweep-sampling-bounds-reversed", ["sweep", "{spec}"], ("responsiveness", "low < high"),
         spec=sweep_spec(SWEEP, "[sampling]\nmethod = 'lhs'\npoints = 4\nbounds = {responsiveness = [0.8, 0.2]}")),
    Case("sweep-sampling-bounds-three", ["sweep", "{spec}"], ("bounds", "responsiveness"),
         spec=sweep_spec(SWEEP, "[sampling]\nmethod = 'lhs'\npoints = 4\nbounds = {responsiveness = [0, 0.5, 1]}")),
    Case("sweep-sampling-and-factor", ["sweep", "{spec}"], ("responsiveness", "both a factor and sampled"),
         spec=sweep_spec(SWEEP, "[factors]\nresponsiveness = [0.2]",
                         "[sampling]\nmethod = 'lhs'\npoints = 4\nbounds = {responsiveness = [0, 1]}")),
    Case("sweep-record-negative", ["sweep", "{spec}"], ("sampled_couples", "-1"),
         spec=sweep_spec(SWEEP, "[record]\nsampled_couples = -1")),
    Case("sweep-record-every-zero", ["sweep", "{spec}"], ("series_every", "0"),
         spec=sweep_spec(SWEEP, "[record]\nseries_every = 0")),
    Case("sweep-chunk-zero", ["sweep", "{spec}"], ("chunk_cells", "0"),
         spec=replaced(SWEEP, "seed = 1", "seed = 1\nchunk_cells = 0")),
    Case("sweep-plan-named-none", ["sweep", "{spec}"], ("none",),
         spec=sweep_spec(SWEEP, "[interventions]\nnone = ['b.responsiveness=0.9']")),
    Case("sweep-plan-name-spaces", ["sweep", "{spec}"], ("my plan",),
         spec=sweep_spec(SWEEP, "[interventions]\n'my plan' = ['b.responsiveness=0.9']")),
    Case("sweep-plan-empty", ["sweep", "{spec}"], ("call", "[]"), spec=sweep_spec(SWEEP, "[interventions]\ncall = []")),
    Case("sweep-plan-bad-change", ["sweep", "{spec}"], ("call", "b.warmth"),
         spec=sweep_spec(SWEEP, "[interventions]\ncall = ['b.warmth=0.9']")),
    Case("sweep-study-spec", ["sweep", "{spec}"], ("cycles study",), spec=STUDY),
    Case("sweep-workers-zero", ["sweep", "{spec}", "--workers", "0"], ("--workers", "0"), spec=SWEEP),
    Case("sweep-workers-text", ["sweep", "{spec}", "--workers", "two"], ("--workers", "two"), spec=SWEEP),
    Case("sweep-dask-garbage", ["sweep", "{spec}", "--dask", "garbage"], ("--dask", "garbage"), spec=SWEEP),
    Case("sweep-dask-unreachable", ["sweep", "{spec}", "--dask", "tcp://127.0.0.1:1"], ("--dask", "127.0.0.1:1"),
         spec=SWEEP),
    Case("sweep-dask-port", ["sweep", "{spec}", "--dask", "tcp://127.0.0.1:99999"], ("--dask", "99999"), spec=SWEEP),
    Case("sweep-out-is-file", ["sweep", "{spec}", "--out", "taken"], ("taken", "file"), spec=SWEEP,
         files={"taken": "a file"}),
    Case("sweep-out-name-too-long", ["sweep", "{spec}", "--out", "r" * 300], ("--out",), spec=SWEEP),
    Case("sweep-out-under-file", ["sweep", "{spec}", "--out", "taken/sub"], ("taken",), spec=SWEEP,
         files={"taken": "a file"}),
    Case("sweep-max-hours-zero", ["sweep", "{spec}", "--max-hours", "0"], ("--max-hours", "0"), spec=SWEEP),
    Case("sweep-max-hours-nan", ["sweep", "{spec}", "--max-hours", "nan"], ("--max-hours", "nan"), spec=SWEEP),
    Case("sweep-over-time", ["sweep", str(ROOT / "experiments/support_balance.toml"), "--max-hours", "0.0001",
                             "--out", "big"], ("would take", "--max-hours"), spec=None),
    Case("sweep-over-memory", ["sweep", "{spec}"], ("memory",),
         spec=replaced(SWEEP, "replicates = 2", "replicates = 1000000").replace("days = 30", "days = 10")
         + "\n[factors]\nresponsiveness = {start = 0, stop = 1, num = 1000}\n"),
    Case("sweep-other-results", ["sweep", "{spec}", "--out", "results/ready"], ("results/ready", "--force"),
         spec=replaced(SWEEP, "seed = 1", "seed = 11"), needs="sweep"),
    Case("sweep-over-study", ["sweep", "{spec}", "--out", "results/ready"], ("results/ready", "--force"),
         spec=SWEEP, needs="study"),
    Case("sweep-corrupt-manifest", ["sweep", "{spec}", "--out", "junk"], ("manifest.json", "--force"), spec=SWEEP,
         files={"junk/manifest.json": "{not json"}),
    Case("sweep-manifest-list", ["sweep", "{spec}", "--out", "junk"], ("manifest.json", "--force"), spec=SWEEP,
         files={"junk/manifest.json": "[1, 2]"}),
    Case("sweep-corrupt-design", ["sweep", "{spec}", "--out", "junk"], ("design.json", "--force"), spec=SWEEP,
         files={"junk/chunks/design.json": "\x00\x01garbage"}),
    Case("sweep-unknown-option", ["sweep", "{spec}", "--frobnicate"], ("--frobnicate",), spec=SWEEP),
    Case("sweep-no-spec", ["sweep"], ("spec",)),
]

RUN = [
    Case("run-days-zero", ["run", "--days", "0"], ("--days", "0")),
    Case("run-days-negative", ["run", "--days", "-1"], ("--days", "-1")),
    Case("run-days-text", ["run", "--days", "abc"], ("--days", "abc")),
    Case("run-days-float", ["run", "--days", "1.5"], ("--days", "1.5")),
    Case("run-days-exponent", ["run", "--days", "1e3"], ("--days", "1e3")),
    Case("run-days-huge", ["run", "--days", "10000000000000"], ("--days", "10000000000000", "100,000")),
    Case("run-days-empty", ["run", "--days", ""], ("--days",)),
    Case("run-couples-zero", ["run", "--couples", "0"], ("--couples", "0")),
    Case("run-couples-negative", ["run", "--couples", "-5"], ("--couples", "-5")),
    Case("run-couples-huge", ["run", "--couples", "1000000000000"], ("--couples", "1000000000000")),
    Case("run-couples-text", ["run", "--couples", "many"], ("--couples", "many")),
    Case("run-over-memory", ["run", "--couples", "1000000", "--days", "100000"], ("memory", "--couples")),
    Case("run-mesa-over-time",
         ["run", "--engine", "mesa", "--couples", "2", "--days", "100000", "--max-hours", "0.001"],
         ("would take", "--max-hours")),
    Case("run-seed-negative", ["run", "--seed", "-1"], ("--seed", "-1")),
    Case("run-seed-huge", ["run", "--seed", str(2**64)], ("--seed", str(2**64))),
    Case("run-seed-text", ["run", "--seed", "lucky"], ("--seed", "lucky")),
    Case("run-preset-unknown", ["run", "--preset", "clingy-distant"], ("clingy-distant",)),
    Case("run-preset-empty", ["run", "--preset", ""], ("preset",)),
    Case("run-preset-half", ["run", "--preset", "anxious-"], ("anxious-",)),
    Case("run-preset-triple", ["run", "--preset", "secure-secure-secure"], ("secure-secure-secure",)),
    Case("run-preset-html", ["run", "--preset", "<script>alert(1)</script>"], ("<script>",)),
    Case("run-set-unknown", ["run", "--set", "warmth=0.3"], ("warmth", "0.3")),
    Case("run-set-range", ["run", "--set", "responsiveness=1.5"], ("responsiveness", "1.5")),
    Case("run-set-nan", ["run", "--set", "responsiveness=nan"], ("responsiveness", "nan")),
    Case("run-set-inf", ["run", "--set", "responsiveness=inf"], ("responsiveness", "inf")),
    Case("run-set-overflow", ["run", "--set", "responsiveness=1e400"], ("responsiveness", "1e400")),
    Case("run-set-hex", ["run", "--set", "responsiveness=0x1"], ("responsiveness", "0x1")),
    Case("run-set-empty-value", ["run", "--set", "responsiveness="], ("responsiveness",)),
    Case("run-set-no-name", ["run", "--set", "=0.5"], ("=0.5",)),
    Case("run-set-no-equals", ["run", "--set", "responsiveness"], ("responsiveness", "NAME=VALUE")),
    Case("run-set-unknown-role", ["run", "--set", "c.responsiveness=0.5"], ("c.responsiveness",)),
    Case("run-set-three-parts", ["run", "--set", "a.b.responsiveness=0.5"], ("a.b.responsiveness",)),
    Case("run-set-integer", ["run", "--set", "dissolution_days=2.5"], ("dissolution_days", "2.5")),
    Case("run-set-couple-per-role", ["run", "--set", "b.shock_day=4"], ("shock_day", "4")),
    Case("run-set-text", ["run", "--set", "anxiety=high"], ("anxiety", "high")),
    Case("run-set-code", ["run", "--set", "anxiety=__import__('os').getcwd()"], ("anxiety", "__import__")),
    Case("run-set-shares", ["run", "--population", "--set", "share_anxious=0.9", "--set", "share_avoidant=0.9"],
         ("share_anxious", "share_avoidant")),
    Case("run-intervene-garbage", ["run", "--intervene", "garbage"], ("garbage",)),
    Case("run-intervene-unknown-recipe", ["run", "--intervene", "hug-more from=10"], ("hug-more",)),
    Case("run-intervene-from-negative", ["run", "--intervene", "b.responsiveness=0.9 from=-1"], ("from", "-1")),
    Case("run-intervene-from-text", ["run", "--intervene", "checkin-ritual from=abc"], ("from", "abc")),
    Case("run-intervene-range", ["run", "--intervene", "b.responsiveness=5 from=10"], ("responsiveness", "5")),
    Case("run-intervene-every-zero", ["run", "--intervene", "b.responsiveness=0.9 every=0"], ("every", "0")),
    Case("run-intervene-ramp-negative", ["run", "--intervene", "b.responsiveness=0.9 ramp=-3"], ("ramp", "-3")),
    Case("run-intervene-unknown-option", ["run", "--intervene", "b.responsiveness=0.9 when=10"], ("when",)),
    Case("run-intervene-unknown-parameter", ["run", "--intervene", "b.warmth=0.9"], ("warmth",)),
    Case("run-engine-unknown", ["run", "--engine", "gpu"], ("--engine", "gpu")),
    Case("run-out-csv", ["run", "--out", "x.csv"], ("--out", "x.csv", ".parquet")),
    Case("run-out-empty", ["run", "--out", ""], ("--out",)),
    Case("run-out-proc", ["run", "--out", "/proc/cycles.parquet"], ("--out", "/proc")),
    Case("run-out-under-file", ["run", "--out", "taken/run.parquet"], ("--out", "taken"), files={"taken": "x"}),
    Case("run-out-folder", ["run", "--out", "place.parquet"], ("--out", "place.parquet"),
         files={"place.parquet/keep": ""}),
    Case("run-out-name-too-long", ["run", "--out", "r" * 245 + ".parquet"], ("--out", "temporary")),
    Case("run-max-hours-negative", ["run", "--max-hours", "-1"], ("--max-hours", "-1")),
    Case("run-max-hours-inf", ["run", "--max-hours", "inf"], ("--max-hours", "inf")),
    Case("run-max-hours-text", ["run", "--max-hours", "soon"], ("--max-hours", "soon")),
    Case("run-unknown-option", ["run", "--frobnicate"], ("--frobnicate",)),
    Case("no-command", [], ("command",)),
    Case("unknown-command", ["dance"], ("dance",)),
]

STUDY_ONLY = [
    Case("study-samples-zero", ["study", "{spec}", "--samples", "0"], ("--samples", "0"), spec=STUDY),
    Case("study-samples-huge", ["study", "{spec}", "--samples", "100000000"], ("--samples", "100000000"), spec=STUDY),
    Case("study-samples-over-time", ["study", "{spec}", "--samples", "1000000", "--n", "1000,5000"],
         ("would take", "--max-hours"), spec=STUDY),
    Case("study-n-negative", ["study", "{spec}", "--n", "-5,10"], ("--n", "-5,10")),
    Case("study-n-text", ["study", "{spec}", "--n", "ten"], ("--n", "ten"), spec=STUDY),
    Case("study-n-one", ["study", "{spec}", "--n", "1"], ("--n", "'1'"), spec=STUDY),
    Case("study-n-empty", ["study", "{spec}", "--n", ","], ("--n",), spec=STUDY),
    Case("study-n-huge", ["study", "{spec}", "--n", "100000000"], ("--n", "100000000"), spec=STUDY),
    Case("study-formula-injection", ["study", "{spec}", "--formula", INJECTION], ("formula", "'"), spec=STUDY),
    Case("study-formula-unbalanced", ["study", "{spec}", "--formula", "anxiety_t2 ~ (anxiety_t1_c + age"],
         ("formula", "parenthes"), spec=STUDY),
    Case("study-formula-closed-early", ["study", "{spec}", "--formula", "anxiety_t2 ~ anxiety_t1_c)("],
         ("formula", "')'"), spec=STUDY),
    Case("study-formula-terms", ["study", "{spec}", "--formula",
                                 "anxiety_t2 ~ " + " + ".join(["anxiety_t1_c"] * 5000)], ("formula",), spec=STUDY),
    Case("study-formula-deep", ["study", "{spec}", "--formula", "anxiety_t2 ~ " + "(" * 500 + "anxiety_t1_c"
                                + ")" * 500], ("formula",), spec=STUDY),
    Case("study-formula-unknown-column", ["study", "{spec}", "--formula", "anxiety_t2 ~ shoe_size"],
         ("formula", "shoe_size"), spec=STUDY),
    Case("study-formula-empty", ["study", "{spec}", "--formula", ""], ("formula",), spec=STUDY),
    Case("study-formula-no-outcome", ["study", "{spec}", "--formula", "~ anxiety_t1_c"], ("formula",), spec=STUDY),
    Case("study-formula-no-tilde", ["study", "{spec}", "--formula", "anxiety_t2 + anxiety_t1_c"], ("formula", "~"),
         spec=STUDY),
    Case("study-formula-call", ["study", "{spec}", "--formula", "anxiety_t2 ~ eval(anxiety_t1_c)"],
         ("formula", "eval"), spec=STUDY),
    Case("study-formula-attribute", ["study", "{spec}", "--formula", "anxiety_t2 ~ np.log(anxiety_t1_c)"],
         ("formula", "."), spec=STUDY),
    Case("study-formula-import", ["study", "{spec}", "--formula", "anxiety_t2 ~ __import__"],
         ("formula", "__import__"), spec=STUDY),
    Case("study-formula-lambda", ["study", "{spec}", "--formula", "anxiety_t2 ~ I(lambda: 1)"],
         ("formula", "lambda"), spec=STUDY),
    Case("study-formula-backtick", ["study", "{spec}", "--formula", "anxiety_t2 ~ `anxiety_t1_c`"],
         ("formula", "`"), spec=STUDY),
    Case("study-formula-transform-args", ["study", "{spec}", "--formula", "anxiety_t2 ~ C(anxiety_t1_c, Sum)"],
         ("formula", ","), spec=STUDY),
    Case("study-spec-formula-injection", ["study", "{spec}"], ("formulas", "'"),
         spec=STUDY + "formulas = [" + json.dumps(INJECTION) + "]\n"),
    Case("study-no-section", ["study", "{spec}"], ("[study]",), spec=SWEEP),
    Case("study-with-factors", ["study", "{spec}"], ("[factors]",),
         spec=STUDY + "\n[factors]\nresponsiveness = [0.2, 0.8]\n"),
    Case("study-couples-one", ["study", "{spec}"], ("couples", "1"),
         spec=replaced(STUDY, "couples = 20", "couples = 1")),
    Case("study-window-too-long", ["study", "{spec}"], ("window_days", "acclimation_days"),
         spec=replaced(STUDY, "window_days = 7", "window_days = 40")),
    Case("study-analysis-unknown", ["study", "{spec}"], ("analysis", "bayes"), spec=STUDY + "analysis = 'bayes'\n"),
    Case("study-gap-zero", ["study", "{spec}"], ("wave_gap_days", "0"),
         spec=replaced(STUDY, "wave_gap_days = 30", "wave_gap_days = 0")),
    Case("study-other-results", ["study", "{spec}", "--out", "results/ready"], ("results/ready", "--force"),
         spec=STUDY, needs="sweep"),
    Case("study-dask-garbage", ["study", "{spec}", "--dask", "nowhere"], ("--dask", "nowhere"), spec=STUDY),
]

SENSITIVITY_ONLY = [
    Case("sensitivity-uncertain-empty", ["sensitivity", "{spec}"], ("uncertain", "[]"),
         spec=replaced(SENSITIVITY, 'uncertain = ["responsiveness", "goal_support"]', "uncertain = []")),
    Case("sensitivity-uncertain-unknown", ["sensitivity", "{spec}"], ("warmth",),
         spec=replaced(SENSITIVITY, '"goal_support"]', '"warmth"]')),
    Case("sensitivity-uncertain-twice", ["sensitivity", "{spec}"], ("uncertain", "once"),
         spec=replaced(SENSITIVITY, '"goal_support"]', '"responsiveness"]')),
    Case("sensitivity-uncertain-text", ["sensitivity", "{spec}"], ("uncertain", "some"),
         spec=replaced(SENSITIVITY, 'uncertain = ["responsiveness", "goal_support"]', "uncertain = 'some'")),
    Case("sensitivity-bounds-out", ["sensitivity", "{spec}"], ("responsiveness", "0..1"),
         spec=SENSITIVITY + "bounds = {responsiveness = [0, 5]}\n"),
    Case("sensitivity-trajectories-one", ["sensitivity", "{spec}"], ("trajectories", "1"),
         spec=replaced(SENSITIVITY, "trajectories = 2", "trajectories = 1")),
    Case("sensitivity-base-samples-zero", ["sensitivity", "{spec}"], ("base_samples", "0"),
         spec=SENSITIVITY + "base_samples = 0\n"),
    Case("sensitivity-outcomes-empty", ["sensitivity", "{spec}"], ("outcomes",), spec=SENSITIVITY + "outcomes = []\n"),
    Case("sensitivity-outcomes-unknown", ["sensitivity", "{spec}"], ("happiness",),
         spec=SENSITIVITY + "outcomes = ['happiness']\n"),
    Case("sensitivity-outcome-flag", ["sensitivity", "{spec}", "--outcome", "happiness"], ("--outcome", "happiness"),
         spec=SENSITIVITY),
    Case("sensitivity-method", ["sensitivity", "{spec}", "--method", "fast"], ("--method", "fast"), spec=SENSITIVITY),
    Case("sensitivity-no-section", ["sensitivity", "{spec}"], ("[sensitivity]",), spec=SWEEP),
    Case("sensitivity-with-factors", ["sensitivity", "{spec}"], ("[factors]",),
         spec=replaced(SENSITIVITY, "[sensitivity]", "[factors]\ngoal_support = [0.2]\n\n[sensitivity]")),
    Case("sensitivity-no-days", ["sensitivity", "{spec}"], ("days",), spec=replaced(SENSITIVITY, "days = 30\n", "")),
    Case("sensitivity-over-time", ["sensitivity", "{spec}", "--max-hours", "0.0001"], ("would take",),
         spec=replaced(SENSITIVITY, "trajectories = 2", "trajectories = 10000").replace("days = 30", "days = 3650")),
    Case("sensitivity-other-results", ["sensitivity", "{spec}", "--out", "results/ready"], ("--force",),
         spec=SENSITIVITY, needs="sweep"),
]

REPORT = [
    Case("report-missing", ["report", "nowhere"], ("nowhere",)),
    Case("report-file", ["report", "plain.txt"], ("plain.txt",), files={"plain.txt": "x"}),
    Case("report-empty-folder", ["report", "empty"], ("empty",), files={"empty/.keep": ""}),
    Case("report-manifest-junk", ["report", "results/ready"], ("manifest.json",), needs="sweep",
         files={"results/ready/manifest.json": "{junk"}),
    Case("report-manifest-binary", ["report", "results/ready"], ("manifest.json",), needs="sweep",
         files={"results/ready/manifest.json": bytes(range(256))}),
    Case("report-manifest-list", ["report", "results/ready"], ("manifest.json", "list"), needs="sweep",
         files={"results/ready/manifest.json": "[]"}),
    Case("report-manifest-deep", ["report", "results/ready"], ("manifest.json",), needs="sweep",
         files={"results/ready/manifest.json": "[" * 100_000 + "]" * 100_000}),
    Case("report-manifest-version", ["report", "results/ready"], ("format",), needs="sweep",
         files={"results/ready/manifest.json": json.dumps({"format_version": 1})}),
    Case("report-manifest-shape", ["report", "results/ready"], ("manifest.json", "spec_resolved"), needs="sweep",
         files={"results/ready/manifest.json": "MANIFEST_WITHOUT_SPEC"}),
    Case("report-cells-junk", ["report", "results/ready"], ("cells.parquet",), needs="sweep",
         files={"results/ready/cells.parquet": b"PAR1 not really"}),
    Case("report-runs-junk", ["report", "results/ready"], ("runs.parquet",), needs="sweep",
         files={"results/ready/runs.parquet": b""}),
    Case("report-series-junk", ["report", "results/ready"], ("series.parquet",), needs="sweep",
         files={"results/ready/series.parquet": b"\x00" * 100}),
    Case("report-study-folder", ["report", "results/ready"], ("cycles study",), needs="study"),
    Case("report-unknown-option", ["report", "results/ready", "--pdf"], ("--pdf",), needs="sweep"),
]

DEMO = [
    Case("demo-days-zero", ["demo", "--days", "0"], ("--days", "0")),
    Case("demo-days-huge", ["demo", "--days", "100000000"], ("--days", "100000000", "3,650")),
    Case("demo-preset-unknown", ["demo", "--preset", "clingy-distant"], ("clingy-distant",)),
    Case("demo-out-extension", ["demo", "--out", "demo.txt"], ("--out", "demo.txt", ".html")),
    Case("demo-out-under-file", ["demo", "--out", "taken/demo.html"], ("--out", "taken"), files={"taken": "x"}),
    Case("demo-set-unknown", ["demo", "--set", "warmth=1"], ("warmth",)),
    Case("demo-set-range", ["demo", "--set", "anxiety=9"], ("anxiety", "9")),
    Case("demo-seed-negative", ["demo", "--seed", "-3"], ("--seed", "-3")),
    Case("demo-out-name-too-long", ["demo", "--out", "d" * 250 + ".html"], ("--out",)),
]

APP = [
    Case("app-port-huge", ["app", "--port", "99999"], ("--port", "99999")),
    Case("app-port-zero", ["app", "--port", "0"], ("--port", "0")),
    Case("app-port-text", ["app", "--port", "http"], ("--port", "http")),
    Case("app-port-negative", ["app", "--port", "-80"], ("--port", "-80")),
    Case("app-host-bad", ["app", "--host", "bad host!"], ("--host", "bad host!")),
    Case("app-host-empty", ["app", "--host", ""], ("--host",)),
    Case("app-port-in-use", ["app", "--port", "{busy_port}"], ("--port", "in use")),
]

OTHER = [
    Case("interventions-unknown-option", ["interventions", "--json"], ("--json",)),
    Case("interventions-extra-argument", ["interventions", "checkin-ritual"], ("checkin-ritual",)),
    Case("params-unknown-option", ["params", "--csv"], ("--csv",)),
]

CASES = (RUN + spec_cases("sweep", SWEEP) + SWEEP_ONLY + spec_cases("study", STUDY) + STUDY_ONLY
         + spec_cases("sensitivity", SENSITIVITY) + SENSITIVITY_ONLY + REPORT + DEMO + APP + OTHER)


def test_the_table_is_large_and_every_case_is_distinct():
    assert len(CASES) >= 150
    assert len({c.id for c in CASES}) == len(CASES)
    assert len({(tuple(c.argv), c.spec if isinstance(c.spec, bytes) else str(c.spec), str(c.files), c.needs)
                for c in CASES}) == len(CASES)
    commands = {c.argv[0] for c in CASES if c.argv}
    assert {"run", "sweep", "study", "sensitivity", "report", "demo", "app", "interventions"} <= commands


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every file and folder under ``folder`` with its size and content hash: what 'unchanged' means."""
    state = {}
    for path in sorted(folder.rglob("*")):
        relative = str(path.relative_to(folder))
        if path.is_dir():
            state[relative] = ("folder",)
        else:
            state[relative] = (path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest())
    return state


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A finished sweep and a finished study, copied into a case's folder as results/ready."""
    place = tmp_path_factory.mktemp("prepared")
    (place / "sweep.toml").write_text(SWEEP)
    (place / "study.toml").write_text(STUDY)
    assert main(["sweep", str(place / "sweep.toml"), "--out", str(place / "sweep"), "--workers", "1"]) == 0
    assert main(["study", str(place / "study.toml"), "--out", str(place / "study"), "--workers", "1"]) == 0
    return place


@pytest.fixture(scope="module")
def busy_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


class RanAway(BaseException):
    """A case that was not refused but started a job (BaseException: the CLI's boundary must not catch it)."""


def _ran_away(signum, frame):
    raise RanAway("the command started a job instead of refusing it")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_in_one_line_and_changes_nothing(case, tmp_path, monkeypatch, capsys, prepared,
                                                               busy_port):
    monkeypatch.chdir(tmp_path)
    if case.needs:
        shutil.copytree(prepared / case.needs, tmp_path / "results" / "ready")
    for name, content in case.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content == "MANIFEST_WITHOUT_SPEC":
            manifest = json.loads(path.read_text())
            del manifest["spec_resolved"]
            content = json.dumps(manifest)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    if case.spec is not None:
        spec = tmp_path / "spec.toml"
        spec.write_bytes(case.spec if isinstance(case.spec, bytes) else case.spec.encode())
    argv = [a.replace("{spec}", "spec.toml").replace("{busy_port}", str(busy_port)) for a in case.argv]
    before = snapshot(tmp_path)
    capsys.readouterr()
    previous = signal.signal(signal.SIGALRM, _ran_away)
    signal.alarm(60)           # a refusal takes well under a second; a case that started a job is a failure
    try:
        code = main(argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("cycles: error: "), err
    assert "Traceback" not in err and "Traceback" not in out
    for name in case.names:
        assert name in lines[0], (name, lines[0])
    assert snapshot(tmp_path) == before


def test_a_genuine_internal_error_is_one_line_exit_1_with_the_traceback_in_a_log(tmp_path, monkeypatch, capsys):
    import sim.cli

    def broken(args):
        raise RuntimeError("a bug on purpose")
    monkeypatch.setattr(sim.cli, "command_params", broken)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)
    assert main(["params"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("cycles: internal error (RuntimeError: a bug on purpose)")
    log = Path(err.rsplit(" ", 1)[1])
    assert log.parent == tmp_path and "Traceback" in log.read_text() and "a bug on purpose" in log.read_text()


def test_a_job_prints_its_estimate_before_it_starts(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--couples", "3", "--days", "40", "--out", "r.parquet"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("cycles: estimate: 3 couple(s) x 40 days (batch engine), 120 couple-days, peak memory ")


# --- injection ---------------------------------------------------------------------------------------------

INJECTIONS = [
    INJECTION,
    "anxiety_t2 ~ I(__import__('os').system('touch INJECTED'))",
    "anxiety_t2 ~ anxiety_t1_c + I(open('INJECTED', 'w'))",
    'anxiety_t2 ~ Q("anxiety_t1_c") + I(exec("open(\'INJECTED\',\'w\')"))',
    "anxiety_t2 ~ anxiety_t1_c.__class__",
    "anxiety_t2 ~ center(anxiety_t1_c) + C(__import__('os').system('touch INJECTED'))",
    "anxiety_t2 ~ I(anxiety_t1_c)\n+ I(__import__('os').system('touch INJECTED'))",
    "anxiety_t2 ~ anxiety_t1_c; import os; os.system('touch INJECTED')",
    "anxiety_t2 ~ I(anxiety_t1_c if open('INJECTED','w') else 0)",
    "anxiety_t2 ~ I([x for x in ().__class__.__bases__[0].__subclasses__()])",
]


@pytest.mark.parametrize("formula", INJECTIONS)
def test_formula_injection_creates_nothing(formula, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "study.toml").write_text(STUDY)
    assert main(["study", "study.toml", "--formula", formula]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    (tmp_path / "inside.toml").write_text(STUDY + "formulas = [" + json.dumps(formula) + "]\n")
    assert main(["study", "inside.toml"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inside.toml", "study.toml"]


def test_text_from_a_spec_is_escaped_in_the_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hostile = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    (tmp_path / "spec.toml").write_text(replaced(SWEEP, '"A hardening probe."', json.dumps(hostile)))
    assert main(["sweep", "spec.toml", "--out", "out", "--workers", "1", "--report"]) == 0
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<img src=x" not in page and "<script>alert(2)" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


# --- the spec grammar, fuzzed ---------------------------------------------------------------------------------

TOML_VALUES = st.one_of(
    st.booleans().map(lambda b: "true" if b else "false"),
    st.integers(-2**63, 2**63 - 1).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda x: repr(x).replace("inf", "inf").replace("nan", "nan")),
    st.text(max_size=20).map(json.dumps),
    st.lists(st.integers(-5, 5), max_size=4).map(str),
    st.just("{start = 0, stop = 1, num = 0}"),
    st.just("{}"),
    st.just("[[1], [2]]"),
)
KEYS = st.sampled_from(["name", "purpose", "days", "replicates", "seed", "chunk_cells", "population.pairing",
                        "population.drawn", "population.pairings", "fixed.responsiveness", "fixed.shock_day",
                        "fixed.'b.goal_support'", "fixed.share_anxious", "factors.responsiveness",
                        "factors.intervention", "factors.pairing", "record.sampled_couples", "record.series_every",
                        "sampling.method", "sampling.points", "sampling.bounds", "study.couples",
                        "study.window_days", "study.formulas", "sensitivity.uncertain", "interventions.call",
                        "discovery.outcome", "discovery.inputs", "discovery.threshold", "discovery.step"])


def _with_value(body: str, key: str, value: str) -> str:
    """``body`` with ``key`` (dotted: table.key) set to the TOML text ``value``, replacing any earlier line."""
    table, _, name = key.rpartition(".")
    lines = [line for line in body.splitlines() if not (line.split("=")[0].strip() == name.strip("'") and
                                                       not table)]
    text = "\n".join(lines) + "\n"
    if table:
        return text + f"\n[{table}]\n{name} = {value}\n" if f"[{table}]" not in text else \
            text.replace(f"[{table}]\n", f"[{table}]\n{name} = {value}\n", 1)
    return f"{name} = {value}\n" + text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(base=st.sampled_from([SWEEP, STUDY, SENSITIVITY]), edits=st.lists(st.tuples(KEYS, TOML_VALUES), max_size=3))
def test_any_spec_either_loads_or_is_refused_in_one_line(base, edits, tmp_path_factory):
    from sim.experiment.spec import SpecError, load
    body = base
    for key, value in edits:
        body = _with_value(body, key, value)
    path = tmp_path_factory.getbasetemp() / "fuzzed.toml"
    path.write_text(body)
    try:
        load(path)
    except SpecError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith(str(path))
        assert "Traceback" not in message


# --- real processes ---------------------------------------------------------------------------------------------

SLOW_SWEEP = replaced(SWEEP, "days = 30", "days = 3000").replace("replicates = 2", "replicates = 200") + \
    "chunk_cells = 1\n[factors]\nresponsiveness = {start = 0, stop = 1, num = 24}\n"
SLOW_SWEEP = SLOW_SWEEP.replace("chunk_cells = 1\n[factors]", "[factors]").replace("seed = 1",
                                                                                   "seed = 1\nchunk_cells = 1")


def cycles(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sim.cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def children_of(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (from /proc: no psutil needed)."""
    found, frontier = [], [pid]
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found += kids
        frontier += kids
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def chunks_done(folder: Path) -> int:
    return len(list((folder / "chunks").glob(FINISHED_CHUNKS))) if (folder / "chunks").exists() else 0


def test_two_commands_on_one_folder(tmp_path):
    (tmp_path / "f.toml").write_text(SLOW_SWEEP)
    (tmp_path / "g.toml").write_text(SLOW_SWEEP.replace("seed = 1", "seed = 2"))
    first = cycles("sweep", "f.toml", "--out", "D", "--workers", "1", cwd=tmp_path)
    try:
        wait_for(lambda: chunks_done(tmp_path / "D") >= 1)
        for spec, extra in (("g.toml", ["--force"]), ("f.toml", [])):
            second = subprocess.run([sys.executable, "-m", "sim.cli", "sweep", spec, "--out", "D", *extra],
                                    cwd=tmp_path, capture_output=True, text=True, timeout=120)
            assert second.returncode == 2, second.stderr
            lines = second.stderr.strip().splitlines()
            assert "in use by another cycles command" in lines[-1] and "Traceback" not in second.stderr
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=60)


def test_kill_9_then_resume_gives_byte_identical_results(tmp_path):
    (tmp_path / "f.toml").write_text(SLOW_SWEEP)
    whole = subprocess.run([sys.executable, "-m", "sim.cli", "sweep", "f.toml", "--out", "whole", "--workers", "2"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr
    killed = cycles("sweep", "f.toml", "--out", "killed", "--workers", "2", cwd=tmp_path)
    wait_for(lambda: chunks_done(tmp_path / "killed") >= 3)
    workers = children_of(killed.pid)
    killed.kill()
    killed.wait()
    assert chunks_done(tmp_path / "killed") < 24
    wait_for(lambda: not any(alive(p) for p in workers), timeout=30)      # the pool died with its command
    # A chunk cut short on disk and a temporary left by the kill: the resume must recompute the one and
    # remove the other, not trust or keep them.
    finished = sorted((tmp_path / "killed" / "chunks").glob(FINISHED_CHUNKS))
    finished[0].write_bytes(finished[0].read_bytes()[:100])
    (tmp_path / "killed" / ".runs.parquet.abcdefgh.part").write_bytes(b"")
    resumed = subprocess.run([sys.executable, "-m", "sim.cli", "sweep", "f.toml", "--out", "killed", "--workers", "2"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed after" in resumed.stdout
    for name in ("runs.parquet", "cells.parquet", "series.parquet"):
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "killed" / name).read_bytes(), name
    assert not list((tmp_path / "killed").rglob("*.part"))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_stops_the_sweep_and_every_worker(tmp_path, signum):
    (tmp_path / "f.toml").write_text(SLOW_SWEEP)
    sweep = cycles("sweep", "f.toml", "--out", "D", "--workers", "2", cwd=tmp_path)
    wait_for(lambda: chunks_done(tmp_path / "D") >= 1)
    workers = children_of(sweep.pid)
    assert workers
    sweep.send_signal(signum)
    _, err = sweep.communicate(timeout=60)
    assert sweep.returncode == 128 + signum
    name = signal.Signals(signum).name
    assert err.strip().splitlines()[-1] == f"cycles: stopped by {name}; run the same command again to resume"
    assert "Traceback" not in err
    wait_for(lambda: not any(alive(p) for p in workers), timeout=30)


def test_ctrl_c_says_interrupted_and_exits_130(tmp_path):
    (tmp_path / "f.toml").write_text(SLOW_SWEEP)
    sweep = cycles("sweep", "f.toml", "--out", "D", "--workers", "1", cwd=tmp_path)
    wait_for(lambda: chunks_done(tmp_path / "D") >= 1)
    sweep.send_signal(signal.SIGINT)
    _, err = sweep.communicate(timeout=60)
    assert sweep.returncode == 130
    assert err.strip().splitlines()[-1] == "cycles: interrupted; run the same command again to resume"
    assert "Traceback" not in err


def test_sigterm_to_the_app_leaves_no_server(tmp_path):
    pytest.importorskip("solara")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = cycles("app", "--port", str(port), cwd=tmp_path)
    try:
        wait_for(lambda: app.poll() is not None or bool(children_of(app.pid)), timeout=60)
        server = children_of(app.pid)
        assert server
        wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0 or app.poll() is not None, 120)
        app.send_signal(signal.SIGTERM)
        _, err = app.communicate(timeout=60)
        assert "Traceback" not in err
        wait_for(lambda: not any(alive(p) for p in server), timeout=30)
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0
    finally:
        if app.poll() is None:
            app.kill()
