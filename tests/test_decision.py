"""The decision model: a logistic regression over the matcher's evidence, fitted by author folds."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot.config import Config
from bot.decision import FEATURES, MODEL_FILE, DecisionModel, fit_logistic, predict
from bot.engine import build_brain
from bot.evaluation import EvalItem
from bot.tuning import DecisionRows, _choose_thresholds, fit_decision


def synthetic(n: int = 4000, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from a known logistic model: 3 * x0 - 2 * x1 + 0.5."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    p = 1 / (1 + np.exp(-(3 * x[:, 0] - 2 * x[:, 1] + 0.5)))
    return x, (rng.random(n) < p).astype(float)


def test_the_fit_recovers_the_weights_of_a_known_model() -> None:
    x, y = synthetic()
    weights, bias = fit_logistic(x, y, l2=0.1)
    assert weights == pytest.approx([3, -2], abs=0.35)
    assert bias == pytest.approx(0.5, abs=0.25)


def test_the_scale_of_a_feature_does_not_change_the_predictions() -> None:
    x, y = synthetic()
    scaled = x * np.array([1000.0, 1.0])
    plain = predict(x, *fit_logistic(x, y))
    rescaled = predict(scaled, *fit_logistic(scaled, y))
    assert np.abs(plain - rescaled).max() < 1e-6


def test_a_model_survives_its_file(tmp_path: Path) -> None:
    model = DecisionModel(tuple(float(i) / 10 for i in range(len(FEATURES))), -1.5, 0.8, 0.6, {"k": "v"})
    (tmp_path / MODEL_FILE).write_text(model.to_yaml(), encoding="utf-8")
    assert DecisionModel.load(tmp_path) == model


def test_no_model_file_means_no_model(tmp_path: Path) -> None:
    assert DecisionModel.load(tmp_path) is None


def test_the_answer_threshold_stops_where_wrong_answers_begin() -> None:
    p = np.round(np.linspace(0.0, 1.0, 1001), 3)
    right = p >= 0.5  # every question below 0.5 would be answered wrongly
    rows = DecisionRows(
        np.zeros((1001, len(FEATURES))),
        right,
        np.zeros(1001, bool),
        np.ones(1001, bool),
        np.array(["a"] * 1001),
        {"a": 1001},
    )
    answer_at, suggest_at = _choose_thresholds(p, rows)
    assert answer_at == pytest.approx(0.5)
    assert suggest_at <= answer_at


# --- in the matcher ----------------------------------------------------------------------------------------


def brain_with_model(mini_config: Config, tmp_corpus: Path, bias: float):
    model = DecisionModel((0.0,) * len(FEATURES), bias, 0.5, 0.4)
    (tmp_corpus / MODEL_FILE).write_text(model.to_yaml(), encoding="utf-8")
    return build_brain(replace(mini_config, corpus_dir=tmp_corpus))


def test_the_model_decides_when_the_corpus_has_one(mini_config: Config, tmp_corpus: Path) -> None:
    sceptical = brain_with_model(mini_config, tmp_corpus, bias=-30.0)
    match = sceptical.matcher.match("how much is the tuition")
    assert (match.decision, match.probability) == ("decline", pytest.approx(0.0, abs=1e-9))


def test_a_confident_model_answers(mini_config: Config, tmp_corpus: Path) -> None:
    trusting = brain_with_model(mini_config, tmp_corpus, bias=30.0)
    match = trusting.matcher.match("how much is the tuition")
    assert (match.decision, match.best.entry.id) == ("answer", "tuition-fee")


def test_without_a_model_the_thresholds_decide(mini_brain) -> None:
    assert mini_brain.matcher.model is None
    assert mini_brain.matcher.match("how much is the tuition").probability is None


def test_every_feature_is_measured_for_a_match(mini_brain) -> None:
    match = mini_brain.matcher.match("how much is the tuition")
    features = mini_brain.matcher.decision_features(match.query, match.candidates)
    assert len(features) == len(FEATURES) and all(np.isfinite(features))


def test_fitting_holds_each_author_out_in_turn(mini_brain) -> None:
    """Two authors: each one's figures come from a model fitted on the other's questions only."""

    def items(author: str) -> list[EvalItem]:
        texts = [
            "how much is the tuition",
            "学费一年多少",
            "phone number",
            "四川招多少人",
            "宿舍在哪",
            "weather today",
        ]
        ids = [("tuition-fee",), ("tuition-fee",), ("contact-phone",), ("province-quota",), (), ()]
        lang = ["en", "zh", "en", "zh", "zh", "en"]
        return [
            EvalItem(t, i, lg, "x", n, author=author)
            for n, (t, i, lg) in enumerate(zip(texts, ids, lang, strict=True))
        ]

    fit = fit_decision(mini_brain.matcher, {"a": items("a"), "b": items("b")})
    assert set(fit.by_author) == {"a", "b"}
    assert fit.model.notes["fitted_on"] == ["a", "b"]
    assert 0.0 <= fit.model.suggest_at <= fit.model.answer_at <= 1.0


def test_the_repository_corpus_model_is_read_when_present(config: Config, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(config.corpus_dir, corpus)
    has_model = (corpus / MODEL_FILE).exists()
    brain = build_brain(replace(config, corpus_dir=corpus))
    assert (brain.matcher.model is not None) == has_model
