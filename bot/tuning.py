"""Choosing the matcher's weights and thresholds from the labelled evaluation set, not by guesswork."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from bot.config import MatchSettings
from bot.decision import FEATURES, DecisionModel, fit_logistic, predict
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


@dataclass(frozen=True)
class DecisionRows:
    """The decision model's training data: one row per single-question item the matcher would weigh."""

    features: np.ndarray  # (rows, len(FEATURES))
    right: np.ndarray  # the best entry answers the question
    offered_right: np.ndarray  # a right entry is among the suggestions a list would offer
    answerable: np.ndarray
    author: np.ndarray  # the set (writer) an item comes from: folds never share one
    total: dict[str, int]  # items per author, including those declined before the model is asked


def decision_rows(matcher: Matcher, sets: dict[str, list[EvalItem]]) -> DecisionRows:
    """Features and labels of every single-question item in the sets, keyed by author."""
    s = matcher.settings
    features, right, offered, answerable, author = [], [], [], [], []
    total: dict[str, int] = {}
    for name, items in sets.items():
        total[name] = 0
        for item in items:
            if item.parts > 1:
                continue
            total[name] += 1
            query, evidence = matcher.evidence_for_text(item.q)
            candidates = tuple(matcher.rank(evidence))
            if not candidates or candidates[0].confidence < s.suggest_threshold:
                continue
            candidates = matcher.arrange(query, candidates)
            if not matcher.can_state(query, candidates[0]):
                continue  # declined by the asked-kind check, whatever the model says
            features.append(matcher.decision_features(query, candidates))
            close = [c for c in candidates if c.confidence >= s.suggest_threshold][: s.max_suggestions]
            verdicts = [_answers(item, c.entry, query) for c in close]
            right.append(verdicts[0])
            offered.append(len(close) > 1 and any(verdicts))
            answerable.append(item.answerable)
            author.append(name)
    return DecisionRows(
        np.array(features, dtype=float).reshape(-1, len(FEATURES)),
        np.array(right, dtype=bool),
        np.array(offered, dtype=bool),
        np.array(answerable, dtype=bool),
        np.array(author),
        total,
    )


def _answers(item: EvalItem, entry, query) -> bool:
    if not item.answerable:
        return False
    if item.ids:
        return entry.id in item.ids
    entity = query.spotted.key_for(entry.variant_entity)
    return item.right_text(entry.answer_for(item.lang, entity))


@dataclass(frozen=True)
class DecisionFit:
    """A fitted decision model and its cross-validated figures (each author's items judged by a model
    fitted without them)."""

    model: DecisionModel
    figures: dict[str, float]
    by_author: dict[str, dict[str, float]]
    thresholds_rule: dict[str, float]  # the same figures for the configured thresholds and margin


MIN_OOS_DECLINED = 0.97


def fit_decision(matcher: Matcher, sets: dict[str, list[EvalItem]], l2: float = 1.0) -> DecisionFit:
    """Fit the logistic regression and choose its thresholds by leave-one-author-out cross-validation."""
    rows = decision_rows(matcher, sets)
    held_out = np.zeros(len(rows.right))
    for name in rows.total:
        test = rows.author == name
        if test.any() and (~test).any():
            weights, bias = fit_logistic(rows.features[~test], rows.right[~test].astype(float), l2)
            held_out[test] = predict(rows.features[test], weights, bias)
    answer_at, suggest_at = _choose_thresholds(held_out, rows)
    weights, bias = fit_logistic(rows.features, rows.right.astype(float), l2)
    figures = _figures(held_out, rows, answer_at, suggest_at, np.ones(len(rows.right), dtype=bool))
    by_author = {
        name: _figures(held_out, rows, answer_at, suggest_at, rows.author == name) for name in rows.total
    }
    notes = {"fitted_on": sorted(rows.total), "cross_validated": {k: round(v, 4) for k, v in figures.items()}}
    model = DecisionModel(tuple(float(w) for w in weights), bias, answer_at, suggest_at, notes)
    clear = rows.features[:, FEATURES.index("clear_lead")]
    rule = _figures(clear, rows, 0.5, 0.0, np.ones(len(rows.right), dtype=bool))
    return DecisionFit(model, figures, by_author, rule)


def _figures(p, rows: DecisionRows, answer_at: float, suggest_at: float, mask) -> dict[str, float]:
    """Direct-right, did-you-mean, one-tap, wrong and out-of-scope-declined rates at these thresholds."""
    names = set(rows.author[mask].tolist()) if mask.any() else set()
    total = sum(rows.total[n] for n in names) or 1
    answerable_total = max(1, int((rows.answerable & mask).sum()))
    oos_rows = ~rows.answerable & mask
    answered = (p >= answer_at) & mask
    suggested = (p < answer_at) & (p >= suggest_at) & mask
    ok = answered & rows.right
    oos_items = max(1, int(oos_rows.sum()))
    return {
        "direct_right_of_weighed": float(ok.sum() / answerable_total),
        "suggested_of_weighed": float((suggested & rows.answerable).sum() / answerable_total),
        "one_tap_of_weighed": float((ok | (suggested & rows.offered_right)).sum() / answerable_total),
        "wrong_of_all": float((answered & ~rows.right).sum() / total),
        "oos_weighed_declined": float(1 - ((answered | suggested) & oos_rows).sum() / oos_items),
    }


def _choose_thresholds(p: np.ndarray, rows: DecisionRows) -> tuple[float, float]:
    """The answer threshold that best trades right answers against wrong ones (a wrong answer costs
    WRONG_COST right ones), then the lowest
    suggest threshold that keeps out-of-scope questions declined and lists that mostly hold the answer."""
    grid = np.round(np.arange(0.30, 0.991, 0.01), 2)
    scored = []
    for t in grid:
        answered = p >= t
        wrong = (answered & ~rows.right).sum()
        scored.append(((answered & rows.right).sum() - WRONG_COST * wrong, -t))
    answer_at = float(-max(scored)[1])
    oos = ~rows.answerable
    suggest_at = answer_at
    for t in grid[grid < answer_at][::-1]:
        listed = (p >= t) & (p < answer_at)
        declined = 1 - ((p >= t) & oos).sum() / max(1, int(oos.sum()))
        if (
            declined < MIN_OOS_DECLINED
            or (listed & rows.answerable & ~rows.offered_right).sum() > (listed & rows.offered_right).sum()
        ):
            break
        suggest_at = float(t)
    return answer_at, suggest_at
