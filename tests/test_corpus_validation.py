"""Corpus checks: every mistake a staff member can make is reported with its file and line."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from conftest import REPO_CONFIG, REPO_ROOT

from bot.cli import main
from bot.config import Config
from bot.corpus import (
    MAX_ANSWER_BYTES,
    CorpusError,
    Problem,
    is_negated,
    load_corpus,
    opens_with_yes_or_no,
    read_corpus,
)
from bot.engine import FAQBot
from bot.storage import MemoryStorage

ENTRIES = "entries.yaml"
PHONE_ANSWER = '{en: "Call 023-68480331.", zh: "电话：023-68480331。"}'
PHONE_ALTERNATES_EN = (
    "[phone, phone number, telephone, how can I call the college, landline, contact number, call the office, "
    "number to call]"
)


def edit(corpus: Path, old: str, new: str, file: str = ENTRIES) -> None:
    """Replace one piece of a corpus file (which must be there) with another."""
    path = corpus / file
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {file}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def replace_line(corpus: Path, old_line: str, new_line: str, after: int = 0) -> int:
    """Replace the first line equal to old_line (after line number `after`); return its line number."""
    path = corpus / ENTRIES
    lines = path.read_text(encoding="utf-8").splitlines()
    index = lines.index(old_line, after)
    lines[index] = new_line
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return index + 1


def line_of(corpus: Path, text: str, file: str = ENTRIES) -> int:
    """The line number of the first line containing text."""
    lines = (corpus / file).read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


def errors(corpus: Path) -> list[Problem]:
    _, problems = read_corpus(corpus)
    return [p for p in problems if p.severity == "error"]


def the_error(corpus: Path) -> Problem:
    """The one error the corpus has (the test fails if there are none or several)."""
    found = errors(corpus)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def test_the_mini_corpus_is_clean(tmp_corpus: Path) -> None:
    corpus, problems = read_corpus(tmp_corpus)
    assert corpus is not None and problems == []


def test_a_corpus_with_errors_is_not_loaded(tmp_corpus: Path) -> None:
    edit(tmp_corpus, "id: contact-phone", "id: contact-email")
    corpus, _ = read_corpus(tmp_corpus)
    assert corpus is None


# --- YAML syntax -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old_line", "broken_line"),
    [
        ("- id: contact-phone", "  - id: contact-phone"),
        ("  category: contact", "\tcategory: contact"),
        ("  source: test", "  source: test: more"),
    ],
)
def test_bad_yaml_reports_the_file_and_the_line(tmp_corpus: Path, old_line: str, broken_line: str) -> None:
    line = replace_line(tmp_corpus, old_line, broken_line, after=30)
    problem = the_error(tmp_corpus)
    assert (problem.file, problem.line) == (ENTRIES, line)
    assert "YAML" in problem.message


@pytest.mark.parametrize("file", ["synonyms.yaml", "entities.yaml", "out_of_scope.yaml"])
def test_bad_yaml_in_a_data_file_names_that_file(tmp_corpus: Path, file: str) -> None:
    (tmp_corpus / file).write_text("groups: [unclosed\n", encoding="utf-8")
    assert file in {p.file for p in errors(tmp_corpus)}


def test_an_entry_file_that_is_not_a_list_is_an_error(tmp_corpus: Path) -> None:
    (tmp_corpus / "more.yaml").write_text("id: stray\nquestion: what\n", encoding="utf-8")
    problem = the_error(tmp_corpus)
    assert (problem.file, problem.line) == ("more.yaml", 1)


def test_problem_reads_as_file_line_severity_message() -> None:
    assert str(Problem("fees.yaml", 12, "something is wrong")) == "fees.yaml:12: error: something is wrong"


# --- entries -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        (', zh: "学院的邮箱是什么？"}', "}", "question.zh"),
        ('{en: "What is the college\'s email address?", ', "{", "question.en"),
        (', zh: "邮箱：int.med@cqmu.edu.cn。"}', "}", "answer.zh"),
        ('{en: "Email int.med@cqmu.edu.cn.", ', "{", "answer.en"),
    ],
)
def test_missing_language_is_an_error_naming_the_field(
    tmp_corpus: Path, old: str, new: str, field: str
) -> None:
    edit(tmp_corpus, old, new)
    problem = the_error(tmp_corpus)
    assert (problem.file, field in problem.message, "contact-email" in problem.message) == (
        ENTRIES,
        True,
        True,
    )


@pytest.mark.parametrize(("field", "lang"), [("question", "zh"), ("answer", "en")])
def test_missing_language_is_reported_at_the_line_of_its_field(
    tmp_corpus: Path, field: str, lang: str
) -> None:
    line = line_of(tmp_corpus, "id: contact-email") + (2 if field == "question" else 6)
    assert f"  {field}: {{" in (tmp_corpus / ENTRIES).read_text(encoding="utf-8").splitlines()[line - 1]
    old = {"question": ', zh: "学院的邮箱是什么？"}', "answer": '{en: "Email int.med@cqmu.edu.cn.", '}[field]
    edit(tmp_corpus, old, "}" if lang == "zh" else "{")
    assert the_error(tmp_corpus).line == line


def test_missing_alternates_language_is_an_error(tmp_corpus: Path) -> None:
    edit(tmp_corpus, f"    en: {PHONE_ALTERNATES_EN}\n", "")
    assert "alternates.en" in the_error(tmp_corpus).message


def test_duplicate_id_is_an_error_naming_both_places(tmp_corpus: Path) -> None:
    first = line_of(tmp_corpus, "id: contact-email")
    second = line_of(tmp_corpus, "id: contact-phone")
    edit(tmp_corpus, "id: contact-phone", "id: contact-email")
    problem = the_error(tmp_corpus)
    assert (problem.file, problem.line) == (ENTRIES, second)
    assert "duplicate id 'contact-email'" in problem.message and f"{ENTRIES}:{first}" in problem.message


def test_unknown_related_id_is_an_error(tmp_corpus: Path) -> None:
    edit(tmp_corpus, "related: [province-quota]", "related: [province-quotas]")
    problem = the_error(tmp_corpus)
    assert "unknown related id 'province-quotas'" in problem.message
    assert (problem.file, problem.line) == (ENTRIES, line_of(tmp_corpus, "id: tuition-fee"))


@pytest.mark.parametrize("entry_id", ["Contact Phone", "contact_phone", "ContactPhone"])
def test_id_must_be_kebab_case(tmp_corpus: Path, entry_id: str) -> None:
    edit(tmp_corpus, "id: contact-phone", f"id: {entry_id}")
    assert "kebab-case" in the_error(tmp_corpus).message


@pytest.mark.parametrize("empty", ['""', "'   '", "null"])
def test_empty_answer_is_an_error(tmp_corpus: Path, empty: str) -> None:
    edit(tmp_corpus, PHONE_ANSWER, f'{{en: {empty}, zh: "电话：023-68480331。"}}')
    assert "answer.en" in the_error(tmp_corpus).message


@pytest.mark.parametrize(
    "placeholder", ["TODO", "todo: the fee", "TBD", "待补充", "待定", "...", "…", "？？", "x", "电"]
)
def test_a_placeholder_answer_is_an_error_saying_what_to_do(tmp_corpus: Path, placeholder: str) -> None:
    edit(tmp_corpus, PHONE_ANSWER, f'{{en: "Call 023-68480331.", zh: "{placeholder}"}}')
    problem = the_error(tmp_corpus)
    assert (problem.line, problem.file) == (line_of(tmp_corpus, 'zh: "' + placeholder), ENTRIES)
    assert "`answer.zh` is a placeholder" in problem.message and "write the real answer" in problem.message


@pytest.mark.parametrize("answer", ["Yes.", "是的。", "Todos los años.", "暂无学费减免政策。"])
def test_a_short_real_answer_is_not_a_placeholder(tmp_corpus: Path, answer: str) -> None:
    edit(tmp_corpus, PHONE_ANSWER, f'{{en: "Call 023-68480331.", zh: "{answer}"}}')
    assert errors(tmp_corpus) == []


def test_validate_fails_on_a_todo_answer(tmp_corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(tmp_corpus, PHONE_ANSWER, '{en: "Call 023-68480331.", zh: TODO}')
    assert validate(tmp_corpus, "--quick") == 1
    assert "`answer.zh` is a placeholder ('TODO')" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("answer", "lang"),
    [("x" * (MAX_ANSWER_BYTES + 1), "en"), ("电" * (MAX_ANSWER_BYTES // 3 + 1), "zh")],
)
def test_answer_over_2000_bytes_is_an_error(tmp_corpus: Path, answer: str, lang: str) -> None:
    other = {"en": "Call 023-68480331.", "zh": "电话：023-68480331。"}
    texts = {**other, lang: answer}
    edit(tmp_corpus, PHONE_ANSWER, f'{{en: "{texts["en"]}", zh: "{texts["zh"]}"}}')
    problem = the_error(tmp_corpus)
    assert f"answer.{lang}" in problem.message and str(MAX_ANSWER_BYTES) in problem.message


@pytest.mark.parametrize(
    "answer", ["x" * MAX_ANSWER_BYTES, "电" * (MAX_ANSWER_BYTES // 3)], ids=["2000-ascii", "1998-chinese"]
)
def test_answer_of_at_most_2000_bytes_is_accepted(tmp_corpus: Path, answer: str) -> None:
    edit(tmp_corpus, PHONE_ANSWER, f'{{en: "{answer}", zh: "{answer}"}}')
    assert errors(tmp_corpus) == []


def test_answer_limit_counts_bytes_not_characters(tmp_corpus: Path) -> None:
    chinese = "电" * 700  # 700 characters, 2100 bytes
    edit(tmp_corpus, PHONE_ANSWER, f'{{en: "Call 023-68480331.", zh: "{chinese}"}}')
    assert "answer.zh" in the_error(tmp_corpus).message


@pytest.mark.parametrize("same", ["email address", "Email Address", "email   address"])
def test_the_same_alternate_under_two_entries_is_an_error(tmp_corpus: Path, same: str) -> None:
    edit(tmp_corpus, "[phone, phone number,", f"[{same}, phone number,")
    problem = the_error(tmp_corpus)
    assert "contact-phone" in problem.message and "contact-email" in problem.message


def test_the_same_text_in_two_languages_is_not_a_clash(tmp_corpus: Path) -> None:
    edit(tmp_corpus, "[电话, 电话号码,", "[email, 电话号码,")
    assert errors(tmp_corpus) == []


def test_variants_of_an_undefined_entity_type_are_an_error(tmp_corpus: Path) -> None:
    edit(tmp_corpus, "entity: province", "entity: city")
    assert "entity type 'city'" in the_error(tmp_corpus).message


def test_variant_missing_a_language_is_an_error(tmp_corpus: Path) -> None:
    edit(
        tmp_corpus,
        'henan: {en: "Henan has 5 places.", zh: "河南计划招收5名。"}',
        'henan: {en: "Henan has 5 places."}',
    )
    assert any("variant `henan`" in p.message for p in errors(tmp_corpus))


def test_few_alternates_are_a_warning_not_an_error(tmp_corpus: Path) -> None:
    edit(tmp_corpus, PHONE_ALTERNATES_EN, "[phone, phone number]")
    corpus, problems = read_corpus(tmp_corpus)
    assert corpus is not None
    assert [p.severity for p in problems] == ["warning"]


def test_several_mistakes_are_all_reported(tmp_corpus: Path) -> None:
    edit(tmp_corpus, "related: [province-quota]", "related: [nowhere]")
    edit(tmp_corpus, "[phone, phone number,", "[email address, phone number,")
    assert len(errors(tmp_corpus)) == 2


def test_missing_corpus_folder_is_an_error(tmp_path: Path) -> None:
    _, problems = read_corpus(tmp_path / "nowhere")
    assert [p.message for p in problems] == ["corpus folder not found"]


def test_load_corpus_raises_listing_file_and_line(tmp_corpus: Path) -> None:
    line = line_of(tmp_corpus, "id: contact-phone")
    edit(tmp_corpus, "id: contact-phone", "id: contact-email")
    with pytest.raises(CorpusError, match=rf"{ENTRIES}:{line}: error: duplicate id"):
        load_corpus(tmp_corpus)


# --- sources -----------------------------------------------------------------------------------------


def test_an_entry_without_a_source_is_an_error_at_the_entry(tmp_corpus: Path) -> None:
    line = line_of(tmp_corpus, "id: contact-phone")
    edit(
        tmp_corpus,
        '  answer: {en: "Call 023-68480331.", zh: "电话：023-68480331。"}\n  source: test\n',
        f"  answer: {PHONE_ANSWER}\n",
    )
    problem = the_error(tmp_corpus)
    assert (problem.file, problem.line) == (ENTRIES, line)
    assert "contact-phone" in problem.message and "`source` is missing" in problem.message


@pytest.mark.parametrize("empty", ['""', "[]", "null", "['  ']"])
def test_an_empty_source_is_an_error_at_its_line(tmp_corpus: Path, empty: str) -> None:
    line = line_of(tmp_corpus, "id: contact-phone") + 7
    edit(
        tmp_corpus,
        f"  answer: {PHONE_ANSWER}\n  source: test\n",
        f"  answer: {PHONE_ANSWER}\n  source: {empty}\n",
    )
    problem = the_error(tmp_corpus)
    assert (problem.line, "`source` is missing" in problem.message) == (line, True)


def test_a_source_may_list_several_passages(tmp_corpus: Path) -> None:
    edit(
        tmp_corpus,
        f"  answer: {PHONE_ANSWER}\n  source: test\n",
        f'  answer: {PHONE_ANSWER}\n  source: ["FAQs page — contact", "Programme page — point 3"]\n',
    )
    corpus, _ = read_corpus(tmp_corpus)
    assert corpus is not None
    assert corpus.by_id()["contact-phone"].source == "FAQs page — contact; Programme page — point 3"


# --- yes/no answers and the phrasings they answer ------------------------------------------------------

YES_PHONE = '{en: "Yes. Call 023-68480331.", zh: "有。电话：023-68480331。"}'


def yes_no_warnings(corpus: Path) -> list[Problem]:
    _, problems = read_corpus(corpus)
    return [p for p in problems if p.severity == "warning" and "opens with yes/no" in p.message]


@pytest.mark.parametrize(
    ("alternate", "lang"),
    [
        ("can't I call the college", "en"),
        ("is there not a phone number", "en"),
        ("is there no landline", "en"),
        ("没有电话吗", "zh"),
        ("学院会不会接电话", "zh"),
        ("是否不能打电话", "zh"),
    ],
)
def test_a_yes_or_no_answer_with_a_negative_phrasing_is_a_warning(
    tmp_corpus: Path, alternate: str, lang: str
) -> None:
    edit(tmp_corpus, PHONE_ANSWER, YES_PHONE)
    old = {"en": "[phone, phone number,", "zh": "[电话, 电话号码,"}[lang]
    edit(tmp_corpus, old, f"[{alternate}, {old[1:]}")
    corpus, _ = read_corpus(tmp_corpus)
    warnings = yes_no_warnings(tmp_corpus)
    assert corpus is not None
    assert [(p.file, p.line) for p in warnings] == [(ENTRIES, line_of(tmp_corpus, "id: contact-phone"))]
    assert "contact-phone" in warnings[0].message and alternate in warnings[0].message
    assert "negative" in warnings[0].message


@pytest.mark.parametrize("alternate", ["is IELTS needed to call", "托福成绩要电话吗"])
def test_a_yes_or_no_answer_with_a_phrasing_about_another_exam_is_a_warning(
    tmp_corpus: Path, alternate: str
) -> None:
    edit(
        tmp_corpus,
        PHONE_ANSWER,
        '{en: "Yes. Gaokao enquiries: 023-68480331.", zh: "有。高考咨询：023-68480331。"}',
    )
    edit(tmp_corpus, "[phone, phone number,", f"[{alternate}, phone number,")
    (warning,) = yes_no_warnings(tmp_corpus)
    assert "IELTS" in warning.message or "TOEFL" in warning.message


def test_a_phrasing_naming_the_exam_the_answer_names_is_not_a_warning(tmp_corpus: Path) -> None:
    edit(
        tmp_corpus,
        PHONE_ANSWER,
        '{en: "Yes. Gaokao enquiries: 023-68480331.", zh: "有。高考咨询：023-68480331。"}',
    )
    edit(tmp_corpus, "[phone, phone number,", "[gaokao phone, phone number,")
    assert yes_no_warnings(tmp_corpus) == []


def test_an_answer_that_starts_with_the_fact_may_have_negative_phrasings(tmp_corpus: Path) -> None:
    edit(tmp_corpus, "[phone, phone number,", "[can't I call the college, phone number,")
    edit(tmp_corpus, "[电话, 电话号码,", "[没有电话吗, 电话号码,")
    assert yes_no_warnings(tmp_corpus) == []


@pytest.mark.parametrize(
    ("answer", "lang", "opens"),
    [
        ("Yes. Call the college.", "en", True),
        ("No. There is no oral exam.", "en", True),
        ("In principle, no. Students may not transfer.", "en", True),
        ("Not really, the fee is fixed.", "en", True),
        ("Nobody needs an oral exam.", "en", False),
        ("No oral exam is required for this programme.", "en", False),
        ("Years 1 to 3 are at CQMU.", "en", False),
        ("可以。毕业生可以考研。", "zh", True),
        ("承认。本项目经教育部批准。", "zh", True),
        ("不需要。本项目无需口试。", "zh", True),
        ("有要求。英语不低于115分。", "zh", True),
        ("原则上不允许。", "zh", True),
        ("有两个官方微信账号：重医和国际医学院各一个。", "zh", False),
        ("本项目无需口试。", "zh", False),
    ],
)
def test_a_yes_or_no_opening_is_a_short_first_clause(answer: str, lang: str, opens: bool) -> None:
    assert opens_with_yes_or_no(answer, lang) is opens


@pytest.mark.parametrize(
    ("phrasing", "lang", "negated"),
    [
        ("do I not need IELTS", "en", True),
        ("isn't year 1 all English", "en", True),
        ("no interview?", "en", True),
        ("is there an interview", "en", False),
        ("is the knowledge base broad", "en", False),
        ("不用口试吗", "zh", True),
        ("会不会影响考研", "zh", True),
        ("没报会被调剂吗", "zh", True),
        ("是否需要口试", "zh", False),
        ("需要口试吗", "zh", False),
    ],
)
def test_a_negative_phrasing_is_one_with_a_negated_verb(phrasing: str, lang: str, negated: bool) -> None:
    assert is_negated(phrasing, lang) is negated


def test_the_real_corpus_has_no_yes_or_no_answer_to_a_differently_asked_phrasing() -> None:
    _, problems = read_corpus(REPO_ROOT / "faq_corpus")
    assert [str(p) for p in problems if "opens with yes/no" in p.message] == []


# --- the validate command ----------------------------------------------------------------------------


def validate(directory: Path, *options: str) -> int:
    return main(["--config", str(REPO_CONFIG), "validate", *options, str(directory)])


def test_validate_exits_0_on_a_clean_corpus(tmp_corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert validate(tmp_corpus) == 0
    assert "0 error(s)" in capsys.readouterr().out


def test_validate_exits_1_when_the_corpus_has_errors(
    tmp_corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(tmp_corpus, "id: contact-phone", "id: contact-email")
    assert validate(tmp_corpus, "--quick") == 1
    assert "1 error(s)" in capsys.readouterr().out


def test_validate_prints_each_problem_with_file_and_line(
    tmp_corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(tmp_corpus, "related: [province-quota]", "related: [nowhere]")
    validate(tmp_corpus, "--quick")
    line = line_of(tmp_corpus, "id: tuition-fee")
    assert (
        f"{ENTRIES}:{line}: error: entry 'tuition-fee': unknown related id 'nowhere'"
        in capsys.readouterr().out
    )


def test_validate_summary_on_errors_says_what_is_wrong_and_that_families_keep_the_old_corpus(
    tmp_corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(tmp_corpus, "id: contact-phone", "id: contact-email")
    validate(tmp_corpus, "--quick")
    summary = capsys.readouterr().out.strip().splitlines()[-2:]
    assert "1 error(s)" in summary[0] and f"errors in {ENTRIES} (1)" in summary[0]
    assert "0 entries" not in summary[0]
    assert "a running bot keeps answering from the corpus it loaded before" in summary[1]


def test_validate_exits_0_with_warnings_only(tmp_corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(tmp_corpus, PHONE_ALTERNATES_EN, "[phone, phone number]")
    assert validate(tmp_corpus, "--quick") == 0
    assert "1 warning(s)" in capsys.readouterr().out


def test_validate_exits_1_when_the_menu_names_an_unknown_entry(
    tmp_corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(tmp_corpus, "  - contact-email\n", "  - contact-emails\n", file="dialogue.yaml")
    assert validate(tmp_corpus, "--quick") == 1
    assert "unknown entry id 'contact-emails'" in capsys.readouterr().out


def test_validate_exits_1_when_a_reply_misses_a_language(
    tmp_corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(tmp_corpus, '    zh: "以上就是全部内容。还有什么想了解的吗？"\n', "", file="dialogue.yaml")
    assert validate(tmp_corpus, "--quick") == 1
    assert "replies.nothing_more.zh is missing" in capsys.readouterr().out


def test_validate_exits_1_on_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert validate(tmp_path / "nowhere", "--quick") == 1


def test_the_real_corpus_validates_without_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code = validate(REPO_ROOT / "faq_corpus")
    output = capsys.readouterr().out
    assert code == 0, output
    assert " 0 error(s)" in output


# --- a running bot and a broken corpus ---------------------------------------------------------------


@pytest.fixture
def tmp_bot(mini_config: Config, tmp_corpus: Path) -> FAQBot:
    """A bot reading the writable copy of the mini corpus."""
    return FAQBot(replace(mini_config, corpus_dir=tmp_corpus), MemoryStorage())


def test_reload_with_a_broken_corpus_keeps_the_previous_one(tmp_bot: FAQBot, tmp_corpus: Path) -> None:
    edit(tmp_corpus, "id: contact-phone", "id: contact-email")
    ok, message = tmp_bot.reload()
    assert (ok, "duplicate id" in message) == (False, True)
    assert tmp_bot.ask("phone number").faq_id == "contact-phone"


def test_reload_after_a_fix_serves_the_new_answer(tmp_bot: FAQBot, tmp_corpus: Path) -> None:
    edit(tmp_corpus, "Call 023-68480331.", "Call the college on 023-68480331.")
    ok, _ = tmp_bot.reload()
    assert (ok, tmp_bot.ask("phone number").text) == (True, "Call the college on 023-68480331.")


def test_a_topic_named_by_words_together_needs_two_groups(tmp_corpus: Path) -> None:
    topic = "    zh: [宿舍]\n  - name: fees-of-others\n    together:\n      - [regular]"
    edit(tmp_corpus, "    zh: [宿舍]", topic, "out_of_scope.yaml")
    error = the_error(tmp_corpus)
    assert (error.file, error.line) == (
        "out_of_scope.yaml",
        line_of(tmp_corpus, "together:", "out_of_scope.yaml"),
    )
    assert "two or more lists" in error.message


def test_a_topic_named_by_words_together_is_read_group_by_group(tmp_corpus: Path) -> None:
    edit(
        tmp_corpus,
        "    zh: [宿舍]",
        "    zh: [宿舍]\n  - name: fees-of-others\n    together:\n      - [regular, 普通]\n      - [fee, 学费]",
        "out_of_scope.yaml",
    )
    corpus = load_corpus(tmp_corpus)
    assert corpus.out_of_scope_together == ((("regular", "普通"), ("fee", "学费")),)
