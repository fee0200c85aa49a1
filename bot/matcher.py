"""The matcher: scores the index's shortlist with keyword evidence and fuzzy similarity, then decides."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache, partial
from typing import NamedTuple

import numpy as np
from rapidfuzz import fuzz, process

from bot.asked import asked_kinds, stated_kinds
from bot.config import MatchSettings
from bot.corpus import Corpus, Entry
from bot.decision import DecisionModel
from bot.index import Analyser, Analysis, KeywordIndex, Nearness, Query, fuzzy_form
from bot.text import CJK, FiledTerms
from bot.tokenise import EN_STOP_WORDS

MATCH_CACHE_SIZE = 4096
WARM_UP_TEXTS = (
    "xuefei duoshao",
    "孩子今年想报考这个项目吗？学费多少",
    "tution fe for internationl studnets. thanks",
)
OUT_OF_SCOPE_FACTOR = 0.3
THIN_EVIDENCE_FACTOR = 0.6
VARIANT_REACH = 25.0
"""How far below the best a candidate with an answer for the named province or campus may be and still go first."""
TOGETHER = "&"
"""Joins the words of an out-of-scope topic named by words together ("regular&tuition")."""
FULLER_GAP = 10.0
"""How far a third candidate must trail for two that give the same facts to be one answer."""
SPEAKS_TO_SHARE = 0.7
"""Share of the question's words (by weight) found in the general entry that the specific one must also use."""
FUZZY_PER_ENTRY = 10
"""Phrasings per shortlisted entry compared character by character: those sharing the most words."""


class Evidence(NamedTuple):
    """Why an entry might answer a question, each part from 0 to 1."""

    coverage: float  # share of the question's weight that the entry's words account for
    overlap: float  # weighted Dice overlap with the nearest phrasing
    containment: float  # share of the nearest phrasing's weight found in the question
    fuzzy: float  # character similarity with the nearest phrasing
    core: float = (
        1.0  # share of the entry's defining words (used by most of its phrasings) that the question uses
    )
    penalty: float = 1.0  # below 1 when the question names an out-of-scope topic or shares one common word

    def confidence(self, s: MatchSettings) -> float:
        """One calibrated confidence from 0 to 100, with the weights kept in config.yaml."""
        total = (
            s.coverage_weight * min(1.0, self.coverage)
            + s.overlap_weight * self.overlap
            + s.containment_weight * self.containment
            + s.fuzzy_weight * self.fuzzy
            + s.core_weight * self.core
        )
        return round(100 * self.penalty * total, 2)


class Candidate(NamedTuple):
    """One entry considered for a question, with its confidence (0-100) and the evidence behind it."""

    entry: Entry
    confidence: float
    evidence: Evidence


@dataclass(frozen=True)
class Match:
    """The matcher's verdict: 'answer', 'suggest' or 'decline', with the ranked candidates."""

    decision: str
    query: Query
    candidates: tuple[Candidate, ...] = ()
    entity: str | None = None
    probability: float | None = None  # the decision model's P(best entry is right), when there is one

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def confidence(self) -> float:
        return self.candidates[0].confidence if self.candidates else 0.0


