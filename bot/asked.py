"""What kind of fact a question asks for, and whether an answer states one: a number, a time, a share.

"How much is the study-abroad scholarship worth?" shares every word with the scholarships entry, but that
entry names the scholarships without an amount: an answer without a number cannot answer "how much". This is
the matcher's cheapest check of query-answer fit, worked out once per entry and once per question.
"""

from __future__ import annotations

import re

AMOUNT, COUNT, TIME, SHARE = "amount", "count", "time", "share"

_ASKS = {
    SHARE: re.compile(r"percent|percentage|proportion|what share|比例|百分之|百分比|占比|\w率"),
    AMOUNT: re.compile(
        r"how much|what does it cost|cost of|price|\bamount\b|"
        r"多少钱|多少元|多少英镑|几万|贵不贵|费用是多少|花多少|要多少|金额|数额"
    ),
    COUNT: re.compile(
        r"how many|number of|多少人|多少名|多少个|几个|几名|几所|几位|几人|多少位|多少所|多少家|几家|招多少|收多少"
    ),
    TIME: re.compile(
        r"^when\b|[.?!,;]\s*when\b|\bwhen (?:is|are|do|does|did|will|can|was|were|should)\b|what year|which year|"
        r"what date|which date|what day|哪一?年|什么时候|何时|几月|(?<![码话]是)(?<![码话])几号|哪天|哪一天|日期|时间是"
    ),
}
_NUMBER = re.compile(r"\d|[一二三四五六七八九十两百千万]+(?:名|个|人|所|位|年|万|月|家|届)")
_TIME = re.compile(
    r"(?<!\d)(?:19|20)\d\d(?!\d)|\d{4}年|\d+月|\d+日|january|february|march|april|may|june|july|august|september|"
    r"october|november|december|year [1-5]\b|\b(?:first|second|third|fourth|fifth) year|"
    r"[一二三四五]年级|第[1-5一二三四五]年|大[一二三四五]"
)
_YEARS_OF_STUDY = re.compile(
    r"years? \d(?:\s*(?:to|-|–|and)\s*\d)?|第?[1-5一二三四五](?:到|至|-)?[1-5一二三四五]?年级?"
)
"""Which year of the course ("years 1 to 3", "第四年") is a time, not an amount or a count."""
_SHARE = re.compile(r"%|％|百分|percent")


def asked_kinds(text: str) -> frozenset[str]:
    """The kinds of fact a (normalised, lower-case) question asks for; empty for most questions."""
    return frozenset(kind for kind, pattern in _ASKS.items() if pattern.search(text))


def stated_kinds(answer: str) -> frozenset[str]:
    """The kinds of fact an answer states."""
    text = answer.lower()
    kinds = set()
    if _NUMBER.search(_YEARS_OF_STUDY.sub(" ", _TIME.sub(" ", text))):
        kinds.update((AMOUNT, COUNT))
    if _TIME.search(text):
        kinds.add(TIME)
    if _SHARE.search(text):
        kinds.add(SHARE)
    return frozenset(kinds)
