"""YAML mistakes are reported at their line and column with what to do, in words a staff member can act on."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO_CONFIG

from bot.cli import main
from bot.corpus import Problem, read_corpus
from bot.corpus_writer import CorpusEditError, load_text

FILE = "more.yaml"


def the_yaml_error(corpus: Path, text: str) -> Problem:
    """The one error of a corpus with one more entry file holding `text`."""
    (corpus / FILE).write_text(text, encoding="utf-8")
    _, problems = read_corpus(corpus)
    errors = [p for p in problems if p.severity == "error"]
    assert len(errors) == 1, [str(p) for p in errors]
    assert errors[0].file == FILE and "not valid YAML" in errors[0].message
    return errors[0]


@pytest.mark.parametrize(
    ("text", "line", "column", "advice"),
    [
        ("- id: campus-bus\n\tcategory: campus\n", 2, 1, "Replace the tab with spaces"),
        ("- id: campus-bus\n  answer:\n  \ten: Yes.\n", 3, 3, "Replace the tab with spaces"),
        ("- id: campus-bus\n  category: campus\n   source: Handbook\n", 3, 4, "not indented like the lines"),
        ("- id: campus-bus\n  category: campus\n  - id: canteen\n", 3, 3, "not indented like the lines"),
        ("- id: campus-bus\n  answer:\n    en: Yes.\n   zh: 有。\n", 4, 4, "not indented like the lines"),
    ],
    ids=["tab at the start", "tab inside the indentation", "one space too many", "entry indented", "key out"],
)
def test_tabs_and_indentation_are_named_with_their_column(
    tmp_corpus: Path, text: str, line: int, column: int, advice: str
) -> None:
    problem = the_yaml_error(tmp_corpus, text)
    assert (problem.line, problem.column) == (line, column)
    assert advice in problem.message


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("- id: campus-bus\n  source: Handbook: page 2\n", 2, 19),
        ("- id: campus-bus\n  answer:\n    en: Note: buses run hourly.\n", 3, 13),
        ("- id: campus-bus\n  answer: {en: Fees: 50000 yuan, zh: 五万元}\n", 2, 20),
    ],
    ids=["block text", "nested text", "text inside braces"],
)
def test_an_unquoted_colon_says_to_quote_the_text(
    tmp_corpus: Path, text: str, line: int, column: int
) -> None:
    problem = the_yaml_error(tmp_corpus, text)
    assert (problem.line, problem.column) == (line, column)
    assert "colon" in problem.message and "double quotes" in problem.message


@pytest.mark.parametrize(
    ("text", "column", "quote"),
    [
        ('- id: campus-bus\n  source: "Handbook, page 2\n  category: campus\n', 11, '"'),
        ("- id: campus-bus\n  answer: {en: 'Yes, hourly, zh: 有}\n- id: canteen\n", 16, "'"),
    ],
)
def test_an_unclosed_quote_is_placed_where_it_opens(
    tmp_corpus: Path, text: str, column: int, quote: str
) -> None:
    problem = the_yaml_error(tmp_corpus, text)
    assert (problem.line, problem.column) == (2, column)
    assert f"the quote {quote} opened at line 2, column {column} is never closed" in problem.message


def test_a_text_starting_with_a_reserved_character_says_to_quote_it(tmp_corpus: Path) -> None:
    problem = the_yaml_error(tmp_corpus, "- id: campus-bus\n  source: @college handbook\n")
    assert (problem.line, problem.column) == (2, 11) and "double quotes" in problem.message


def test_the_parser_jargon_is_not_the_message(tmp_corpus: Path) -> None:
    problem = the_yaml_error(tmp_corpus, "- id: campus-bus\n  source: Handbook: page 2\n")
    assert "mapping values" not in problem.message


def test_a_problem_with_a_column_reads_as_file_line_column() -> None:
    assert str(Problem("fees.yaml", 12, "a tab", column=3)) == "fees.yaml:12:3: error: a tab"


def test_validate_prints_the_file_line_and_column(
    tmp_corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_corpus / FILE).write_text("- id: campus-bus\n\tcategory: campus\n", encoding="utf-8")
    assert main(["--config", str(REPO_CONFIG), "validate", "--quick", str(tmp_corpus)]) == 1
    out = capsys.readouterr().out
    assert f"{FILE}:2:1: error: not valid YAML: there is a tab at line 2, column 1" in out
    assert f"Start with {FILE}: not valid YAML, so none of its entries were read" in out


def test_the_consoles_yaml_fields_get_the_same_advice() -> None:
    """The console's variants box is YAML too: a mistake there is named the same way (ruamel.yaml's parser)."""
    with pytest.raises(CorpusEditError, match=r"there is a tab at line 2, column 1; .* Replace the tab"):
        load_text("sichuan:\n\ten: Sichuan's quota is 30.\n")
    with pytest.raises(CorpusEditError, match=r"colon followed by a space at column 12, .* double quotes"):
        load_text("sichuan:\n  en: Quota: 30\n")
