"""Choosing the matcher's weights and thresholds from the labelled evaluation set, not by guesswork."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from bot.config import MatchSettings
from bot.evaluation import EvalItem
from bot.matcher import Evidence, Matcher

WEIGHT_STEP = 0.1
THRESHOLDS = np.arange(30, 81, 2, dtype=float)
MARGINS = np.arange(0, 21, 2, dtype=float)
SURE_THRESHOLDS = np.array([101.0, 90.0, 85.0, 80.0, 75.0, 70.0])
WRONG_COST = 4.0
"""A wrong answer costs this many missed ones: declining is safer than misleading an applicant."""
OOS_VALUE = 0.5
"""How much the share of out-of-scope questions declined counts, next to answerable accuracy."""


@dataclass(frozen=True)
class TuningResult:
    """The best settings found and the figures they give on the evaluation set."""

    settings: MatchSettings
    answerable_accuracy: float
    wrong_rate: float
    oos_declined: float


def _feature_matrix(matcher: Matcher, items: list[EvalItem], width: int):
    """Evidence of the top `width` candidates of every item, as arrays the grid search can reweigh at once."""
    n = len(items)
    features = np.zeros((n, width, 5))
    penalties = np.zeros((n, width))
    right = np.zeros((n, width), dtype=bool)
    for i, item in enumerate(items):
        _, evidence = matcher.evidence_for_text(item.q)
        ranked = sorted(evidence, key=lambda pair: -pair[1].confidence(matcher.settings))[:width]
        for j, (entry, ev) in enumerate(ranked):
            features[i, j] = _vector(ev)
            penalties[i, j] = ev.penalty
            right[i, j] = entry.id in item.ids
    answerable = np.array([item.answerable for item in items])
    return features, penalties, right, answerable


def _vector(ev: Evidence) -> list[float]:
    return [min(1.0, ev.coverage), ev.overlap, ev.containment, ev.fuzzy, ev.core]


def _weight_grid() -> list[tuple[float, ...]]:
    steps = round(1 / WEIGHT_STEP)
    grid = []
    for parts in itertools.product(range(steps + 1), repeat=4):
        rest = steps - sum(parts)
        if rest >= 0:
            grid.append(tuple(p * WEIGHT_STEP for p in (*parts, rest)))
    return grid


def tune(matcher: Matcher, items: list[EvalItem]) -> TuningResult:
    """Grid-search the evidence weights, the answer threshold, the margin and the sure threshold."""
    width = max(matcher.settings.shortlist_size, 2)
    features, penalties, right, answerable = _feature_matrix(matcher, items, width)
    n_answerable = max(1, int(answerable.sum()))
    n_oos = max(1, int((~answerable).sum()))
    best: tuple[float, TuningResult] | None = None
    t = THRESHOLDS[:, None, None, None]
    m = MARGINS[None, :, None, None]
    s = SURE_THRESHOLDS[None, None, :, None]
    for weights in _weight_grid():
        confidence = 100 * penalties * (features @ np.array(weights))
        order = np.argsort(-confidence, axis=1, kind="stable")
        ranked = np.take_along_axis(confidence, order, axis=1)
        top, gap = ranked[:, 0], ranked[:, 0] - ranked[:, 1]
        top_right = np.take_along_axis(right, order[:, :1], axis=1)[:, 0]
        answered = (top >= t) & ((gap >= m) | (top >= s))
        ok = (answered & top_right & answerable).sum(axis=-1)
        wrong = (answered & ~(top_right & answerable)).sum(axis=-1)
        declined = (~answered & ~answerable).sum(axis=-1)
        accuracy, wrong_rate, oos = ok / n_answerable, wrong / len(items), declined / n_oos
        objective = accuracy - WRONG_COST * wrong_rate + OOS_VALUE * oos
        i, j, k = np.unravel_index(int(np.argmax(objective)), objective.shape)
        if best is None or objective[i, j, k] > best[0]:
            tuned = replace(
                matcher.settings,
                coverage_weight=weights[0],
                overlap_weight=weights[1],
                containment_weight=weights[2],
                fuzzy_weight=weights[3],
                core_weight=weights[4],
                answer_threshold=float(THRESHOLDS[i]),
                answer_margin=float(MARGINS[j]),
                sure_threshold=float(SURE_THRESHOLDS[k]),
            )
            result = TuningResult(
                tuned, float(accuracy[i, j, k]), float(wrong_rate[i, j, k]), float(oos[i, j, k])
            )
            best = (float(objective[i, j, k]), result)
    assert best is not None
    return best[1]
