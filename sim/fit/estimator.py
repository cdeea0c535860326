"""The amortized posterior estimator: trained once on simulated diaries, then fits any couple without simulating.

Method: neural posterior estimation (Papamakarios & Murray 2016; Radev et
al. 2020, BayesFlow) with an affine coupling flow conditioned on the diary's
statistics (sim.fit.summaries). Simulate parameters from the prior and a
diary from each, learn the map from a diary's statistics to the posterior of
the parameters, and sample it for each observed couple. Chosen over ABC-SMC
because a new couple, or a whole new dataset, is fitted in a fraction of a
second without new simulations, and BayesFlow on the JAX backend installs
in well under the fit extra's budget (CPU only, no CUDA wheels).

Parameters are learned on the logit scale of their prior's range, so every
draw lies inside the prior's bounds; statistics and parameters are
standardized by BayesFlow. The estimator is saved as a folder: the Keras
model (``approximator.keras``) and ``estimator.json`` (free parameters,
priors, the diary design it was trained for, the statistics' names and
reference distribution, the model's fingerprint).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.diary import Diaries
from sim.experiment.populations import fixed_overrides
from sim.experiment.spec import DiarySpec, Spec
from sim.fit.summaries import simulated_summaries, summary_names
from sim.population import Population, make_population
from sim.storage import atomic_output, write_json

os.environ.setdefault("KERAS_BACKEND", "jax")
TRAINING_KEY, HELD_OUT_KEY = 1, 2          # spawn-key prefixes: (prefix, i) names simulated couple i
MODEL_FILE, META_FILE = "approximator.keras", "estimator.json"
_PACKAGE = Path(__file__).resolve().parent.parent


class EstimatorError(ValueError):
    """A saved estimator that does not fit the spec or the data: one line saying why."""


def model_fingerprint() -> str:
    """Hash of the model's equations and declarations: an estimator trained on another model is refused."""
    digest = hashlib.sha256()
    for name in ("dynamics.py", "params.py", "diary.py", "fit/summaries.py"):
        digest.update((_PACKAGE / name).read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class Prior:
    """Independent uniform priors over the free parameters' bounds."""

    keys: list[str]
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def of(cls, spec: Spec) -> Prior:
        """The spec's priors (sim.experiment.spec.FitSpec.prior_bounds)."""
        bounds = spec.fit.prior_bounds()
        return cls(list(bounds), np.array([b[0] for b in bounds.values()]), np.array([b[1] for b in bounds.values()]))

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` parameter vectors from the prior: (n, parameters)."""
        return self.low + (self.high - self.low) * rng.random((n, len(self.keys)))

    def to_free(self, theta: np.ndarray) -> np.ndarray:
        """Parameters to the unbounded (logit) scale the flow learns on."""
        u = np.clip((theta - self.low) / (self.high - self.low), 1e-6, 1 - 1e-6)
        return np.log(u / (1 - u))

    def from_free(self, free: np.ndarray) -> np.ndarray:
        """Back from the logit scale to the parameters' own units."""
        return self.low + (self.high - self.low) / (1.0 + np.exp(-free))

    @property
    def sd(self) -> np.ndarray:
        """Prior standard deviation of each parameter (uniform: range / sqrt 12)."""
        return (self.high - self.low) / np.sqrt(12.0)


def population_of(spec: Spec, theta: np.ndarray, keys: list[str], spawn_keys: list[tuple[int, ...]] | np.ndarray,
                  intervention: str | None = None, intervention_day: int | None = None) -> Population:
    """Couples with the free parameters ``theta`` (couples, parameters) and everything else as the spec fixes it."""
    values: dict[str, Any] = {key: theta[:, j] for j, key in enumerate(keys)}
    if intervention_day is not None:
        values["intervention_day"] = intervention_day
    return make_population(None, len(spawn_keys), spec.seed, overrides=fixed_overrides(spec), spawn_keys=spawn_keys,
                           values=values, intervention=intervention)


@dataclass
class DesignRange:
    """The diaries an estimator is trained for: diary lengths and missed-entry rates drawn uniformly in these."""

    min_days: int
    max_days: int
    max_missing: float

    @classmethod
    def of(cls, diary: DiarySpec, data: Diaries | None = None) -> DesignRange:
        """The spec's design, widened to cover the data's diary lengths and missed entries."""
        if data is None:
            return cls(diary.days, diary.days, min(0.9, diary.missing_rate + 0.1))
        kept = data.kept
        return cls(int(max(2, data.lengths.min())), diary.days,
                   float(min(0.9, max(diary.missing_rate, 1.0 - kept.min()) + 0.1)))

    def covers(self, data: Diaries) -> str | None:
        """Why the data lie outside this range (a sentence), or None."""
        kept = data.kept
        if data.lengths.min() < self.min_days or data.lengths.max() > self.max_days:
            return (f"diaries of {data.lengths.min()}-{data.lengths.max()} days, but the estimator was trained on "
                    f"{self.min_days}-{self.max_days} days")
        if 1.0 - kept.min() > self.max_missing:
            return (f"a couple missed {1 - kept.min():.0%} of entries, but the estimator was trained on up to "
                    f"{self.max_missing:.0%}")
        return None


def simulate_set(spec: Spec, prior: Prior, n: int, prefix: int, design: DesignRange,
                 progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` couples drawn from the prior and their diaries' statistics: ``(theta, statistics)``.

    Couple i has spawn key ``(prefix, i)``; its parameters, diary length and
    missed-entry rate come from a Generator seeded by the same key, so the
    set is the same on any machine and any number of workers.
    """
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(prefix, 2**31 - 1)))
    theta = prior.draw(n, rng)
    lengths = rng.integers(design.min_days, design.max_days + 1, size=n)
    missing = rng.uniform(0.0, design.max_missing, size=n)
    pop = population_of(spec, theta, prior.keys, np.column_stack([np.full(n, prefix), np.arange(n)]))
    return theta, simulated_summaries(pop, spec.diary, lengths, missing, progress=progress)


def _quiet_backends() -> None:
    for name in ("jax._src.xla_bridge", "bayesflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)


class Estimator:
    """A trained posterior estimator with everything needed to use it on new diaries."""

    def __init__(self, approximator, prior: Prior, names: list[str], design: DesignRange, reference: dict[str, Any],
                 meta: dict[str, Any]):
        self.approximator, self.prior, self.names, self.design = approximator, prior, names, design
        self.reference, self.meta = reference, meta

    @staticmethod
    def identity(spec: Spec) -> dict[str, Any]:
        """What an estimator must share with a spec to be reused on it."""
        diary = spec.diary
        return {"free": list(spec.fit.free), "priors": {k: list(v) for k, v in spec.fit.prior_bounds().items()},
                "items": {k: v.model_dump(mode="json") for k, v in diary.items.items()},
                "acclimation_days": diary.acclimation_days, "days": diary.days,
                "fixed": dict(spec.fixed), "seed_population": "defaults plus [fixed]",
                "model": model_fingerprint()}

    @classmethod
    def train(cls, spec: Spec, design: DesignRange, progress_stream=None) -> Estimator:
        """Simulate the training set and train the flow on it (spec.fit.simulations diaries, spec.fit.epochs)."""
        _quiet_backends()
        import bayesflow as bf
        import keras
        fit = spec.fit
        prior = Prior.of(spec)
        started = time.perf_counter()
        theta, stats = simulate_set(spec, prior, fit.simulations, TRAINING_KEY, design)
        simulated = time.perf_counter() - started
        keras.utils.set_random_seed(int(spec.seed % 2**31))
        adapter = (bf.Adapter().convert_dtype("float64", "float32")
                   .rename("theta", "inference_variables").rename("statistics", "inference_conditions"))
        network = bf.networks.CouplingFlow(depth=4, subnet_kwargs={"widths": (128, 128)})
        approximator = bf.estimators.BasicEstimator(inference_network=network, adapter=adapter,
                                                    standardize=["inference_variables", "inference_conditions"])
        batch = 256
        steps = fit.epochs * int(np.ceil(fit.simulations / batch))
        approximator.compile(optimizer=keras.optimizers.Adam(
            learning_rate=keras.optimizers.schedules.CosineDecay(1e-3, steps)))
        dataset = bf.datasets.OfflineDataset({"theta": prior.to_free(theta).astype(np.float32),
                                              "statistics": stats.astype(np.float32)}, batch_size=batch,
                                             adapter=adapter)
        history = approximator.fit(dataset=dataset, epochs=fit.epochs, verbose=2 if progress_stream else 0)
        trained = time.perf_counter() - started - simulated
        mean, sd = stats.mean(axis=0), stats.std(axis=0)
        z = (stats - mean) / np.where(sd > 0, sd, 1.0)
        precision = np.linalg.pinv(np.cov(z, rowvar=False))
        distance = np.sqrt(np.einsum("ij,jk,ik->i", z, precision, z))
        reference = {"mean": mean.tolist(), "sd": sd.tolist(), "precision": precision.tolist(),
                     "distance_q999": float(np.quantile(distance, 0.999))}
        meta = {"identity": cls.identity(spec), "simulations": fit.simulations, "epochs": fit.epochs,
                "simulate_seconds": round(simulated, 2), "train_seconds": round(trained, 2),
                "final_loss": float(history.history["loss"][-1]),
                "method": "neural posterior estimation: BayesFlow BasicEstimator, affine CouplingFlow depth 4, "
                          "MLP 128x128, on hand-crafted diary statistics"}
        return cls(approximator, prior, summary_names(spec.diary), design, reference, meta)

    def sample(self, statistics: np.ndarray, draws: int, seed: int = 0) -> np.ndarray:
        """Posterior draws for each row of ``statistics``: ``(couples, draws, parameters)`` in the parameters' units."""
        _quiet_backends()
        out = self.approximator.sample(conditions={"statistics": np.asarray(statistics, dtype=np.float32)},
                                       num_samples=draws, seed=int(seed % 2**31), batch_size=64)
        return self.prior.from_free(np.asarray(out["theta"], dtype=float))

    def distance(self, statistics: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each couple's Mahalanobis distance from the training diaries, and its most unusual statistic's index."""
        mean, sd = np.array(self.reference["mean"]), np.array(self.reference["sd"])
        z = (statistics - mean) / np.where(sd > 0, sd, 1.0)
        precision = np.array(self.reference["precision"])
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", z, precision, z), 0.0)), np.abs(z).argmax(axis=1)

    def save(self, folder: str | Path) -> Path:
        """Write the estimator into ``folder`` (the Keras model and estimator.json), atomically per file."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_output(folder / MODEL_FILE) as tmp:
            self.approximator.save(str(tmp.with_suffix(".keras")))
            tmp.with_suffix(".keras").replace(tmp)
        write_json({**self.meta, "prior": {"keys": self.prior.keys, "low": self.prior.low.tolist(),
                                           "high": self.prior.high.tolist()},
                    "statistics": self.names, "design": vars(self.design), "reference": self.reference},
                   folder / META_FILE)
        return folder

    @classmethod
    def check(cls, folder: str | Path, spec: Spec) -> dict[str, Any]:
        """A saved estimator's description, refused in one line unless it was trained for this spec and model."""
        folder = Path(folder)
        if not (folder / MODEL_FILE).is_file() or not (folder / META_FILE).is_file():
            raise EstimatorError(f"--estimator: {folder} holds no estimator; expected a folder with {MODEL_FILE} "
                                 f"and {META_FILE} written by cycles fit")
        try:
            meta = json.loads((folder / META_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise EstimatorError(f"--estimator: {folder / META_FILE} is unreadable ({exc})") from None
        for key, value in cls.identity(spec).items():
            if meta.get("identity", {}).get(key) != value:
                raise EstimatorError(f"--estimator: {folder} was trained for another {key} "
                                     f"({meta.get('identity', {}).get(key)!r}, this spec: {value!r}); "
                                     "train a new one (leave out --estimator)")
        return meta

    @classmethod
    def load(cls, folder: str | Path, spec: Spec) -> Estimator:
        """A saved estimator (:meth:`check` first)."""
        _quiet_backends()
        meta = cls.check(folder, spec)
        folder = Path(folder)
        import bayesflow  # noqa: F401  (registers its layers with Keras before loading)
        import keras
        approximator = keras.saving.load_model(str(folder / MODEL_FILE))
        prior = Prior(meta["prior"]["keys"], np.array(meta["prior"]["low"]), np.array(meta["prior"]["high"]))
        reserved = ("prior", "statistics", "design", "reference")
        return cls(approximator, prior, meta["statistics"], DesignRange(**meta["design"]), meta["reference"],
                   {k: v for k, v in meta.items() if k not in reserved})