class Matcher:
    """Finds the entry that answers a question, or says that none does."""

    def __init__(
        self,
        corpus: Corpus,
        settings: MatchSettings,
        model: DecisionModel | None = None,
        known: Analysis | None = None,
    ) -> None:
        self.corpus = corpus
        self.settings = settings
        self.model = model
        self.analyser = Analyser(corpus, known)
        self.index = KeywordIndex(corpus, self.analyser)
        self._number = {entry.id: number for number, entry in enumerate(corpus.entries)}
        # Families ask the same few questions again and again; a verdict depends only on the text.
        self._cached_match = lru_cache(maxsize=MATCH_CACHE_SIZE)(self._match)
        normalise = self.analyser.normal
        self._out_of_scope = TermSet(normalise(t) for t in corpus.out_of_scope)
        self._out_of_scope_together = [
            tuple(TermSet(normalise(t) for t in group) for group in groups)
            for groups in corpus.out_of_scope_together
        ]
        # An entry asked about an out-of-scope term is one whose phrasings use it; an answer that only mentions
        # it ("that Gaokao score is the only requirement") does not make the topic its own.
        self._phrasing_texts = [[normalise(t) for t, _ in e.phrasings()] for e in corpus.entries]
        self._entry_texts = [
            texts + [normalise(a) for a in e.answer.values()]
            for texts, e in zip(self._phrasing_texts, corpus.entries, strict=True)
        ]
        self._answer_features = [self._answer_words(e) for e in corpus.entries]
        self._answer_facts = [{lang: _facts(e.answer[lang]) for lang in e.answer} for e in corpus.entries]
        self._keyword_features = [self._keyword_words(e) for e in corpus.entries]
        self._answer_kinds = [self._kinds_stated(e) for e in corpus.entries]
        self._corpus_text = "\n".join(text for texts in self._entry_texts for text in texts)
        # Whether the corpus names an institution, remembered: "medical college" is asked about again and again.
        self._corpus_names = lru_cache(maxsize=4096)(partial(_mentions_word, self._corpus_text))
        self._analysis: Analysis | None = self.analyser.built()
        self._warm_up()

    def take_analysis(self) -> Analysis | None:
        """What the build worked out from the corpus texts, handed over once (to keep on disk), then forgotten."""
        analysis, self._analysis = self._analysis, None
        return analysis

    @staticmethod
    def _kinds_stated(entry: Entry) -> frozenset[str]:
        """The kinds of fact (amount, count, time, share) the entry's answers or variant answers state."""
        return frozenset(kind for text in _answer_texts(entry) for kind in stated_kinds(text))

    def _answer_words(self, entry: Entry) -> frozenset[str]:
        """What an entry's answers (and variant answers) speak of: the query-answer relevance of a question."""
        return frozenset(
            f
            for text in _answer_texts(entry)
            for f in self.analyser.analyse(text, repair=False).features
            if not f.startswith("@")
        )

    def _keyword_words(self, entry: Entry) -> frozenset[str]:
        """The words of an entry's keywords, as questions are indexed."""
        return frozenset(
            f
            for words in entry.keywords.values()
            for word in words
            for f in self.analyser.analyse(word, repair=False).features
            if f[0] not in "~@"
        )

    def analyse(self, text: str) -> Query:
        """The question as the index sees it (normalised, entities spotted, pinyin read, typos mended)."""
        return self.analyser.analyse(text, repair=True)

    def score(self, query: Query) -> list[Candidate]:
        """Candidates from the shortlist, best first."""
        return self.rank(self.evidence(query))

    def rank(self, evidence: list[tuple[Entry, Evidence]]) -> list[Candidate]:
        """Candidates ordered by confidence under the configured weights."""
        candidates = [Candidate(entry, ev.confidence(self.settings), ev) for entry, ev in evidence]
        candidates.sort(key=lambda c: (-c.confidence, c.entry.id))
        return candidates

    def evidence(self, query: Query) -> list[tuple[Entry, Evidence]]:
        """The evidence for each shortlisted entry (the tuner reweighs it without re-reading questions)."""
        return self.evidence_many([query])[0]

    def evidence_many(self, queries: list[Query]) -> list[list[tuple[Entry, Evidence]]]:
        """`evidence` for several queries (the sentences of one message), their nearest phrasings found at once."""
        weighings = [self.index.weigh(query) for query in queries]
        shortlists = self.index.shortlist_many(weighings, self.settings.shortlist_size)
        asks = [
            (weighing, [number for number, _ in shortlist], query.lang)
            for query, weighing, shortlist in zip(queries, weighings, shortlists, strict=True)
        ]
        nearness = self.index.nearest_many(asks, FUZZY_PER_ENTRY)
        return [
            self._weigh_up(query, shortlist, near)
            for query, shortlist, near in zip(queries, shortlists, nearness, strict=True)
        ]

    def _weigh_up(
        self, query: Query, shortlist: list[tuple[int, float]], near: Nearness
    ) -> list[tuple[Entry, Evidence]]:
        """Each shortlisted entry's evidence from its coverage, nearest phrasings and character similarity."""
        if not shortlist:
            return []
        out_of_scope = self._out_of_scope_terms(query)
        fuzzy = self._fuzzy(query, near, len(shortlist))
        found = []
        for (number, coverage), similarity in zip(shortlist, fuzzy, strict=True):
            penalty = 1.0
            if out_of_scope and not self._entry_mentions(number, out_of_scope):
                penalty *= OUT_OF_SCOPE_FACTOR
            if self._thin_evidence(query, number):
                penalty *= THIN_EVIDENCE_FACTOR
            core = self._core_share(query, number)
            evidence = Evidence(
                coverage,
                near.overlap.get(number, 0.0),
                near.containment.get(number, 0.0),
                similarity,
                core,
                penalty,
            )
            found.append((self.corpus.entries[number], evidence))
        return found

    def _fuzzy(self, query: Query, nearness: Nearness, count: int) -> list[float]:
        """Per shortlisted entry, the best character similarity (0-1) with one of its closest phrasings.

        Only the few phrasings that share the most words with the question are compared: the most similar
        phrasing is almost always among them, and comparing every phrasing would cost more than the rest.
        """
        best = np.zeros(count)
        if not nearness.closest:
            return best.tolist()
        choices = [self.index.fuzzy_text[p] for p in nearness.closest]
        text = fuzzy_form(query.text)
        if query.lang == "zh" or len(text) > LONG_TEXT:
            scores = process.cdist([text], choices, scorer=fuzz.ratio)[0]
        else:
            scores = (
                process.cdist([text], choices, scorer=fuzz.ratio)[0]
                + process.cdist([text], choices, scorer=fuzz.token_set_ratio)[0]
            ) / 2
        np.maximum.at(best, nearness.closest_owner, scores / 100)
        return best.tolist()

    def evidence_for_text(self, text: str) -> tuple[Query, list[tuple[Entry, Evidence]]]:
        """Evidence for a message; a long one is read question by question, keeping each entry's best."""
        segments = question_segments(text)
        if not segments:
            query = self.analyse(text)
            return query, self.evidence(query)
        query = self.analyser.glance(text)
        found: dict[str, tuple[float, Entry, Evidence]] = {}
        named = frozenset("@" + t for t in query.spotted.types)
        parts = []
        for segment in segments:
            part = self.analyse(segment)
            # A province named in another sentence still qualifies this one ("湖南的孩子能报吗？名额多少").
            if not named <= part.features:
                part = replace(part, features=part.features | named)
            parts.append(part)
        for evidence in self.evidence_many(parts):
            for entry, ev in evidence:
                confidence = ev.confidence(self.settings)
                known = found.get(entry.id)
                if known is None or confidence > known[0]:
                    found[entry.id] = (confidence, entry, ev)
        return query, [(entry, ev) for _, entry, ev in found.values()]

    def _core_share(self, query: Query, number: int) -> float:
        core = self.index.core_sets[number].get(query.lang)
        if not core:
            return 1.0
        return self.index.mass(core & query.features) / self.index.core_mass[number][query.lang]

    def _thin_evidence(self, query: Query, number: int) -> bool:
        """True when one shared common word is all that links the question to the entry."""
        shared = query.plain_features & self.index.entry_features[number]
        if len(shared) != 1 or len(query.tokens.words) + len(query.tokens.unknown) <= 1:
            return False
        (word,) = shared
        return self.index.idf.get(word, 0.0) < self.index.unknown_idf / 2

    def is_common_word(self, word: str) -> bool:
        """True for a word so many entries use that it says nothing of which ("how", "多少")."""
        return self.index.idf.get(word, self.index.unknown_idf) < self.index.unknown_idf / 2

    def out_of_scope_terms(self, query: Query) -> list[str]:
        """The out_of_scope.yaml terms the question uses."""
        return self._out_of_scope_terms(query)

    def _out_of_scope_terms(self, query: Query) -> list[str]:
        terms = self._out_of_scope.found_in(query.text)
        if query.spotted.found:  # a name the entity list knows may still be out of scope ("Hong Kong")
            terms += [
                t
                for t in self._out_of_scope.found_in(query.normal or self.analyser.normal(query.original))
                if t not in terms
            ]
        return terms + self._words_together(query.text) + self._other_institutions(query.text)

    def _words_together(self, text: str) -> list[str]:
        """out_of_scope.yaml topics named by words together ("regular" … "tuition"), as "regular&tuition"."""
        found = []
        for groups in self._out_of_scope_together:
            parts = []
            for group in groups:
                hits = group.found_in(text)
                if not hits:
                    break
                parts.append(hits[0])
            else:
                found.append(TOGETHER.join(parts))
        return found

    def _other_institutions(self, text: str) -> list[str]:
        """Universities and colleges the question names that the corpus never does ("浙江大学", "Jahrom University").

        A question about another institution's fees or rules is not answered by this programme's entries,
        however many other words it shares with them.
        """
        tokeniser = self.analyser.tokeniser
        _, chinese = tokeniser.surface_words(text)
        found = [w for w in chinese if len(w) > 2 and w.endswith(INSTITUTION_ENDINGS_ZH)]
        for match in _INSTITUTION_EN.finditer(text):
            name = match.group(1) or match.group(2)
            if (
                name not in EN_STOP_WORDS
                and not tokeniser.is_everyday(name)
                and not tokeniser.is_misspelt_corpus_word(name)
            ):
                found.append(match.group())
        return [name for name in found if not self._corpus_names(name)]

    def _entry_mentions(self, number: int, terms: list[str]) -> bool:
        """Whether one of the entry's phrasings uses a term (all the words of a topic named by words together)."""
        return any(
            all(part in text for part in term.split(TOGETHER))
            for term in terms
            for text in self._phrasing_texts[number]
        )

    def match(self, text: str) -> Match:
        """Answer, suggest or decline, with thresholds from config.yaml (the same text is worked out once)."""
        return self._cached_match(text)

    def _warm_up(self) -> None:
        """Load what libraries load lazily (jieba's dictionary, pinyin tables, numpy) now, not on a user's question."""
        for text in WARM_UP_TEXTS:
            self._match(text)
        self.analyser.clear_cache()

    def clear_cache(self) -> None:
        """Forget remembered verdicts (benchmarks measure the work, not the cache)."""
        self._cached_match.cache_clear()
        self.analyser.clear_cache()

    def _match(self, text: str) -> Match:
        query, evidence = self.evidence_for_text(text)
        return self.decide(query, tuple(self.rank(evidence)))

    def decide(self, query: Query, candidates: tuple[Candidate, ...]) -> Match:
        """Confident and clearly right answers; close calls between different answers suggest; the rest declines.

        With a fitted decision model (`decision.yaml` in the corpus), "confident and clearly right" is the
        model's probability that the best entry answers; without one, the configured thresholds and margin.
        """
        s = self.settings
        if not candidates or candidates[0].confidence < s.suggest_threshold:
            return Match("decline", query, candidates)
        candidates = self.arrange(query, candidates)
        best = candidates[0]
        entity = query.spotted.key_for(best.entry.variant_entity)
        if not self.can_state(query, best):
            return Match("decline", query, candidates)  # "how much is it worth?" and the answer has no amount
        close = tuple(c for c in candidates if c.confidence >= s.suggest_threshold)[: s.max_suggestions]
        suggested = Match("suggest", query, close + candidates[len(close) :], entity)
        if self.model is not None:
            probability = self.model.probability(self.decision_features(query, candidates))
            if probability >= self.model.answer_at:
                return Match("answer", query, candidates, entity, probability)
            if probability >= self.model.suggest_at and len(close) > 1:
                return replace(suggested, probability=probability)
            return Match("decline", query, candidates, None, probability)
        runner_up = candidates[1].confidence if len(candidates) > 1 else 0.0
        clear = best.confidence - runner_up >= s.answer_margin or best.confidence >= s.sure_threshold
        if best.confidence >= s.answer_threshold and clear:
            return Match("answer", query, candidates, entity)
        if len(close) == 1 and best.confidence >= min(s.answer_threshold, s.single_threshold):
            return Match("answer", query, candidates, entity)
        return suggested

    def can_state(self, query: Query, candidate: Candidate) -> bool:
        """False when the question asks for an amount, count, time or share that the entry never states."""
        return not asked_kinds(query.text) - self._answer_kinds[self._number[candidate.entry.id]]

    def decision_features(self, query: Query, candidates: tuple[Candidate, ...]) -> list[float]:
        """The evidence the decision model weighs, in the order of `bot.decision.FEATURES`."""
        best = candidates[0]
        number = self._number[best.entry.id]
        ev = best.evidence
        runner_up = candidates[1] if len(candidates) > 1 else None
        margin = (best.confidence - runner_up.confidence) / 100 if runner_up else 1.0
        if query.features:
            mass = self.index.query_mass(query) or 1.0
            relevance = self.index.mass(query.features & self._answer_features[number]) / mass
            known = self.index.entry_features[number] | self._answer_features[number]
            uncovered = self.index.mass(query.features - known) / mass
            words = len(query.tokens.words) + len(set(query.tokens.unknown))
            foreign = len(set(query.tokens.unknown) & query.features) / words if words else 0.0
            everyday = len(query.tokens.everyday) / (words + len(query.tokens.everyday) or 1)
        else:  # a long message read sentence by sentence: its coverage stands for the rest
            relevance, uncovered, foreign, everyday = ev.coverage, 1 - min(1.0, ev.coverage), 0.0, 0.0
        same = 1.0 if runner_up is not None and self._same_facts(query, best, runner_up) else 0.0
        named = best.entry.variant_entity and query.spotted.key_for(best.entry.variant_entity)
        return [
            best.confidence / 100,
            margin,
            min(1.0, ev.coverage),
            ev.overlap,
            ev.containment,
            ev.fuzzy,
            ev.core,
            1.0 if ev.penalty < 1.0 else 0.0,
            min(1.0, relevance),
            foreign,
            everyday,
            min(1.0, uncovered),
            same,
            (1 - min(1.0, margin)) * (1 - same),
            1.0 if named else 0.0,
            1.0
            if best.confidence >= self.settings.answer_threshold
            and 100 * margin >= self.settings.answer_margin
            else 0.0,
        ]

    def fuller_of_the_same(self, match: Match) -> Match | None:
        """An answer instead of a close call whose two answers give the same facts: the fuller one.

        "When did the Joint Institute open?" is as close between the ceremony and the institute as can be, and
        either answer gives 25 June: no list is needed, and the answer with all the facts of the other goes.
        Not for a question with words the corpus never uses, nor when the second has the named place's own
        answer, nor below the answer threshold.
        """
        query, candidates = match.query, match.candidates
        if len(candidates) < 2 or candidates[0].confidence < self.settings.answer_threshold:
            return None
        first, second = candidates[0], candidates[1]
        if query.tokens.unknown or self._has_named_variant(query, second.entry):
            return None
        if len(candidates) > 2 and candidates[2].confidence > second.confidence - FULLER_GAP:
            return None  # "英语": the requirement, the first-year course and the teaching language all fit
        if not self._same_facts(query, first, second):
            return None
        if self._facts_of(query, first) < self._facts_of(query, second):
            first, second = Candidate(second.entry, first.confidence, second.evidence), first
        entity = query.spotted.key_for(first.entry.variant_entity)
        return Match("answer", query, (first, second, *candidates[2:]), entity)

    def _facts_of(self, query: Query, candidate: Candidate) -> frozenset[str]:
        lang = query.lang if query.lang in candidate.entry.answer else "en"
        return self._answer_facts[self._number[candidate.entry.id]].get(lang, frozenset())

    def _same_facts(self, query: Query, one: Candidate, other: Candidate) -> bool:
        """True when one answer's numbers and names are all in the other's: either gives the asked fact."""
        mine, theirs = self._facts_of(query, one), self._facts_of(query, other)
        return bool(mine and theirs and (mine <= theirs or theirs <= mine))

    def arrange(self, query: Query, candidates: tuple[Candidate, ...]) -> tuple[Candidate, ...]:
        """The ranking the decision sees: close calls between a general and a specific entry settled."""
        return self._prefer_named_variant(query, self._break_tie(query, candidates))

    def _prefer_named_variant(self, query: Query, candidates: tuple[Candidate, ...]) -> tuple[Candidate, ...]:
        """A close candidate with an answer for the very province or campus the question names goes first.

        "四川理科招多少" is about Sichuan's quota, which the province entry answers province by province; the
        national category split scores as high on the words but answers the general case.
        """
        if not query.spotted.found or not query.features or len(candidates) < 2:
            return candidates  # in a long message a province is often background ("我是重庆考生家长")
        best = candidates[0]
        for candidate in candidates:
            if best.confidence - candidate.confidence > VARIANT_REACH:
                break
            if self._has_named_variant(query, candidate.entry) and self._speaks_to(query, candidate, best):
                promoted = Candidate(candidate.entry, best.confidence, candidate.evidence)
                ceiling = best.confidence - self.settings.answer_margin
                others = [
                    Candidate(c.entry, min(c.confidence, ceiling), c.evidence)
                    for c in candidates
                    if c is not candidate
                ]
                return (promoted, *sorted(others, key=lambda c: (-c.confidence, c.entry.id)))
        return candidates

    def _speaks_to(self, query: Query, candidate: Candidate, best: Candidate) -> bool:
        """True when the candidate's phrasings or answers use most of what the best's use of the question's words.

        "四川考生学费多少" names Sichuan, but the province entry says nothing of 学费: the fee entry answers.
        """
        words = frozenset(f for f in query.features if f[0] not in "~@")
        own, rival = self._number[candidate.entry.id], self._number[best.entry.id]
        needed = words & (self.index.entry_features[rival] | self._answer_features[rival])
        spoken = needed & (self.index.entry_features[own] | self._answer_features[own])
        return self.index.mass(spoken) >= SPEAKS_TO_SHARE * self.index.mass(needed)

    @staticmethod
    def _has_named_variant(query: Query, entry: Entry) -> bool:
        keys = query.spotted.key_for(entry.variant_entity) if entry.variant_entity else None
        return bool(keys) and all(k in entry.variants for k in keys.split("+"))

    def _break_tie(self, query: Query, candidates: tuple[Candidate, ...]) -> tuple[Candidate, ...]:
        """Of two close candidates, the one whose defining words the question lacks steps back.

        "学费贵吗" matches the tuition fee and the Leicester-year fee almost equally; only the second is
        defined by words such as 英国 or 莱斯特, which the question does not use, so the general entry answers.
        The other steps forward when its phrasings use every word of the question, or, for a question without
        words the corpus never uses, when it speaks to what the first would answer ("毕业后可以获得哪些学位"
        is about degrees, not careers, although 毕业后 is a careers phrase).
        """
        s = self.settings
        if len(candidates) < 2 or candidates[0].confidence - candidates[1].confidence >= s.answer_margin:
            return candidates
        first, second = candidates[0], candidates[1]
        if (
            self._lacks_defining_words(query, first, second)
            and not self._lacks_defining_words(query, second, first)
            and (
                self._uses_every_word(query, second)
                or (not query.tokens.unknown and self._speaks_to(query, second, first))
            )
        ):
            promoted = Candidate(second.entry, first.confidence, second.evidence)
            stepped_back = Candidate(
                first.entry, max(0.0, first.confidence - s.answer_margin), first.evidence
            )
            return (promoted, stepped_back, *candidates[2:])
        if (
            self._lacks_defining_words(query, second, first)
            and not self._lacks_defining_words(query, first, second)
            and self._uses_every_word(query, first)
        ):
            stepped_back = Candidate(
                second.entry, max(0.0, first.confidence - s.answer_margin), second.evidence
            )
            return (first, stepped_back, *candidates[2:])
        first_alone, second_alone = (
            self._keywords_alone(query, first, second),
            self._keywords_alone(query, second, first),
        )
        if first_alone != second_alone and not query.tokens.unknown:
            keep, back = (first, second) if first_alone else (second, first)
            return (
                Candidate(keep.entry, first.confidence, keep.evidence),
                Candidate(back.entry, max(0.0, first.confidence - s.answer_margin), back.evidence),
                *candidates[2:],
            )
        return candidates

    def _keywords_alone(self, query: Query, candidate: Candidate, other: Candidate) -> bool:
        """True when the question uses a keyword of the candidate that the other's phrasings and answer never use.

        "What is the tuition fee for the CQMU–Leicester Clinical Medicine programme?" names the programme, as
        the overview's phrasings do, but asks about the fee, a keyword of the fee entry the overview never speaks of.
        """
        number, rival = self._number[candidate.entry.id], self._number[other.entry.id]
        used = self._keyword_features[number] & query.features
        return bool(used - self.index.entry_features[rival] - self._answer_features[rival])

    def _uses_every_word(self, query: Query, candidate: Candidate) -> bool:
        """True when the candidate's phrasings use every word of the question (nothing points elsewhere)."""
        words = {f for f in query.features if f[0] not in "~@"}
        return words <= self.index.entry_features[self._number[candidate.entry.id]]

    def _lacks_defining_words(self, query: Query, candidate: Candidate, other: Candidate) -> bool:
        """True when the candidate has defining words the other never uses, and the question uses none of them."""
        number, rival = self._number[candidate.entry.id], self._number[other.entry.id]
        own = self.index.defining_words(number, rival, query.lang)
        return bool(own) and not own & query.features


