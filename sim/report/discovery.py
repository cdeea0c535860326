"""Report figures for a sweep with [discovery]: PRIM's coverage-density trade-off and the boxes it found.

The tables are the sweep's ``boxes.parquet`` and ``peeling.parquet``
(sim.experiment.discovery); for a finished folder without them (written
before the spec had the section's files, or removed) they are worked out
from runs.parquet in memory, the same way, and not written: only the sweep
writes into its results, beside the manifest that records them.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from pydantic import ValidationError

from sim.experiment import discovery
from sim.experiment.spec import DiscoverySpec, Spec
from sim.report.panel import Panel
from sim.report.results import Results, ResultsError
from sim.schema import CLASS_COLOURS, DISCOVERY_FILES
from sim.selectors import ParameterKey

# What couples do, per classification: the verb of a caption ("couples ... escalate in 61% of runs").
VERBS = {"escalating": "escalate", "cycling": "keep cycling", "settling": "settle", "secure-stable": "stay secure",
         "dissolved": "dissolve"}
BOX_COLOUR = "#8e44ad"        # a box of an outcome that is not one classification (several, or a threshold)
RANGE_COLOUR = "#d5d8dc"


def findings(results: Results) -> tuple[DiscoverySpec, discovery.Discovery] | None:
    """The spec's [discovery] settings and PRIM's tables for this folder, or None when the spec has no [discovery]."""
    resolved = results.manifest["spec_resolved"]["spec"]
    if resolved.get("discovery") is None:
        return None
    try:
        spec = Spec.model_validate(resolved)
    except ValidationError as exc:
        raise ResultsError(f"{results.folder}/manifest.json: the spec it records does not validate "
                           f"({exc.errors()[0]['msg']}); run the sweep again") from None
    except ValueError as exc:           # a parameter or intervention this version does not know
        raise ResultsError(f"{results.folder}/manifest.json: the spec it records does not validate ({exc}); "
                           "run the sweep again") from None
    settings = spec.discovery
    boxes_file, peeling_file = (results.folder / name for name in DISCOVERY_FILES)
    if boxes_file.exists() and peeling_file.exists():
        try:
            return settings, discovery.Discovery(pd.read_parquet(peeling_file), pd.read_parquet(boxes_file))
        except Exception as exc:  # noqa: BLE001 - pyarrow reports junk files in several ways
            raise ResultsError(f"{results.folder}: {DISCOVERY_FILES[0]} or {DISCOVERY_FILES[1]} is not a readable "
                               f"Parquet file ({' '.join(str(exc).split())[:120]}); run the sweep again") from None
    inputs = spec.discovery_inputs()
    runs = results.runs([*inputs, *discovery.outcome_columns(settings)])
    return settings, discovery.discover(runs, settings, inputs, discovery.input_ranges(spec))


def input_label(key: str) -> str:
    """An input in words: ``a.anxiety`` -> "partner a's anxiety", ``goal_support`` -> "goal support"."""
    parsed = ParameterKey.parse(key)
    name = parsed.name.replace("_", " ")
    if parsed.selector is None:
        return name
    if parsed.selector in ("a", "b"):
        return f"partner {parsed.selector}'s {name}"
    return f"{parsed.selector} partners' {name}"


def number(value: float) -> str:
    """A limit as the caption and the figure print it: three significant digits."""
    return f"{value:.3g}"


def limit_words(row: pd.Series) -> str:
    """One restricted input of a box in words: "anxiety above 3.82", "below 0.4", "between 2.1 and 5"."""
    low_cut, high_cut = row["lower"] > row["range_low"], row["upper"] < row["range_high"]
    label = input_label(row["input"])
    if low_cut and high_cut:
        return f"{label} between {number(row['lower'])} and {number(row['upper'])}"
    if low_cut:
        return f"{label} above {number(row['lower'])}"
    return f"{label} below {number(row['upper'])}"


def _joined(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def outcome_words(settings) -> tuple[str, str]:
    """What the runs of interest do, as a verb phrase and as a noun phrase for "all ... runs"."""
    if settings.classes is not None:
        return " or ".join(VERBS[c] for c in settings.classes), "runs that " + " or ".join(
            VERBS[c] for c in settings.classes)
    column = f"{settings.outcome.replace('_', ' ')} {'above' if settings.above else 'below'} {settings.threshold:g}"
    return f"have {column}", f"runs with {column}"


SIGNIFICANCE = 0.05          # a limit whose quasi-p-values all exceed this is called weak in the caption


def weak_limits(restricted: pd.DataFrame) -> list[str]:
    """The restricted inputs whose limits PRIM's quasi-p-values do not support at 5%, with the smallest p."""
    weak = []
    for _, row in restricted.iterrows():
        p = pd.Series([row["qp_lower"], row["qp_upper"]]).dropna()
        if len(p) and p.min() > SIGNIFICANCE:
            weak.append(f"{input_label(row['input'])} (quasi-p {p.min():.2g})")
    return weak


