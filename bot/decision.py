"""The answer / suggest / decline decision as a calibrated probability that the best entry is right.

The matcher measures evidence (keyword coverage, nearest phrasing, character similarity, how much of the
question the entry's answer speaks to, the gap to the runner-up, whether the two give the same facts).
A logistic regression over that evidence, fitted on labelled question sets by `python -m bot tune`, turns it
into the probability that the best entry answers the question. Thresholds on that probability, chosen on
held-out folds for few wrong answers, decide. The model is a small YAML file beside the corpus, so a corpus
change can be refitted and reviewed like any other change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

MODEL_FILE = "decision.yaml"
FEATURES = (
    "confidence",  # the evidence's weighted confidence, 0-1
    "margin",  # confidence gap to the runner-up, 0-1
    "coverage",  # share of the question's weight the entry accounts for
    "overlap",  # word overlap with the nearest phrasing
    "containment",  # share of the nearest phrasing found in the question
    "fuzzy",  # character similarity with the nearest phrasing
    "core",  # share of the entry's defining words the question uses
    "penalised",  # 1 when an out-of-scope term or a lone common word held the entry back
    "answer_relevance",  # share of the question's weight found in the entry's answer
    "foreign_share",  # share of the question's words the whole corpus never uses
    "everyday_share",  # share of the question's English words that are ordinary words the corpus never uses
    "uncovered_share",  # share of the question's weight neither the entry's phrasings nor its answer use
    "same_facts",  # 1 when the runner-up's answer gives the same numbers and names
    "close_distinct",  # closeness of the runner-up when it gives different facts (1 - margin, else 0)
    "entity_variant",  # 1 when the question names an entity the entry has a variant answer for
    "clear_lead",  # 1 when the confidence passes match.answer_threshold with match.answer_margin to spare
)


@dataclass(frozen=True)
class DecisionModel:
    """Weights of the logistic regression and the probability thresholds of the decision."""

    weights: tuple[float, ...]
    bias: float
    answer_at: float
    suggest_at: float
    notes: dict = field(default_factory=dict)

    def probability(self, features: Sequence[float]) -> float:
        """P(the best entry answers the question)."""
        z = self.bias + sum(w * x for w, x in zip(self.weights, features, strict=True))
        return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))

    def to_yaml(self) -> str:
        body = {
            "features": dict(zip(FEATURES, (round(w, 4) for w in self.weights), strict=True)),
            "bias": round(self.bias, 4),
            "answer_at": round(self.answer_at, 4),
            "suggest_at": round(self.suggest_at, 4),
            "notes": self.notes,
        }
        header = (
            "# The answer / suggest / decline decision, fitted by `python -m bot tune --write`.\n"
            "# features: logistic-regression weights of the matcher's evidence; answer_at / suggest_at:\n"
            "# probability thresholds chosen on cross-validation folds. Refit after a corpus change.\n"
        )
        return header + yaml.safe_dump(body, allow_unicode=True, sort_keys=False)

    @classmethod
    def load(cls, directory: Path) -> DecisionModel | None:
        """The model in the corpus folder, or None (the matcher then falls back to its thresholds)."""
        path = directory / MODEL_FILE
        if not path.is_file():
            return None
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        weights = data.get("features") or {}
        return cls(
            tuple(float(weights.get(name, 0.0)) for name in FEATURES),
            float(data.get("bias", 0.0)),
            float(data.get("answer_at", 0.5)),
            float(data.get("suggest_at", 0.5)),
            dict(data.get("notes") or {}),
        )


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 50) -> tuple[np.ndarray, float]:
    """Weights and bias maximising the L2-penalised likelihood (Newton's method: small, exact, no library)."""
    n, d = x.shape
    # Standardised features, so that the penalty shrinks each feature alike whatever its scale.
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    design = np.hstack([(x - mean) / scale, np.ones((n, 1))])
    w = np.zeros(d + 1)
    penalty = np.eye(d + 1) * l2
    penalty[d, d] = 0.0  # the bias is not shrunk
    for _ in range(steps):
        p = 1 / (1 + np.exp(-np.clip(design @ w, -30, 30)))
        gradient = design.T @ (p - y) + penalty @ w
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + penalty
        step = np.linalg.solve(hessian + 1e-9 * np.eye(d + 1), gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    weights = w[:d] / scale
    return weights, float(w[d] - (mean * weights).sum())


def predict(x: np.ndarray, weights: np.ndarray, bias: float) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(x @ weights + bias, -30, 30)))
