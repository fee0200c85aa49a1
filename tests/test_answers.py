"""Answers: each says the same numbers, dates, phone numbers and e-mail addresses in English and in Chinese.

An applicant reads one language only, so a figure that drifts between the two (a fee, a quota, a date) is a
wrong answer for half of them. The check is mechanical: it pulls the figures out of both texts and compares.

What counts as the same figure:
- thousands separators and 万 forms are the same number: 62,000 = 62000 = 6.2万;
- a date is its day, month and year, whichever way it is written: 26 June 2025 = 2025年6月26日;
- 五年制 is 5 (the one place Chinese numerals are read: elsewhere 一 and 二 are words, as in 唯一 or 第一年);
- numbers written as words ("the first year", "two classes", 第一年, 两个班) are not compared in either language,
  so write a figure the same way in both: "year 5" and 第5年, "joint 2nd" and 并列第2.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from conftest import REPO_ROOT

from bot.corpus import Entry, load_corpus

_MONTH_NAMES = "january february march april may june july august september october november december"
MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES.split(" "), 1)}
_MONTH = "|".join(MONTHS)
_EN_DATE = re.compile(rf"\b(?:(\d{{1,2}})\s+)?({_MONTH})\b(?:\s+(\d{{4}}))?", re.IGNORECASE)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_PHONE = re.compile(r"(?<!\d)0\d{2,3}-\d{7,8}(?!\d)")
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")
_WAN = re.compile(r"(\d+(?:\.\d+)?)万")
_ZH_DIGITS = {
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
}
_ZH_YEARS_LONG = re.compile(r"([一二三四五六七八九十])年制")


def _number(text: str) -> str:
    value = float(text.replace(",", ""))
    return str(int(value)) if value == int(value) else str(value)


def figures(text: str, lang: str) -> tuple[set[str], set[str], set[str]]:
    """(numbers, phone numbers, e-mail addresses) in one answer, each in one written form."""
    emails = set(_EMAIL.findall(text))
    text = _EMAIL.sub(" ", text)
    phones = set(_PHONE.findall(text))
    text = _PHONE.sub(" ", text)
    numbers: set[str] = set()
    if lang == "en":
        for day, month, year in _EN_DATE.findall(text):
            if day or year:
                numbers.update(n for n in (day, str(MONTHS[month.lower()]), year) if n)
        text = _EN_DATE.sub(lambda m: " " if m.group(1) or m.group(3) else m.group(0), text)
    else:
        numbers.update(_number(n) for n in _WAN.findall(text) for n in [str(float(n) * 10000)])
        text = _WAN.sub(" ", text)
        numbers.update(str(_ZH_DIGITS[n]) for n in _ZH_YEARS_LONG.findall(text))
    numbers.update(_number(n) for n in _NUMBER.findall(text))
    return numbers, phones, emails


def answer_pairs() -> Iterator[pytest.ParameterSet]:
    """(English, Chinese) for every answer and every variant answer of the real corpus, named by entry."""
    for entry in load_corpus(REPO_ROOT / "faq_corpus").entries:
        yield pytest.param(entry.answer["en"], entry.answer["zh"], id=entry.id)
        for key, texts in entry.variants.items():
            yield pytest.param(texts["en"], texts["zh"], id=f"{entry.id}/{key}")


def real_entries() -> list[Entry]:
    return list(load_corpus(REPO_ROOT / "faq_corpus").entries)


@pytest.mark.parametrize(("en", "zh"), list(answer_pairs()))
def test_both_languages_carry_the_same_figures(en: str, zh: str) -> None:
    assert figures(en, "en") == figures(zh, "zh")


@pytest.mark.parametrize(
    ("text", "lang", "numbers"),
    [
        ("RMB 62,000 per year", "en", {"62000"}),
        ("每年62000元（6.2万元/年）", "zh", {"62000"}),
        ("on Thursday 26 June 2025", "en", {"26", "6", "2025"}),
        ("2025年6月26日（星期四）", "zh", {"2025", "6", "26"}),
        ("approved in January 2018", "en", {"1", "2018"}),
        ("in May, at 20th place", "en", {"20"}),
        ("学制五年制，第5年在附属医院实习", "zh", {"5"}),
        ("唯一的项目，第一年，两个班", "zh", set()),
        ("电话023-68480331", "zh", set()),
    ],
)
def test_figures_are_read_in_one_written_form(text: str, lang: str, numbers: set[str]) -> None:
    assert figures(text, lang)[0] == numbers


def test_phone_numbers_and_addresses_are_read_whole() -> None:
    found = figures("Call 023-68480331 or email int.med@cqmu.edu.cn.", "en")
    assert found == (set(), {"023-68480331"}, {"int.med@cqmu.edu.cn"})


def test_a_figure_that_differs_between_the_languages_is_caught() -> None:
    assert figures("RMB 62,000 per year", "en") != figures("每年6.5万元", "zh")


def test_every_entry_names_its_source() -> None:
    assert [e.id for e in real_entries() if not e.source.strip()] == []
