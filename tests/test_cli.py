"""The command line: `python -m bot ask` and `python -m bot eval` on the small test corpus."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import MINI_CORPUS, REPO_CONFIG
from flask.testing import FlaskClient

from bot.cli import main
from bot.engine import Brain

API_KEYS = {"answer", "matched", "faq_id", "score", "lang", "suggestions", "parts"}

EVAL_ALL_RIGHT = """\
items:
  - {q: "how much is the tuition", id: tuition-fee, lang: en, style: paraphrase}
  - {q: "学费一年多少", id: tuition-fee, lang: zh, style: colloquial}
  - {q: "How many places does Sichuan have", id: province-quota, lang: en, style: province}
  - {q: "宿舍在哪", id: null, lang: zh, style: oos}
"""
# Half of the answerable questions are labelled with the wrong entry: 50% accuracy, 25% wrong.
EVAL_HALF_WRONG = """\
items:
  - {q: "how much is the tuition", id: contact-phone, lang: en, style: paraphrase}
  - {q: "学费一年多少", id: tuition-fee, lang: zh, style: colloquial}
  - {q: "宿舍在哪", id: null, lang: zh, style: oos}
  - {q: "学院的电话号码", id: [contact-phone, contact-email], lang: zh, style: paraphrase}
"""
LENIENT_THRESHOLDS = """\
eval:
  min_answerable_accuracy: 0.5
  max_wrong_rate: 0.5
  min_oos_declined: 0.0
"""


def run(*argv: str, config: Path = REPO_CONFIG) -> int:
    """`python -m bot --config CONFIG --corpus tests/data/mini_corpus ARGV...`."""
    return main(["--config", str(config), "--corpus", str(MINI_CORPUS), *argv])


@dataclass(frozen=True)
class Ran:
    """Exit code and output of one command, for several tests to read."""

    code: int
    out: str
    err: str


def ran(*argv: str) -> Ran:
    """Run a command on the mini corpus once, keeping what it printed."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = run(*argv)
    return Ran(code, out.getvalue(), err.getvalue())


def _write(folder: Path, text: str) -> Path:
    path = folder / "eval.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def asked_json() -> dict:
    """`ask --json 学费多少`, parsed."""
    return json.loads(ran("ask", "--json", "学费多少").out)