_SENTENCE_BREAK = re.compile(r"(?<=[。！？!?；;\n])|(?<=[a-z0-9]\.)\s+", re.IGNORECASE)
_CLAUSE_BREAK = re.compile(r"[，,、]")
_EN_QUESTION = re.compile(
    r"^(what|how|when|where|which|who|whose|why|is|are|am|can|could|do|does|did|will|would|should|may|any|"
    r"tell me|please tell|i want to know|i'd like to know|i would like to know)\b"
)
_ZH_QUESTION = re.compile(
    r"吗|呢|么|多少|几|什么|怎么|怎样|如何|哪|是否|能否|可否|有没有|是不是|能不能|会不会|要不要|需不需要|可不可以"
)
MAX_SEGMENTS = 4
LONG_TEXT = 80
"""Past this many characters, word-set similarity costs more than it tells; plain similarity is used."""
LONG_SENTENCE = 20
"""A question sentence longer than this is also read by its last clause, where the question usually is."""


def _asks(sentence: str) -> bool:
    if sentence[-1] in "?？":
        return True
    if CJK.search(sentence):
        return bool(_ZH_QUESTION.search(sentence))
    return bool(_EN_QUESTION.match(sentence.lower()))


def question_segments(text: str) -> list[str]:
    """The questions inside a long message (its other sentences are greetings and background), or []."""
    sentences = [part.strip() for part in _SENTENCE_BREAK.split(text) if part and part.strip()]
    clauses = sum(len(_CLAUSE_BREAK.split(s)) for s in sentences)
    if len(sentences) < 2 and clauses < 3:
        return []
    asking = [s for s in sentences if _asks(s)]
    if not asking:
        return sentences[:MAX_SEGMENTS]
    segments = []
    for sentence in asking:
        segments.append(sentence)
        last = _CLAUSE_BREAK.split(sentence)[-1].strip()
        if len(sentence) > LONG_SENTENCE and last and last != sentence and len(last) >= 4:
            segments.append(last)
    return segments[:MAX_SEGMENTS]


