"""The keyword index: its array-backed answers agree with the plain definitions they stand for."""

from __future__ import annotations

import pytest

from bot.engine import Brain
from bot.index import KeywordIndex, Nearness, Query, Weighing
from bot.text import CJK

QUESTIONS = [
    "学费多少",
    "xuefei duoshao",
    "tution fe for internationl studnets",
    "how many places does the science stream get",
    "我是山东的家长，孩子英语平时考110左右，想问下这个项目对高考英语有没有分数要求？",
    "UoL的degree承认吗",
    "is it a 5-year or 6-year course",
    "宿舍是上床下桌吗",
    "weather",
]
PER_ENTRY = 4


@pytest.fixture(scope="module")
def index(brain: Brain) -> KeywordIndex:
    return brain.matcher.index


def _query(brain: Brain, text: str) -> Query:
    return brain.matcher.analyse(text)


def _shared(index: KeywordIndex, query: Query, phrasing: int) -> float:
    return sum(index.weight(f) for f in query.features & index.phrasings[phrasing].features)


def _dice(index: KeywordIndex, query: Query, weighing: Weighing, phrasing: int) -> float:
    """Weighted Dice overlap of the query and one phrasing, straight from its definition."""
    return 2 * _shared(index, query, phrasing) / (weighing.mass + index.phrasing_mass[phrasing])


def _nearest(brain: Brain, index: KeywordIndex, text: str) -> tuple[Query, Weighing, list[int], Nearness]:
    """A question's analysis, weights, shortlist of 12 and what the index says of their nearest phrasings."""
    query = _query(brain, text)
    weighing = index.weigh(query)
    entries = [entry for entry, _ in index.shortlist(query, 12)]
    return query, weighing, entries, index.nearest(weighing, entries, query.lang, PER_ENTRY)


def _readable_in(index: KeywordIndex, phrasing: int, lang: str) -> bool:
    """A phrasing in the language, or one mixing Chinese and Latin script (read in both)."""
    p = index.phrasings[phrasing]
    return p.lang == lang or (bool(CJK.search(p.text)) and any("a" <= c <= "z" for c in p.text))


def _phrasings_of(index: KeywordIndex, entry: int) -> list[int]:
    return [number for number, p in enumerate(index.phrasings) if p.entry == entry]


@pytest.mark.parametrize("text", QUESTIONS)
def test_coverage_is_the_share_of_the_query_weight_each_entry_accounts_for(
    brain: Brain, index: KeywordIndex, text: str
) -> None:
    query = _query(brain, text)
    mass = index.query_mass(query)
    for entry, coverage in index.coverage(query, 12).items():
        expected = (
            sum(index.weight(f) * index.entry_weights[entry].get(f, 0.0) for f in query.features) / mass
        )
        assert coverage == pytest.approx(expected)


@pytest.mark.parametrize("text", QUESTIONS)
def test_shortlist_holds_the_best_covered_entries_best_first(
    brain: Brain, index: KeywordIndex, text: str
) -> None:
    query = _query(brain, text)
    shortlist = index.shortlist(query, 5)
    assert len(shortlist) <= 5
    assert [c for _, c in shortlist] == sorted((c for _, c in shortlist), reverse=True)


@pytest.mark.parametrize("text", QUESTIONS)
def test_nearest_gives_each_entrys_best_overlap_and_containment(
    brain: Brain, index: KeywordIndex, text: str
) -> None:
    query, weighing, entries, near = _nearest(brain, index, text)
    for entry in entries:
        phrasings = _phrasings_of(index, entry)
        dice = [_dice(index, query, weighing, p) for p in phrasings]
        contained = [
            _shared(index, query, p) / index.phrasing_mass[p] for p in phrasings if index.phrasing_mass[p]
        ]
        assert near.overlap[entry] == pytest.approx(max(dice))
        assert near.containment[entry] == pytest.approx(max(contained, default=0.0))


@pytest.mark.parametrize("text", QUESTIONS)
def test_closest_phrasings_are_the_best_overlapping_ones_in_the_askers_language(
    brain: Brain, index: KeywordIndex, text: str
) -> None:
    query, weighing, entries, near = _nearest(brain, index, text)
    assert len(near.closest) == len(near.closest_owner)
    for position, entry in enumerate(entries):
        chosen = [p for p, owner in zip(near.closest, near.closest_owner, strict=True) if owner == position]
        assert chosen, "every shortlisted entry is compared with at least one phrasing"
        assert len(chosen) <= PER_ENTRY
        assert all(index.phrasings[p].entry == entry for p in chosen)
        assert all(_readable_in(index, p, query.lang) for p in chosen)
        sharing = [p for p in chosen if _shared(index, query, p) > 0]
        if sharing:
            left_out = set(_phrasings_of(index, entry)) - set(chosen)
            worst_chosen = min(_dice(index, query, weighing, p) for p in sharing)
            for p in left_out:
                if index.phrasings[p].lang == query.lang and len(chosen) == PER_ENTRY:
                    assert _dice(index, query, weighing, p) <= worst_chosen


def test_nearest_for_several_queries_at_once_equals_one_at_a_time(brain: Brain, index: KeywordIndex) -> None:
    queries = [_query(brain, text) for text in QUESTIONS]
    weighings = [index.weigh(q) for q in queries]
    asks = [
        (w, [entry for entry, _ in index.shortlist(q, 12, w)], q.lang)
        for q, w in zip(queries, weighings, strict=True)
    ]
    together = index.nearest_many(asks, PER_ENTRY)
    apart = [index.nearest(w, entries, lang, PER_ENTRY) for w, entries, lang in asks]
    assert together == apart


def test_shortlists_for_several_queries_at_once_equal_one_at_a_time(
    brain: Brain, index: KeywordIndex
) -> None:
    weighings = [index.weigh(_query(brain, text)) for text in QUESTIONS]
    assert index.shortlist_many(weighings, 12) == [index.shortlist_many([w], 12)[0] for w in weighings]


def test_a_query_without_known_features_has_no_candidates(brain: Brain, index: KeywordIndex) -> None:
    query = _query(brain, "zzzqqq")
    weighing = index.weigh(query)
    assert index.shortlist(query, 12, weighing) == []
    assert index.nearest(weighing, [], query.lang, PER_ENTRY).closest == []