@pytest.fixture(scope="module")
def eval_all_right(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    """`eval` of a file the bot gets entirely right."""
    return ran("eval", str(_write(tmp_path_factory.mktemp("eval"), EVAL_ALL_RIGHT)))


@pytest.fixture(scope="module")
def eval_half_wrong(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    """`eval` of a file with one answerable question in two labelled with the wrong entry."""
    return ran("eval", str(_write(tmp_path_factory.mktemp("eval"), EVAL_HALF_WRONG)))


@pytest.fixture
def eval_file(tmp_path: Path):
    """Write an evaluation file into tmp_path and return its path."""

    def write(text: str) -> Path:
        return _write(tmp_path, text)

    return write


# --- ask ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "entry_id", "lang"),
    [("学费多少", "tuition-fee", "zh"), ("phone number", "contact-phone", "en")],
)
def test_ask_prints_the_answer(
    mini_brain: Brain, capsys: pytest.CaptureFixture[str], question: str, entry_id: str, lang: str
) -> None:
    assert run("ask", question) == 0
    assert capsys.readouterr().out == mini_brain.corpus.by_id()[entry_id].answer[lang] + "\n"


def test_ask_joins_the_words_of_an_unquoted_question(
    mini_brain: Brain, capsys: pytest.CaptureFixture[str]
) -> None:
    run("ask", "how", "much", "is", "the", "tuition")
    assert capsys.readouterr().out == mini_brain.corpus.by_id()["tuition-fee"].answer["en"] + "\n"


def test_ask_json_prints_the_api_shape(asked_json: dict) -> None:
    assert set(asked_json) == API_KEYS
    assert (asked_json["matched"], asked_json["faq_id"], asked_json["lang"], asked_json["suggestions"]) == (
        True,
        "tuition-fee",
        "zh",
        [],
    )
    assert asked_json["parts"] == [{"faq_id": "tuition-fee", "matched": True, "score": asked_json["score"]}]


def test_ask_json_score_is_the_confidence(asked_json: dict) -> None:
    assert 0 < asked_json["score"] <= 100


def test_ask_json_has_the_same_keys_as_the_http_api(client: FlaskClient, asked_json: dict) -> None:
    api = client.post("/api/ask", json={"question": "学费多少"}).get_json()
    assert set(asked_json) == set(api)


def test_ask_json_keeps_chinese_readable() -> None:
    assert "学费" in ran("ask", "--json", "学费多少").out


def test_ask_json_lists_suggestions_with_id_and_question(capsys: pytest.CaptureFixture[str]) -> None:
    run("ask", "--json", "电话或者邮箱")
    printed = json.loads(capsys.readouterr().out)
    assert printed["matched"] is False
    assert {s["id"] for s in printed["suggestions"]} == {"contact-phone", "contact-email"}
    assert all(set(s) == {"id", "question"} for s in printed["suggestions"])


def test_ask_verbose_shows_the_entry_and_confidence(capsys: pytest.CaptureFixture[str]) -> None:
    run("ask", "-v", "学费多少")
    assert "[answer faq_id=tuition-fee confidence=" in capsys.readouterr().out


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_ask_lang_hint_decides_for_a_question_without_words(
    mini_brain: Brain, capsys: pytest.CaptureFixture[str], lang: str
) -> None:
    run("ask", "--json", "--lang", lang, "???")
    assert json.loads(capsys.readouterr().out)["lang"] == lang


def test_ask_with_a_broken_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("colour: blue\n", encoding="utf-8")
    assert run("ask", "学费", config=config) == 2
    assert "configuration error" in capsys.readouterr().err


def test_ask_with_a_broken_corpus_exits_2(tmp_corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entries = tmp_corpus / "entries.yaml"
    entries.write_text(
        entries.read_text(encoding="utf-8").replace("id: contact-phone", "id: contact-email"), "utf-8"
    )
    assert main(["--config", str(REPO_CONFIG), "--corpus", str(tmp_corpus), "ask", "学费"]) == 2
    assert "duplicate id" in capsys.readouterr().err


# --- eval --------------------------------------------------------------------------------------------


def test_eval_exits_0_when_the_figures_meet_the_thresholds(eval_all_right: Ran) -> None:
    assert (eval_all_right.code, "PASS: meets the thresholds" in eval_all_right.out) == (0, True)


def test_eval_prints_the_figures(eval_all_right: Ran) -> None:
    out = eval_all_right.out
    assert "questions: 4 (3 answerable, 1 out of scope)" in out
    assert "answered directly and rightly: 100.0% (3/3)" in out
    assert "out-of-scope declined: 100.0% (1/1)" in out


def test_eval_prints_the_figures_by_language_and_style(eval_all_right: Ran) -> None:
    out = eval_all_right.out
    assert "by language: en 100.0% (2/2), zh 100.0% (2/2)" in out
    assert "oos 100.0% (1/1)" in out


def test_eval_exits_1_below_the_thresholds(eval_half_wrong: Ran) -> None:
    assert (eval_half_wrong.code, "FAIL: below the thresholds" in eval_half_wrong.out) == (1, True)


def test_eval_counts_wrong_answers(eval_half_wrong: Ran) -> None:
    out = eval_half_wrong.out
    assert (
        "answered wrongly (wrong fact, wrong language or out of scope answered), of all questions: 25.0% (1/4)"
        in out
    )


def test_eval_lists_each_failure_with_its_line(eval_half_wrong: Ran) -> None:
    expected = (
        "[wrong] line 2 [en/paraphrase] 'how much is the tuition': expected contact-phone, got tuition-fee"
    )
    assert expected in eval_half_wrong.out


def test_eval_quiet_prints_figures_without_failures(eval_file, capsys: pytest.CaptureFixture[str]) -> None:
    run("eval", "--quiet", str(eval_file(EVAL_HALF_WRONG)))
    out = capsys.readouterr().out
    assert "FAIL" in out and "[wrong]" not in out


def test_eval_thresholds_come_from_the_config(
    eval_file, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "lenient.yaml"
    config.write_text(LENIENT_THRESHOLDS, encoding="utf-8")
    assert run("eval", str(eval_file(EVAL_HALF_WRONG)), config=config) == 0


def test_eval_accepts_any_of_several_ids(eval_half_wrong: Ran) -> None:
    assert "学院的电话号码" not in eval_half_wrong.out


def test_eval_reports_overlap_with_corpus_alternates(eval_file, capsys: pytest.CaptureFixture[str]) -> None:
    path = eval_file(EVAL_ALL_RIGHT + '  - {q: "学费多少", id: tuition-fee, lang: zh, style: short}\n')
    run("eval", str(path))
    out = capsys.readouterr().out
    assert "overlap with corpus phrasings (1):" in out
    assert "line 6: '学费多少' is also a phrasing of 'tuition-fee'" in out


def test_eval_reports_overlap_after_normalising(eval_file, capsys: pytest.CaptureFixture[str]) -> None:
    path = eval_file(
        EVAL_ALL_RIGHT + '  - {q: "學費多少？", id: tuition-fee, lang: zh, style: traditional}\n'
    )
    run("eval", str(path))
    assert "overlap with corpus phrasings (1):" in capsys.readouterr().out


def test_eval_reports_no_overlap_for_new_questions(eval_all_right: Ran) -> None:
    assert "overlap" not in eval_all_right.out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('items:\n  - {q: "学费", id: no-such-entry, lang: zh}\n', "unknown entry id 'no-such-entry'"),
        ('items:\n  - {q: "学费", id: tuition-fee, lang: fr}\n', "`lang` must be en or zh"),
        ("items:\n  - {id: tuition-fee, lang: zh}\n", "non-empty `q`"),
        ("questions: []\n", "expected `items:`"),
    ],
)
def test_eval_exits_2_on_a_malformed_file(
    eval_file, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    assert run("eval", str(eval_file(text))) == 2
    assert message in capsys.readouterr().err


# --- validate ----------------------------------------------------------------------------------------


def test_validate_names_a_phrasing_that_out_of_scope_yaml_would_decline(
    tmp_corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A way of asking that uses a listed out-of-scope word is fought by that list: validate says so."""
    entries = tmp_corpus / "entries.yaml"
    entries.write_text(
        entries.read_text(encoding="utf-8").replace("学费贵不贵", "宿舍学费贵不贵"), encoding="utf-8"
    )
    assert main(["--config", str(REPO_CONFIG), "validate", "--quick", str(tmp_corpus)]) == 1
    out = capsys.readouterr().out
    assert "'宿舍学费贵不贵' uses words listed in out_of_scope.yaml (宿舍)" in out
