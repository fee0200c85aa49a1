"""Evaluation figures: both label formats, several-question messages, yes/no openings, dialogues, one tap."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli import Ran, ran

from bot.config import EvalThresholds
from bot.dialogue import Reply, Suggestion
from bot.evaluation import (
    EvalFileError,
    EvalItem,
    Outcome,
    Report,
    evaluate,
    format_report,
    load_eval_set,
)

BLIND_SET = """\
author: writer-x
items:
  - {q: "how much is the tuition", lang: en, style: paraphrase, expect: ["62000", "62,000"]}
  - {q: "学费和四川名额", lang: zh, style: multi, expect: [["62000", "6.2万"], ["30名"]]}
  - {q: "宿舍在哪", lang: zh, style: oos, expect: null}
  - {q: "Is the fee paid in dollars?", lang: en, style: paraphrase, expect: ["62000"], forbid_start: ["Yes"]}
dialogues:
  - name: sichuan-follow-up
    lang: zh
    turns:
      - {q: "重庆招多少人", expect: ["40"]}
      - {q: "那四川呢？", expect: ["30"]}
"""


def item(**fields) -> EvalItem:
    defaults = {"q": "q", "ids": (), "lang": "en", "style": "paraphrase", "line": 1}
    return EvalItem(**{**defaults, **fields})


def answer(text: str, faq_id: str = "tuition-fee", lang: str = "en") -> Reply:
    return Reply(text, "answer", lang, faq_id, 80.0)


def suggestion(*ids: str) -> Reply:
    return Reply("did you mean", "suggest", "en", None, 50.0, tuple(Suggestion(i, i) for i in ids))


@pytest.fixture
def blind_file(tmp_path: Path) -> Path:
    path = tmp_path / "blind-x.yaml"
    path.write_text(BLIND_SET, encoding="utf-8")
    return path


# --- reading ---------------------------------------------------------------------------------------------


def test_a_blind_set_reads_expected_facts_parts_and_dialogues(blind_file: Path) -> None:
    items, dialogues = load_eval_set(blind_file)
    assert [i.parts for i in items] == [1, 2, 1, 1]
    assert items[1].expect == (("62000", "6.2万"), ("30名",))
    assert items[3].forbid_start == ("Yes",)
    assert [i.author for i in items] == ["writer-x"] * 4
    assert [d.name for d in dialogues] == ["sichuan-follow-up"]
    assert [t.lang for t in dialogues[0].turns] == ["zh", "zh"]


def test_an_expect_that_is_neither_list_nor_text_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("items:\n  - {q: fee, lang: en, expect: {a: 1}}\n", encoding="utf-8")
    with pytest.raises(EvalFileError, match=r"bad\.yaml:2"):
        load_eval_set(path)


# --- judging ---------------------------------------------------------------------------------------------


def test_an_expected_fact_is_found_ignoring_spaces_commas_and_case() -> None:
    assert Outcome(item(expect=(("rmb 62000",),)), answer("Fees: RMB 62,000 a year.")).kind == "ok"


def test_an_answer_without_the_fact_is_wrong() -> None:
    assert Outcome(item(expect=(("62000",),)), answer("Call 023-68480331.")).kind == "wrong"


def test_a_forbidden_opening_makes_a_right_fact_wrong() -> None:
    outcome = Outcome(item(expect=(("62000",),), forbid_start=("Yes",)), answer("Yes. It is 62000."))
    assert (outcome.kind, outcome.forbidden_opening) == ("wrong", True)


def test_a_message_with_one_of_two_parts_answered_is_partial_not_wrong() -> None:
    outcome = Outcome(item(expect=(("62000",), ("30",))), answer("The fee is 62000."))
    assert outcome.kind == "partial"


def test_a_did_you_mean_list_is_a_miss_but_one_tap_away_when_the_right_entry_is_listed() -> None:
    outcome = Outcome(item(ids=("tuition-fee",)), suggestion("uk-year-fee", "tuition-fee"), True)
    assert (outcome.kind, outcome.one_tap) == ("suggested", True)


def test_an_answer_in_the_other_language_is_wrong() -> None:
    assert Outcome(item(ids=("tuition-fee",), lang="zh"), answer("62000")).kind == "wrong-language"


# --- figures ---------------------------------------------------------------------------------------------


def test_figures_count_direct_answers_lists_one_tap_wrong_and_declines() -> None:
    outcomes = [
        Outcome(item(ids=("a",)), answer("x", "a")),  # right
        Outcome(item(ids=("a",)), suggestion("b", "a"), True),  # list, right one listed
        Outcome(item(ids=("a",)), answer("x", "b")),  # wrong
        Outcome(item(), answer("x", "b")),  # out of scope answered
        Outcome(item(), Reply("sorry", "decline", "en")),  # declined
    ]
    report = Report(outcomes)
    assert report.answerable_accuracy == pytest.approx(1 / 3)
    assert report.suggest_rate == pytest.approx(1 / 3)
    assert report.one_tap_rate == pytest.approx(2 / 3)
    assert report.wrong_rate == pytest.approx(2 / 5)
    assert report.oos_declined == pytest.approx(1 / 2)


def test_calibration_gives_the_share_right_of_answers_at_each_confidence() -> None:
    high = Reply("x", "answer", "en", "a", 95.0)
    low = Reply("x", "answer", "en", "b", 55.0)
    report = Report([Outcome(item(ids=("a",)), high), Outcome(item(ids=("a",)), low)])
    table = {x: (given, right) for x, given, right in report.calibration()}
    assert table[90] == (1, 1) and table[50] == (2, 1)


def test_evaluate_plays_each_dialogue_in_one_session_and_each_item_in_a_fresh_one(blind_file: Path) -> None:
    items, dialogues = load_eval_set(blind_file)
    sessions: list[str | None] = []

    def ask(q: str, session: str | None = None) -> Reply:
        sessions.append(session)
        return answer("40 30 62000", "province-quota", "zh")

    report = evaluate(items, ask, dialogues=dialogues)
    assert sessions[: len(items)] == [None] * len(items)
    assert len(set(sessions[len(items) :])) == 1
    assert report.dialogues_right == (1, 1)


def test_the_report_names_each_figure() -> None:
    text = format_report(Report([Outcome(item(ids=("a",)), answer("x", "a"))]), EvalThresholds())
    for label in (
        "answered directly and rightly: 100.0% (1/1)",
        '"did you mean" instead of an answer: 0.0% (0/1)',
        "right answer given or offered (one tap): 100.0% (1/1)",
        "calibration",
        "PASS",
    ):
        assert label in text


# --- the command ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blind_eval(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    path = tmp_path_factory.mktemp("blind") / "blind-x.yaml"
    path.write_text(BLIND_SET, encoding="utf-8")
    return ran("eval", str(path))


def test_eval_scores_a_blind_set_by_the_facts_in_the_answers(blind_eval: Ran) -> None:
    assert "questions: 4 (3 answerable, 1 out of scope); 1 messages ask several things" in blind_eval.out


def test_eval_plays_the_dialogues_of_a_blind_set(blind_eval: Ran) -> None:
    assert "whole dialogues right: 100.0% (1/1)" in blind_eval.out


def test_eval_runs_several_sets_one_report_each(tmp_path: Path) -> None:
    first, second = tmp_path / "blind-a.yaml", tmp_path / "blind-b.yaml"
    first.write_text(BLIND_SET, encoding="utf-8")
    second.write_text(BLIND_SET, encoding="utf-8")
    out = ran("eval", "-q", str(first), str(second)).out
    assert "== blind-a.yaml" in out and "== blind-b.yaml" in out
