"""Analysing a virtual cohort the way the field does (statsmodels).

Persons are nested in couples: the default is a linear mixed model with a
random intercept per couple (``analysis = "mixed"``); ``"cluster"`` fits OLS
with couple-clustered standard errors. Continuous predictors are grand-mean
centred: every numeric column ``x`` gets a centred copy ``x_c``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats

from sim.study.formula import FormulaError, eval_environment, parse

__all__ = ["FormulaError", "analyse", "check_formula", "fit", "fit_cluster_robust", "public", "simple_slopes", "table",
           "with_centred"]

MAIN_FORMULA = "anxiety_t2 ~ anxiety_t1_c + perceived_goal_support_t1_c * perceived_responsiveness_t1_c"
GOAL = "perceived_goal_support_t1_c"
RESPONSIVENESS = "perceived_responsiveness_t1_c"
INTERACTION = f"{GOAL}:{RESPONSIVENESS}"
_Z95 = float(stats.norm.ppf(0.975))


def with_centred(data: pd.DataFrame) -> pd.DataFrame:
    """The dataset plus a grand-mean-centred copy ``x_c`` of every numeric, non-identifier column."""
    skip = {"sample", "couple_id", "person_id"}
    centred = {f"{c}_c": data[c] - data[c].mean() for c in data.columns
               if c not in skip and pd.api.types.is_numeric_dtype(data[c]) and not pd.api.types.is_bool_dtype(data[c])}
    return pd.concat([data, pd.DataFrame(centred, index=data.index)], axis=1)


def check_formula(formula: str, columns) -> str:
    """The formula rebuilt from its parsed tokens; FormulaError if it is not allowed (sim.study.formula)."""
    return parse(formula, columns).text


def fit(formula: str, data: pd.DataFrame, method: str = "mixed") -> dict[str, Any]:
    """Fit one formula; returns terms with estimate, SE, 95% CI and p, and the method actually used."""
    # Only the parsed formula, in an environment holding only the allowed transforms, reaches the engine.
    parsed = check_formula(formula, data.columns)
    env = eval_environment()
    used = method
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "mixed":
            try:
                result = smf.mixedlm(parsed, data, groups=data["couple_id"], eval_env=env).fit(reml=True)
                if not result.converged:
                    raise np.linalg.LinAlgError("did not converge")
            except (np.linalg.LinAlgError, ValueError):
                used = "cluster (mixed model did not converge)"
                method = "cluster"
        if method == "cluster":
            result = smf.ols(parsed, data, eval_env=env).fit(cov_type="cluster", cov_kwds={"groups": data["couple_id"]})
    names = [n for n in result.params.index if n != "Group Var"]
    ci = result.conf_int().loc[names]
    terms = {name: {"estimate": float(result.params[name]), "se": float(result.bse[name]),
                    "ci_low": float(ci.loc[name, 0]), "ci_high": float(ci.loc[name, 1]),
                    "p": float(result.pvalues[name])} for name in names}
    covariance = result.cov_params().loc[names, names]
    return {"formula": formula, "method": used, "n_persons": int(len(data)),
            "n_couples": int(data["couple_id"].nunique()), "terms": terms, "_cov": covariance}


def fit_cluster_robust(formula: str, data: pd.DataFrame) -> dict[str, Any]:
    """OLS with couple-clustered standard errors in a handful of array operations: the power loop's estimator.

    The numbers of statsmodels' ``OLS(...).fit(cov_type="cluster")`` (CR1:
    the sandwich ``(X'X)^-1 (sum_g s_g s_g') (X'X)^-1`` of the couples' score
    sums ``s_g = X_g' e_g``, times ``G / (G - 1) (N - 1) / (N - K)``; normal
    p-values and intervals), without building a results object: about 3 ms
    for 326 couples against 40 ms for statsmodels' OLS and 570 ms for the
    mixed model. The same formula parser and design matrices (patsy) as
    :func:`fit`. tests/test_study.py checks it against statsmodels to 1e-10
    and its power curve against the mixed model's.
    """
    import patsy
    parsed = check_formula(formula, data.columns)
    outcome, design = patsy.dmatrices(parsed, data, eval_env=eval_environment(), return_type="matrix",
                                      NA_action="raise")
    x, y = np.asarray(design), np.asarray(outcome)[:, 0]
    n, k = x.shape
    bread = np.linalg.inv(x.T @ x)
    estimate = bread @ (x.T @ y)
    residual = y - x @ estimate
    clusters, index = np.unique(data["couple_id"].to_numpy(), return_inverse=True)
    scores = np.zeros((len(clusters), k))
    np.add.at(scores, index, x * residual[:, None])
    g = len(clusters)
    covariance = bread @ (scores.T @ scores) @ bread * (g / (g - 1) * (n - 1) / (n - k))
    se = np.sqrt(np.diag(covariance))
    z = estimate / se
    names = list(design.design_info.column_names)
    terms = {name: {"estimate": float(estimate[i]), "se": float(se[i]),
                    "ci_low": float(estimate[i] - _Z95 * se[i]), "ci_high": float(estimate[i] + _Z95 * se[i]),
                    "p": float(2 * stats.norm.sf(abs(z[i])))} for i, name in enumerate(names)}
    return {"formula": formula, "method": "cluster (vectorised)", "n_persons": int(n), "n_couples": int(g),
            "terms": terms, "_cov": pd.DataFrame(covariance, index=names, columns=names)}


def simple_slopes(fitted: dict[str, Any], data: pd.DataFrame, focal: str = GOAL,
                  moderator: str = RESPONSIVENESS) -> list[dict[str, float]]:
    """Slopes of ``focal`` at -1 SD, the mean and +1 SD of ``moderator`` (centred), with SEs and p-values."""
    interaction = next((t for t in (f"{focal}:{moderator}", f"{moderator}:{focal}") if t in fitted["terms"]), None)
    if focal not in fitted["terms"] or interaction is None:
        return []
    cov = fitted["_cov"]
    sd = float(data[moderator].std())
    rows = []
    for label, at in (("-1 SD", -sd), ("mean", 0.0), ("+1 SD", sd)):
        slope = fitted["terms"][focal]["estimate"] + at * fitted["terms"][interaction]["estimate"]
        variance = cov.loc[focal, focal] + at * at * cov.loc[interaction, interaction] \
            + 2 * at * cov.loc[focal, interaction]
        se = float(np.sqrt(max(variance, 0.0)))
        z = slope / se if se > 0 else np.nan
        rows.append({"moderator_level": label, "moderator_value": at, "slope": float(slope), "se": se,
                     "ci_low": float(slope - 1.96 * se), "ci_high": float(slope + 1.96 * se),
                     "p": float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else np.nan})
    return rows


def analyse(data: pd.DataFrame, formulas: list[str], method: str) -> list[dict[str, Any]]:
    """Fit the main formula and any others; each result with simple slopes where they apply.

    ``method`` is "mixed" or "cluster" (:func:`fit`), or "vectorised" (:func:`fit_cluster_robust`).
    """
    centred = with_centred(data)
    fits = []
    for formula in dict.fromkeys([MAIN_FORMULA, *formulas]):
        fitted = fit_cluster_robust(formula, centred) if method == "vectorised" else fit(formula, centred, method)
        fitted["simple_slopes"] = simple_slopes(fitted, centred)
        fits.append(fitted)
    return fits


def public(fitted: dict[str, Any]) -> dict[str, Any]:
    """A fit without its covariance matrix, for JSON."""
    return {k: v for k, v in fitted.items() if not k.startswith("_")}


def table(fits: list[dict[str, Any]]) -> str:
    """The fits as readable text."""
    lines = []
    for f in fits:
        lines.append(f"{f['formula']}\n  {f['method']} model, {f['n_persons']} persons in {f['n_couples']} couples")
        lines.append(f"  {'term':<62}{'estimate':>10}{'SE':>9}{'95% CI':>22}{'p':>9}")
        for name, t in f["terms"].items():
            ci = f"[{t['ci_low']:.3f}, {t['ci_high']:.3f}]"
            lines.append(f"  {name:<62}{t['estimate']:>10.3f}{t['se']:>9.3f}{ci:>22}{t['p']:>9.4f}")
        if f.get("simple_slopes"):
            lines.append("  simple slopes of perceived goal support at levels of perceived responsiveness:")
            for s in f["simple_slopes"]:
                lines.append(f"    {s['moderator_level']:<8} slope {s['slope']:+.3f} (SE {s['se']:.3f}, "
                             f"95% CI [{s['ci_low']:.3f}, {s['ci_high']:.3f}], p {s['p']:.4f})")
        lines.append("")
    return "\n".join(lines)