def _answer_texts(entry: Entry) -> list[str]:
    """An entry's answers and variant answers, in both languages."""
    return list(entry.answer.values()) + [t for v in entry.variants.values() for t in v.values()]


def out_of_scope_clashes(corpus: Corpus, normalise) -> list[tuple[Entry, str, list[str]]]:
    """(entry, phrasing, terms) for each phrasing that uses out_of_scope.yaml terms: asked that way, the
    entry is fought by the list and families are declined."""
    terms = TermSet(normalise(t) for t in corpus.out_of_scope)
    clashes = []
    for entry in corpus.entries:
        for text, _ in entry.phrasings():
            found = terms.found_in(normalise(text))
            if found:
                clashes.append((entry, text, found))
    return clashes


INSTITUTION_ENDINGS_ZH = ("大学", "学院", "医院")
_INSTITUTION_EN = re.compile(
    r"\b([a-z]{3,})\s+(?:university|college|medical school)\b|\buniversity\s+of\s+([a-z]{3,})\b"
)


def _mentions_word(text: str, name: str) -> bool:
    """True when the text has the name, a Latin name as a whole word ("tongji" is not in "tongjie")."""
    start = text.find(name)
    if CJK.search(name):
        return start >= 0
    while start >= 0:  # str.find is far quicker over the whole corpus than a regular expression
        end = start + len(name)
        if text[start - 1 : start] not in _WORD_CHARS and text[end : end + 1] not in _WORD_CHARS:
            return True
        start = text.find(name, start + 1)
    return False


