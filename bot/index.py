"""The keyword index: built once per corpus, it maps tokens to the entries that use them, weighted by rarity."""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache

from bot.corpus import Corpus, Entry
from bot.entities import PLACEHOLDER, EntitySpotter, Spotted
from bot.text import CJK, TextNormaliser, detect_language
from bot.tokenise import Tokeniser, Tokens, synonym_groups

BIGRAM_WEIGHT = 0.5
ANALYSE_CACHE_SIZE = 4096
ANSWER_WEIGHT = 0.3
KEYWORD_WEIGHT = 1.0
CORE_SHARE = 0.4
RARE_SHARE = 0.1
COMMON_SHARE = 0.05
COMMON_MIN_ENTRIES = 50
PRESELECT = 24
"""Entries whose full keyword coverage is computed, chosen by their rarer shared features."""


@dataclass(frozen=True)
class Phrasing:
    """One way of asking an entry, pre-processed for scoring."""

    entry: int
    lang: str
    text: str
    features: frozenset[str]


@dataclass(frozen=True)
class Query:
    """A question as the index sees it."""

    original: str
    text: str
    lang: str
    spotted: Spotted
    tokens: Tokens
    features: frozenset[str]
    read_as_pinyin: bool = False


def features_of(tokens: Tokens, spotted: Spotted) -> frozenset[str]:
    """Index features: words, '~' + Chinese bigram, '@' + named entity type."""
    out = set(tokens.words)
    out.update("~" + b for b in tokens.bigrams if PLACEHOLDER not in b)
    out.update("@" + t for t in spotted.types)
    return frozenset(out)


class Analyser:
    """Turns raw text into index features: normalise, spot entities, read pinyin, tokenise, expand synonyms."""

    def __init__(self, corpus: Corpus) -> None:
        self.normaliser = TextNormaliser()
        self.tokeniser = Tokeniser(
            synonyms=synonym_groups({"groups": [list(g) for g in corpus.synonyms]}),
            userdict=corpus.userdict,
            extra_words=[n.text for n in corpus.entity_names],
        )
        self._cached_analyse = lru_cache(maxsize=ANALYSE_CACHE_SIZE)(self._analyse)
        self.spotter = EntitySpotter(corpus.entity_names, corpus.entity_ignore, self.normaliser.normalise)
        english: list[str] = []
        chinese: list[str] = []
        for entry in corpus.entries:
            for text, lang in _all_texts(entry):
                en, zh = self.tokeniser.surface_words(self.normaliser.normalise(text))
                # Latin words inside Chinese phrasings may be pinyin ("dianhua"), so only English texts teach English.
                english += en if lang == "en" else []
                chinese += zh
        self.tokeniser.learn_vocabulary(english, chinese)

    def analyse(self, text: str, repair: bool) -> Query:
        """Everything the matcher needs to know about one piece of text (worked out once per text)."""
        return self._cached_analyse(text, repair)

    def glance(self, text: str) -> Query:
        """Language and named entities of a long message, without tokenising it (its sentences are read apart)."""
        normal = self.normaliser.normalise(text)
        spotted = self.spotter.spot(normal, mend_typos=True)
        return Query(text, spotted.text, detect_language(normal), spotted, Tokens((), ()), frozenset())

    def clear_cache(self) -> None:
        """Forget remembered analyses."""
        self._cached_analyse.cache_clear()

    def _analyse(self, text: str, repair: bool) -> Query:
        normal = self.normaliser.normalise(text)
        lang = detect_language(normal)
        pinyin = self.tokeniser.read_pinyin(normal) if repair and lang == "en" else None
        if pinyin:
            normal, lang = pinyin, "zh"
        spotted = self.spotter.spot(normal, mend_typos=repair)
        tokens = self.tokeniser.tokenise(spotted.text.replace(PLACEHOLDER, " "), repair=repair)
        return Query(text, spotted.text, lang, spotted, tokens, features_of(tokens, spotted), bool(pinyin))


def _all_texts(entry: Entry) -> list[tuple[str, str]]:
    texts = list(entry.phrasings())
    texts += [(entry.answer[lang], lang) for lang in entry.answer]
    texts += [(k, lang) for lang in entry.keywords for k in entry.keywords[lang]]
    return texts