def box_sentences(settings, trajectory: pd.DataFrame, boxes: pd.DataFrame) -> list[str]:
    """Each chosen box as a sentence; its numbers are the tables' (density, coverage, the base rate)."""
    verb, noun = outcome_words(settings)

    def start(number_: int) -> float:
        return trajectory[(trajectory["box"] == number_) & (trajectory["step"] == 0)]["density"].iloc[0]

    sentences = []
    for number_, part in boxes.groupby("box", sort=True):
        chosen = trajectory[(trajectory["box"] == number_) & trajectory["chosen"]].iloc[0]
        restricted = part[part["restricted"]]
        outside = "" if number_ == 1 else ("outside box 1, " if number_ == 2 else f"outside boxes 1-{number_ - 1}, ")
        if restricted.empty:
            sentence = (f"{outside}no range of any input does better than the runs together: couples {verb} in "
                        f"{chosen['density']:.0%} of them (box {number_}).")
        else:
            rate = f"the base rate is {start(1):.0%}" if number_ == 1 else f"{start(number_):.0%} of the runs left do"
            sentence = (f"{outside}couples with {_joined([limit_words(r) for _, r in restricted.iterrows()])} "
                        f"{verb} in {chosen['density']:.0%} of runs ({rate}); box {number_} holds "
                        f"{chosen['coverage']:.0%} of all {noun}.")
            weak = weak_limits(restricted)
            if weak:
                sentence += (f" Its limit{'s' if len(weak) > 1 else ''} on {_joined(weak)} "
                             f"{'are' if len(weak) > 1 else 'is'} weak (not significant at 5%).")
        sentences.append(sentence[0].upper() + sentence[1:])
    return sentences


def _colour(settings) -> str:
    classes = settings.classes
    return CLASS_COLOURS[classes[0]] if classes is not None and len(classes) == 1 else BOX_COLOUR


def _no_cases(settings) -> Panel:
    verb, _ = outcome_words(settings)
    fig = go.Figure()
    fig.add_annotation(text=f"no run to explain: none of the runs {verb}", showarrow=False,
                       x=0.5, y=0.5, xref="paper", yref="paper", font=dict(size=16))
    fig.update_layout(height=200, xaxis=dict(visible=False), yaxis=dict(visible=False))
    return Panel("discovery-boxes", "Where the outcome is likely: PRIM boxes", (
        f"Scenario discovery looks for ranges of the inputs where couples {verb}; none of this sweep's runs "
        "did, so there is nothing to find."), fig)


def tradeoff(results: Results) -> Panel | None:
    """PRIM's peeling trajectories: coverage against density, coloured by inputs restricted, chosen boxes marked."""
    found = findings(results)
    if found is None or found[1].trajectory.empty:
        return None
    settings, tables = found
    trajectory = tables.trajectory
    verb, noun = outcome_words(settings)
    top = int(max(trajectory["restricted"].max(), 1))
    fig = go.Figure()
    symbols = ("circle", "diamond", "square", "triangle-up", "cross")
    for number_, part in trajectory.groupby("box", sort=True):
        symbol = symbols[(number_ - 1) % len(symbols)]
        fig.add_trace(go.Scatter(
            x=part["coverage"], y=part["density"], mode="markers", name=f"box {number_}",
            marker=dict(symbol=symbol, size=8, color=part["restricted"], coloraxis="coloraxis"),
            customdata=part[["step", "mass", "restricted", "runs"]],
            hovertemplate=(f"box {number_}, step %{{customdata[0]}}<br>coverage %{{x:.1%}}<br>density %{{y:.1%}}"
                           "<br>mass %{customdata[1]:.1%} (%{customdata[3]} runs)<br>%{customdata[2]} inputs "
                           "restricted<extra></extra>")))
        chosen = part[part["chosen"]]
        fig.add_trace(go.Scatter(
            x=chosen["coverage"], y=chosen["density"], mode="markers+text", showlegend=False,
            marker=dict(symbol=symbol + "-open", size=18, color="black", line=dict(width=2)),
            text=[f"box {number_} (step {int(s)})" for s in chosen["step"]], textposition="middle right",
            hoverinfo="skip"))
    base = trajectory[(trajectory["box"] == 1) & (trajectory["step"] == 0)]["density"].iloc[0]
    fig.add_hline(y=base, line=dict(color="grey", dash="dot", width=1), annotation_text=f"base rate {base:.0%}",
                  annotation_position="bottom left")
    if settings.density_floor is not None:
        fig.add_hline(y=settings.density_floor, line=dict(color="black", dash="dash", width=1),
                      annotation_text=f"minimum density {settings.density_floor:.0%}",
                      annotation_position="top left")
    fig.update_layout(
        height=460, margin=dict(t=40, b=60, l=70, r=20), legend=dict(orientation="h", y=-0.18),
        coloraxis=dict(colorscale="Viridis", cmin=0, cmax=top, colorbar=dict(title="inputs<br>restricted")),
        xaxis=dict(title=f"coverage: share of all {noun} inside the box", tickformat=".0%", range=[0, 1.05]),
        yaxis=dict(title=f"density: share of the box's runs that {verb}", tickformat=".0%",
                   range=[0, 1.05]))
    rule = (f"step {settings.step} of each trajectory (or its last)" if settings.step is not None
            else f"on each trajectory the widest box whose density is at least {settings.density_floor:.0%} (the "
                 "densest, when none is)")
    found_boxes = trajectory["box"].nunique()
    more = (f" Box{'es' if found_boxes > 2 else ''} {_joined([str(b) for b in range(2, found_boxes + 1)])} "
            f"{'were' if found_boxes > 2 else 'was'} searched for among the runs outside the boxes found before."
            if found_boxes > 1 else "")
    return Panel("discovery-tradeoff", "Where the outcome is likely: coverage against density", (
        f"PRIM (EMA Workbench) peels the runs, {settings.peel_alpha:.0%} at a time, off whichever side of "
        f"whichever input leaves the highest share of runs that {verb}. Each point is a box on the way: coverage "
        f"(across) is the share of all {noun} that lie inside it, density (up) the share of its runs that "
        f"{verb}, and colour the number of the {tables.boxes['input'].nunique()} inputs it "
        f"restricts. The dotted line is the base rate over all runs ({base:.0%}). Ringed: the boxes reported, "
        f"{rule}.{more}"), fig)