_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


_FACT = re.compile(r"\d+(?:\.\d+)?|[\w.+-]+@[\w.-]+")


def _facts(text: str) -> frozenset[str]:
    """The numbers, dates and addresses an answer states: two answers with the same facts say the same thing."""
    return frozenset(_FACT.findall(text))


class TermSet:
    """Fixed terms to look for in normalised text: Chinese anywhere, Latin-script ones as whole words."""

    def __init__(self, terms) -> None:
        self._terms = FiledTerms(sorted({t for t in terms if t}))
        # A Latin-script term's whole-word pattern, compiled the first time the term is a candidate: compiling
        # every term's at start-up would cost a tenth of a second, and most are never candidates.
        self._whole_word: dict[str, re.Pattern[str]] = {}

    def found_in(self, text: str) -> list[str]:
        """The terms that occur in the text (a Latin-script term between non-letters: "tsinghua's", "visa怎么办")."""
        return [
            t
            for t in self._terms.candidates(text)
            if (t in text if CJK.search(t) else self._whole(t).search(text))
        ]

    def _whole(self, term: str) -> re.Pattern[str]:
        pattern = self._whole_word.get(term)
        if pattern is None:
            pattern = self._whole_word[term] = re.compile(rf"(?<![a-z0-9]){re.escape(term)}(?![a-z0-9])")
        return pattern