class KeywordIndex:
    """Inverted index from features to entries, with rarity weights; only its shortlist is scored in full."""

    def __init__(self, corpus: Corpus, analyser: Analyser) -> None:
        self.entries = corpus.entries
        self.analyser = analyser
        self.phrasings: list[Phrasing] = []
        self.by_entry: list[list[Phrasing]] = []
        weights: list[dict[str, float]] = []
        for number, entry in enumerate(corpus.entries):
            phrasings = [self._phrasing(number, text, lang) for text, lang in entry.phrasings()]
            self.phrasings += phrasings
            self.by_entry.append(phrasings)
            weights.append(self._entry_weights(entry, phrasings))
        document_frequency: Counter[str] = Counter(f for w in weights for f in w)
        n = len(corpus.entries)
        self.idf = {f: math.log(1 + n / df) for f, df in document_frequency.items()}
        self.unknown_idf = math.log(1 + n) + 1.0
        self.entry_weights = weights
        self.postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for number, entry_weights in enumerate(weights):
            for feature, weight in entry_weights.items():
                self.postings[feature].append((number, weight))
        self.common_df = max(COMMON_MIN_ENTRIES, int(COMMON_SHARE * n))
        self.core_features = [self._core(phrasings) for phrasings in self.by_entry]
        self.core_sets = [
            {
                lang: frozenset(f for f, share in shares.items() if share >= CORE_SHARE)
                for lang, shares in core.items()
            }
            for core in self.core_features
        ]
        self.entry_features = [
            frozenset(f for p in phrasings for f in p.features) for phrasings in self.by_entry
        ]
        self.phrasing_mass = [self.mass(p.features) for p in self.phrasings]
        self.phrasing_postings: dict[str, list[int]] = defaultdict(list)
        self.entry_of_phrasing = [p.entry for p in self.phrasings]
        for number, phrasing in enumerate(self.phrasings):
            for feature in phrasing.features:
                self.phrasing_postings[feature].append(number)
        self.fuzzy_choices = self._fuzzy_choices()

    def _fuzzy_choices(self) -> dict[str, list[list[str]]]:
        """Per query language, each entry's phrasing texts that a fuzzy comparison should see."""
        choices: dict[str, list[list[str]]] = {"en": [], "zh": []}
        for phrasings in self.by_entry:
            for lang in choices:
                texts = [
                    fuzzy_form(p.text)
                    for p in phrasings
                    if p.lang == lang or (CJK.search(p.text) and re.search("[a-z]", p.text))
                ]
                choices[lang].append(texts)
        return choices

    def _phrasing(self, entry: int, text: str, lang: str) -> Phrasing:
        query = self.analyser.analyse(text, repair=False)
        return Phrasing(entry, lang, query.text, query.features)

    def _core(self, phrasings: list[Phrasing]) -> dict[str, dict[str, float]]:
        """Per language, the share of an entry's phrasings that use each word: what the entry is about."""
        shares: dict[str, dict[str, float]] = {}
        for lang in ("en", "zh"):
            texts = [p.features for p in phrasings if p.lang == lang]
            counts = Counter(f for features in texts for f in features if not f.startswith("~"))
            shares[lang] = {f: c / len(texts) for f, c in counts.items()} if texts else {}
        return shares

    def defining_words(self, number: int, rival: int, lang: str) -> frozenset[str]:
        """Words most of an entry's phrasings use and the rival's hardly ever do."""
        own, other = self.core_features[number].get(lang, {}), self.core_features[rival].get(lang, {})
        return frozenset(
            f for f, share in own.items() if share >= CORE_SHARE and other.get(f, 0.0) <= RARE_SHARE
        )

    def _entry_weights(self, entry: Entry, phrasings: list[Phrasing]) -> dict[str, float]:
        """How strongly each feature speaks for the entry: share of its phrasings using it, keywords, answer."""
        counts: Counter[str] = Counter(f for p in phrasings for f in p.features)
        total = max(1, len(phrasings))
        weights = {f: 0.6 + 0.4 * min(1.0, 4 * c / total) for f, c in counts.items()}
        for lang in entry.keywords:
            for keyword in entry.keywords[lang]:
                for feature in self.analyser.analyse(keyword, repair=False).features:
                    weights[feature] = max(weights.get(feature, 0.0), KEYWORD_WEIGHT)
        for lang in entry.answer:
            for feature in self.analyser.analyse(entry.answer[lang], repair=False).features:
                if not feature.startswith("@"):
                    weights.setdefault(feature, ANSWER_WEIGHT)
        return weights

    def weight(self, feature: str) -> float:
        """Rarity weight of a feature; bigrams count less than words, unknown words count most."""
        idf = self.idf.get(feature, self.unknown_idf)
        return idf * BIGRAM_WEIGHT if feature.startswith("~") else idf

    def mass(self, features: frozenset[str]) -> float:
        """Total rarity weight of a feature set."""
        return sum(self.weight(f) for f in features)

    def query_mass(self, query: Query) -> float:
        """Weight of what the query says: its known features, plus every word the corpus has never used."""
        known = sum(self.weight(f) for f in query.features if f in self.idf)
        return known + self.unknown_idf * len(set(query.tokens.unknown) & query.features)

    def coverage(self, query: Query, size: int = 0) -> dict[int, float]:
        """Share of the query's weight that each entry accounts for (0 to 1), for entries sharing a telling feature.

        Features used by very many entries (多少, "how") are too common to find candidates with; they still
        count towards the coverage of the candidates that rarer features found.
        """
        mass = self.query_mass(query)
        if mass <= 0:
            return {}
        rare = [f for f in query.features if 0 < len(self.postings.get(f, ())) <= self.common_df]
        rough: dict[int, float] = defaultdict(float)
        for feature in rare or query.features:
            weight = self.weight(feature)
            for number, strength in self.postings.get(feature, ()):
                rough[number] += weight * strength
        found = heapq.nlargest(max(PRESELECT, 2 * size), rough, key=rough.__getitem__)
        weighted = [(f, self.weight(f)) for f in query.features if f in self.idf]
        return {
            number: sum(w * self.entry_weights[number].get(f, 0.0) for f, w in weighted) / mass
            for number in found
        }

    def shortlist(self, query: Query, size: int) -> list[tuple[int, float]]:
        """The entries most worth scoring in full, best keyword coverage first."""
        ranked = heapq.nlargest(
            size, self.coverage(query, size).items(), key=lambda item: (item[1], -item[0])
        )
        return ranked

    def shared_mass(self, query: Query, entries: set[int]) -> dict[int, float]:
        """For every phrasing of the given entries that shares a feature with the query, the shared weight."""
        shared: dict[int, float] = defaultdict(float)
        for feature in query.features:
            postings = self.phrasing_postings.get(feature)
            if not postings:
                continue
            weight = self.weight(feature)
            for number in postings:
                if self.entry_of_phrasing[number] in entries:
                    shared[number] += weight
        return shared


def fuzzy_form(text: str) -> str:
    """What fuzzy comparison sees: Chinese without spaces, English as words."""
    return text.replace(" ", "") if CJK.search(text) else text