def boxes(results: Results) -> Panel | None:
    """Each chosen box as ranges of its inputs against their full ranges, with the box in words."""
    found = findings(results)
    if found is None:
        return None
    settings, tables = found
    if tables.trajectory.empty:
        return _no_cases(settings)
    trajectory, limits = tables.trajectory, tables.boxes
    numbers = sorted(limits["box"].unique())
    titles = []
    for number_ in numbers:
        chosen = trajectory[(trajectory["box"] == number_) & trajectory["chosen"]].iloc[0]
        titles.append(f"box {number_}: density {chosen['density']:.0%}, coverage {chosen['coverage']:.0%}")
    fig = make_subplots(rows=1, cols=len(numbers), shared_yaxes=True, subplot_titles=titles,
                        horizontal_spacing=0.04)
    colour = _colour(settings)
    for col, number_ in enumerate(numbers, start=1):
        part = limits[limits["box"] == number_].iloc[::-1]       # the first input at the top
        span = (part["range_high"] - part["range_low"]).where(lambda s: s > 0, 1.0)
        low = (part["lower"] - part["range_low"]) / span
        high = (part["upper"] - part["range_low"]) / span
        labels = [f"{input_label(k)} ({number(a)}-{number(b)})" for k, a, b in
                  zip(part["input"], part["range_low"], part["range_high"], strict=True)]
        fig.add_trace(go.Bar(x=[1.0] * len(part), y=labels, base=0.0, orientation="h", marker_color=RANGE_COLOUR,
                             name="the input's full range", showlegend=col == 1, hoverinfo="skip", width=0.6),
                      row=1, col=col)
        shown = part["restricted"].to_numpy()
        fig.add_trace(go.Bar(
            x=(high - low)[shown], y=[lab for lab, s in zip(labels, shown, strict=True) if s], base=low[shown],
            orientation="h", marker_color=colour, name="the box's range", showlegend=col == 1, width=0.6,
            text=[f"{number(a)}-{number(b)}" for a, b in zip(part["lower"][shown], part["upper"][shown],
                                                             strict=True)],
            textposition="inside", insidetextanchor="middle",
            customdata=part.loc[shown, ["lower", "upper", "qp_lower", "qp_upper"]],
            hovertemplate=("%{y}<br>box: %{customdata[0]:.3g} to %{customdata[1]:.3g}<br>quasi-p: lower "
                           "%{customdata[2]:.2g}, upper %{customdata[3]:.2g}<extra>box " + str(number_)
                           + "</extra>")), row=1, col=col)
        fig.update_xaxes(range=[0, 1], tickvals=[0, 0.5, 1], ticktext=["lowest", "middle", "highest"],
                         title_text="place in the input's range", row=1, col=col)
    fig.update_layout(barmode="overlay", height=max(320, 70 + 42 * limits["input"].nunique()),
                      margin=dict(t=60, b=60, l=20, r=20), legend=dict(orientation="h", y=-0.25))
    unrestricted = sorted(set(limits.loc[~limits["restricted"], "input"]))
    free = (f" Inputs a box leaves at their full range (grey only) do not matter to it"
            f"{': ' + ', '.join(input_label(k) for k in unrestricted) if unrestricted else ''}." if unrestricted
            else "")
    return Panel("discovery-boxes", "Where the outcome is likely: PRIM boxes", (
        " ".join(box_sentences(settings, trajectory, limits)) + " Bars: each input's full range in the design "
        "(grey) and the box's range (coloured, its limits printed); hover for PRIM's quasi-p-value of each limit "
        "(a one-sided binomial test of the box against the box without that limit; small means the limit "
        "matters)." + free + " The limits are in boxes.parquet, the trajectories in peeling.parquet."), fig)


BUILDERS = (tradeoff, boxes)
