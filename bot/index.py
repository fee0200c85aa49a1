"""The keyword index: built once per corpus, it maps tokens to the entries that use them, weighted by rarity."""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np

from bot.corpus import Corpus, Entry
from bot.entities import PLACEHOLDER, EntitySpotter, Spotted
from bot.segmenter import FiledDictionary
from bot.text import CJK, TextNormaliser, detect_language
from bot.tokenise import Tokeniser, Tokens, synonym_groups

BIGRAM_WEIGHT = 0.5
ANALYSE_CACHE_SIZE = 4096
ANSWER_WEIGHT = 0.3
_LANGUAGES = ("en", "zh")
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
    normal: str = ""  # the normal form of `original`, kept so that no later step works it out again

    @cached_property
    def plain_features(self) -> frozenset[str]:
        """The features other than character bigrams: words and named entity types."""
        return frozenset(f for f in self.features if not f.startswith("~"))


@dataclass
class Analysis:
    """What building an index works out from the corpus texts: pure functions of the corpus and the code, so
    a process can take them from an earlier build of the same corpus (bot/analysis_cache.py) and skip the work."""

    normal: dict[str, str] = field(default_factory=dict)  # corpus text -> its normal form
    cuts: dict[str, tuple[str, ...]] = field(default_factory=dict)  # run of Chinese -> jieba's words
    sounds: dict[str, tuple[str, ...]] = field(default_factory=dict)  # corpus Chinese word -> its pinyin
    queries: dict[str, Query] = field(default_factory=dict)  # corpus text -> its analysis (no typo repair)
    dictionary: FiledDictionary | None = None  # jieba's, filed by first character (read in as texts need it)


def features_of(tokens: Tokens, spotted: Spotted) -> frozenset[str]:
    """Index features: words, '~' + Chinese bigram, '@' + named entity type."""
    out = set(tokens.words)
    out.update("~" + b for b in tokens.bigrams if PLACEHOLDER not in b)
    out.update("@" + t for t in spotted.types)
    return frozenset(out)


class Analyser:
    """Turns raw text into index features: normalise, spot entities, read pinyin, tokenise, expand synonyms."""

    def __init__(self, corpus: Corpus, known: Analysis | None = None) -> None:
        known = known or Analysis()
        self._known_dictionary = known.dictionary
        self.normaliser = TextNormaliser()
        self.tokeniser = Tokeniser(
            synonyms=synonym_groups({"groups": [list(g) for g in corpus.synonyms]}),
            userdict=corpus.userdict,
            extra_words=[n.text for n in corpus.entity_names],
            dictionary=known.dictionary,
        )
        self._cached_analyse = lru_cache(maxsize=ANALYSE_CACHE_SIZE)(self._analyse)
        self.spotter = EntitySpotter(corpus.entity_names, corpus.entity_ignore, self.normaliser.normalise)
        english: list[str] = []
        chinese: list[str] = []
        # The index analyses the same texts next: each is normalised once, here.
        self._normal_of: dict[str, str] = dict(known.normal)
        # While the index is built every corpus text is analysed, answers twice (index and matcher): all are
        # remembered until it is built, as too many for the bounded cache of questions.
        self._build_memo: dict[str, Query] | None = dict(known.queries)
        self.tokeniser.remember_while_building(known.cuts)
        for entry in corpus.entries:
            for text, lang in _all_texts(entry):
                en, zh = self.tokeniser.surface_words(self._normal_while_building(text))
                # Latin words inside Chinese phrasings may be pinyin ("dianhua"), so only English texts teach English.
                english += en if lang == "en" else []
                chinese += zh
        # Out-of-scope topics are read from pinyin too ("sushe" is 宿舍, to be declined, not a corpus word).
        for term in corpus.out_of_scope:
            chinese += self.tokeniser.surface_words(self._normal_while_building(term))[1]
        self.tokeniser.learn_vocabulary(english, chinese, known.sounds)

    def _normal_while_building(self, text: str) -> str:
        """The normal form of a corpus text, remembered while the index is built."""
        normal = self._normal_of.get(text)
        if normal is None:
            normal = self._normal_of[text] = self.normaliser.normalise(text)
        return normal

    def analyse(self, text: str, repair: bool) -> Query:
        """Everything the matcher needs to know about one piece of text (worked out once per text)."""
        memo = self._build_memo
        if memo is None or repair:
            return self._cached_analyse(text, repair)
        found = memo.get(text)
        if found is None:
            found = memo[text] = self._analyse(text, repair)
        return found

    def glance(self, text: str) -> Query:
        """Language and named entities of a long message, without tokenising it (its sentences are read apart)."""
        normal = self.normaliser.normalise(text)
        spotted = self.spotter.spot(normal, mend_typos=True)
        return Query(
            text, spotted.text, detect_language(normal), spotted, Tokens((), ()), frozenset(), normal=normal
        )

    def clear_cache(self) -> None:
        """Forget remembered analyses."""
        self._cached_analyse.cache_clear()
        self.tokeniser.clear_cache()

    def normal(self, text: str) -> str:
        """The normal form of a text (remembered for the corpus texts while the index is built)."""
        return self._normal_of.get(text) or self.normaliser.normalise(text)

    def built(self) -> Analysis:
        """The index is built: forget what was kept for it, and hand it over (to keep it on disk)."""
        analysis = Analysis(
            self._normal_of,
            self.tokeniser.built(),
            self.tokeniser.pinyin.sounds,
            self._build_memo or {},
            self._known_dictionary,
        )
        self._normal_of = {}
        self._build_memo = None
        return analysis

    def _analyse(self, text: str, repair: bool) -> Query:
        original = normal = self.normal(text)
        lang = detect_language(normal)
        pinyin = self.tokeniser.read_pinyin(normal) if repair and lang == "en" else None
        if pinyin:
            normal, lang = pinyin, "zh"
        spotted = self.spotter.spot(normal, mend_typos=repair)
        tokens = self.tokeniser.tokenise(spotted.text.replace(PLACEHOLDER, " "), repair=repair)
        features = features_of(tokens, spotted)
        return Query(text, spotted.text, lang, spotted, tokens, features, bool(pinyin), original)


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
        self._weight_of = {
            f: self.weight(f) for f in self.idf
        }  # weight() of every known feature, worked out once
        self.entry_weights = weights
        self.common_df = max(COMMON_MIN_ENTRIES, int(COMMON_SHARE * n))
        self.core_features = [self._core(phrasings) for phrasings in self.by_entry]
        self.core_sets = [
            {
                lang: frozenset(f for f, share in shares.items() if share >= CORE_SHARE)
                for lang, shares in core.items()
            }
            for core in self.core_features
        ]
        self.core_mass = [{lang: self.mass(core) for lang, core in sets.items()} for sets in self.core_sets]
        self.entry_features = [
            frozenset(f for p in phrasings for f in p.features) for phrasings in self.by_entry
        ]
        self.phrasing_mass = [self.mass(p.features) for p in self.phrasings]
        self.entry_of_phrasing = [p.entry for p in self.phrasings]
        self.fuzzy_text = [fuzzy_form(p.text) for p in self.phrasings]
        self._build_arrays()

    def _build_arrays(self) -> None:
        """Sparse tables (numpy) of the index, so that a query costs a few array operations per table.

        Features are numbered; two compressed tables map feature -> entries (to find candidates),
        and phrasing -> features (nearest phrasing). An entry's
        phrasings are numbered consecutively, so one entry's rows are one slice.
        """
        self.feature_id = {feature: number for number, feature in enumerate(self.idf)}
        self.idf_features = list(self.idf)
        self.feature_weight = np.array([self.weight(f) for f in self.idf], dtype=np.float64)
        by_feature: list[list[tuple[int, float]]] = [[] for _ in self.feature_id]
        for number, weights in enumerate(self.entry_weights):
            for feature, strength in weights.items():
                by_feature[self.feature_id[feature]].append((number, strength))
        self._postings = _Table.of(
            [[e for e, _ in row] for row in by_feature], [[s for _, s in row] for row in by_feature]
        )
        self.document_frequency = np.diff(self._postings.bounds)
        # Every (feature, phrasing) pair as one sorted key, feature first: the phrasings of a run of entries
        # that use a feature are then one slice, found by binary search whatever the corpus size.
        count = len(self.phrasings)
        self._pair_key = np.sort(
            np.fromiter(
                (self.feature_id[f] * count + n for n, p in enumerate(self.phrasings) for f in p.features),
                dtype=np.int64,
            )
        )
        self._pair_phrasing = self._pair_key % count
        counts = [len(phrasings) for phrasings in self.by_entry]
        self._first_phrasing = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        self._entry_of_phrasing = np.array(self.entry_of_phrasing, dtype=np.int64)
        self._phrasing_mass = np.array(self.phrasing_mass, dtype=np.float64)
        mixed = [bool(CJK.search(p.text) and re.search("[a-z]", p.text)) for p in self.phrasings]
        eligible = {
            lang: [p.lang == lang or m for p, m in zip(self.phrasings, mixed, strict=True)]
            for lang in _LANGUAGES
        }
        self._fuzzy_eligible = np.array([eligible[lang] for lang in _LANGUAGES])
        self._fuzzy_phrasings = {
            lang: [
                [n for n in range(start, start + size) if flags[n]]
                for start, size in zip(self._first_phrasing.tolist(), counts, strict=False)
            ]
            for lang, flags in eligible.items()
        }

    def weigh(self, query: Query) -> Weighing:
        """The query's known features by number, with their weights (worked out once per query)."""
        number = self.feature_id.get
        ids = np.fromiter((n for n in map(number, query.features) if n is not None), dtype=np.int64)
        weights = self.feature_weight[ids]
        unknown = self.unknown_idf * len(set(query.tokens.unknown) & query.features)
        return Weighing(ids, weights, float(weights.sum()) + unknown)

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
        known = self._weight_of
        return sum(known.get(f) or self.weight(f) for f in features)

    def query_mass(self, query: Query) -> float:
        """Weight of what the query says: its known features, plus every word the corpus has never used."""
        known = sum(self.weight(f) for f in query.features if f in self.idf)
        return known + self.unknown_idf * len(set(query.tokens.unknown) & query.features)

    def coverage(self, query: Query, size: int = 0, weighing: Weighing | None = None) -> dict[int, float]:
        """Share of the query's weight that each entry accounts for (0 to 1), for entries sharing a telling feature.

        Features used by very many entries (多少, "how") are too common to find candidates with; they still
        count towards the coverage of the candidates that rarer features found.
        """
        return self.coverage_many([weighing or self.weigh(query)], size)[0]

    def coverage_many(self, weighings: list[Weighing], size: int = 0) -> list[dict[int, float]]:
        """`coverage` for several queries (the sentences of one message) in one pass over the postings."""
        count = len(self.entries)
        finders, finder_weights, tags, common = [], [], [], []
        for number, weighing in enumerate(weighings):
            rare = self.document_frequency[weighing.ids] <= self.common_df
            chosen = rare if rare.any() else np.ones(len(rare), dtype=bool)
            finders.append(weighing.ids[chosen])
            finder_weights.append(weighing.weights[chosen])
            tags.append(np.full(int(chosen.sum()), number))
            common.append(
                [(self.idf_features[f], self.feature_weight[f]) for f in weighing.ids[~chosen].tolist()]
            )
        entries, strengths, owners = self._postings.rows(np.concatenate(finders))
        rough = np.bincount(
            np.concatenate(tags)[owners] * count + entries,
            weights=strengths * np.concatenate(finder_weights)[owners],
            minlength=len(weighings) * count,
        ).reshape(len(weighings), count)
        keep = max(PRESELECT, 2 * size)
        found = []
        for number, weighing in enumerate(weighings):
            if weighing.mass <= 0:
                found.append({})
                continue
            touched = np.flatnonzero(rough[number])
            if len(touched) > keep:
                touched = touched[np.argpartition(-rough[number, touched], keep - 1)[:keep]]
            totals = dict(zip(touched.tolist(), rough[number, touched].tolist(), strict=True))
            # The common features left out of the search still count for the entries it found.
            for entry in totals if common[number] else ():
                weights = self.entry_weights[entry]
                totals[entry] += sum(w * weights.get(f, 0.0) for f, w in common[number])
            found.append({entry: total / weighing.mass for entry, total in totals.items()})
        return found

    def shortlist(self, query: Query, size: int, weighing: Weighing | None = None) -> list[tuple[int, float]]:
        """The entries most worth scoring in full, best keyword coverage first."""
        return self.shortlist_many([weighing or self.weigh(query)], size)[0]

    def shortlist_many(self, weighings: list[Weighing], size: int) -> list[list[tuple[int, float]]]:
        """`shortlist` for several queries at once."""
        return [
            heapq.nlargest(size, coverage.items(), key=lambda item: (item[1], -item[0]))
            for coverage in self.coverage_many(weighings, size)
        ]

    def nearest(self, weighing: Weighing, entries: list[int], lang: str, per_entry: int) -> Nearness:
        """Per entry: the best overlap and containment over its phrasings, and its closest phrasings in lang.

        Overlap is the weighted Dice coefficient between the query's and a phrasing's features; containment
        the share of the phrasing's weight found in the query. The closest phrasings (best overlap first,
        at most per_entry, or all in the language when none shares a feature) are the ones worth comparing
        character by character. Only phrasings sharing a feature with the query are looked at.
        """
        return self.nearest_many([(weighing, entries, lang)], per_entry)[0]

    def nearest_many(self, asks: list[tuple[Weighing, list[int], str]], per_entry: int) -> list[Nearness]:
        """`nearest` for several queries (the sentences of one message) in one pass over the arrays."""
        count, entry_count = len(self.phrasings), len(self.entries)
        overlaps = [dict.fromkeys(entries, 0.0) for _, entries, _ in asks]
        containments = [dict.fromkeys(entries, 0.0) for _, entries, _ in asks]
        closest: list[list[int]] = [[] for _ in asks]
        owners: list[list[int]] = [[] for _ in asks]
        lows, highs, range_weights, range_asks = [], [], [], []
        for number, (weighing, entries, _) in enumerate(asks):
            if entries and len(weighing.ids):
                chosen = np.array(entries, dtype=np.int64)
                base = weighing.ids[:, None] * count
                lows.append((base + self._first_phrasing[chosen]).ravel())
                highs.append((base + self._first_phrasing[chosen + 1]).ravel())
                range_weights.append(np.repeat(weighing.weights, len(entries)))
                range_asks.append(np.full(len(weighing.ids) * len(entries), number))
        if lows:
            # Every (feature, phrasing) pair the queries share with their entries, tagged with its query.
            low = np.searchsorted(self._pair_key, np.concatenate(lows))
            high = np.searchsorted(self._pair_key, np.concatenate(highs))
            pairs, pair_range, _ = _ranges(low, high)
            tagged = np.concatenate(range_asks)[pair_range] * count + self._pair_phrasing[pairs]
            by_key = np.argsort(tagged, kind="stable")
            first_of_key = _group_starts(tagged[by_key])
            keys = tagged[by_key][first_of_key]
            weights = np.concatenate(range_weights)[pair_range][by_key]
            shared = np.bincount(np.cumsum(first_of_key) - 1, weights=weights)
            ask, phrasings = np.divmod(keys, count)
            mass = self._phrasing_mass[phrasings]
            dice = 2 * shared / (np.array([w.mass for w, _, _ in asks])[ask] + mass)
            share = shared / mass
            group = ask * entry_count + self._entry_of_phrasing[phrasings]  # ascending: by query, then entry
            starts = np.flatnonzero(_group_starts(group))
            best = zip(
                group[starts].tolist(),
                np.maximum.reduceat(dice, starts).tolist(),
                np.maximum.reduceat(share, starts).tolist(),
                strict=True,
            )
            for key, overlap, containment in best:
                number, entry = divmod(key, entry_count)
                overlaps[number][entry] = overlap
                containments[number][entry] = containment
            languages = np.array([_LANGUAGES.index(lang) for _, _, lang in asks])[ask]
            eligible = np.flatnonzero(self._fuzzy_eligible[languages, phrasings])
            order = eligible[np.lexsort((-dice[eligible], group[eligible]))]  # by query and entry, best first
            keep = order[_rank_in_group(_group_starts(group[order])) < per_entry]
            kept_groups, kept_phrasings = group[keep], phrasings[keep]
            bounds = np.searchsorted(kept_groups, np.arange(len(asks) + 1) * entry_count).tolist()
            for number, (_, entries, _) in enumerate(asks):
                if bounds[number] < bounds[number + 1]:
                    span = slice(bounds[number], bounds[number + 1])
                    closest[number] = kept_phrasings[span].tolist()
                    owners[number] = _positions(entries, kept_groups[span] - number * entry_count)
        found = []
        for number, (_, entries, lang) in enumerate(asks):
            # An entry none of whose phrasings in the language shares a feature is compared on a few.
            compared = {entries[o] for o in owners[number]}
            for position, entry in enumerate(entries):
                if entry not in compared:
                    texts = self._fuzzy_phrasings[lang][entry][:per_entry]
                    closest[number] += texts
                    owners[number] += [position] * len(texts)
            found.append(Nearness(overlaps[number], containments[number], closest[number], owners[number]))
        return found


def _positions(entries: list[int], chosen: np.ndarray) -> list[int]:
    """Where each chosen entry number stands in the list entries."""
    ranked = np.argsort(entries)
    return ranked[np.searchsorted(np.array(entries)[ranked], chosen)].tolist()


def _group_starts(keys: np.ndarray) -> np.ndarray:
    """For sorted keys, True where a run of equal keys begins."""
    starts = np.ones(len(keys), dtype=bool)
    np.not_equal(keys[1:], keys[:-1], out=starts[1:])
    return starts


def _rank_in_group(starts: np.ndarray) -> np.ndarray:
    """0, 1, 2 ... counted again from 0 at each run start (see _group_starts)."""
    positions = np.arange(len(starts))
    return positions - np.maximum.accumulate(np.where(starts, positions, 0))


def _ranges(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All numbers of the ranges [start, end) in one array, the range each belongs to, and where each begins."""
    sizes = ends - starts
    begins = np.cumsum(sizes) - sizes
    owner = np.repeat(np.arange(len(starts)), sizes)
    return np.arange(int(sizes.sum())) + (starts - begins)[owner], owner, begins


@dataclass(frozen=True)
class Weighing:
    """A query's known features by number, their rarity weights, and the query's total weight."""

    ids: np.ndarray
    weights: np.ndarray
    mass: float


@dataclass(frozen=True)
class Nearness:
    """What an entry's nearest phrasings say about a query (see KeywordIndex.nearest)."""

    overlap: dict[int, float]
    containment: dict[int, float]
    closest: list[int]  # phrasing numbers worth comparing character by character
    closest_owner: list[int]  # for each, the position of its entry in the list asked about


@dataclass(frozen=True)
class _Table:
    """A compressed sparse table: row r holds columns[bounds[r]:bounds[r + 1]] (and their values)."""

    bounds: np.ndarray
    columns: np.ndarray
    values: np.ndarray

    @classmethod
    def of(cls, rows: list[list[int]], values: list[list[float]] | None) -> _Table:
        sizes = [len(row) for row in rows]
        bounds = np.concatenate(([0], np.cumsum(sizes, dtype=np.int64))).astype(np.int64)
        columns = np.fromiter((c for row in rows for c in row), dtype=np.int64, count=int(bounds[-1]))
        if values is None:
            flat = np.ones(len(columns), dtype=np.float64)
        else:
            flat = np.fromiter((v for row in values for v in row), dtype=np.float64, count=int(bounds[-1]))
        return cls(bounds, columns, flat)

    def rows(self, numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(columns, values, owner) of the given rows, where owner[i] is the position in numbers of item i."""
        items, owner, _ = _ranges(self.bounds[numbers], self.bounds[numbers + 1])
        return self.columns[items], self.values[items], owner


def fuzzy_form(text: str) -> str:
    """What fuzzy comparison sees: Chinese without spaces, English as words."""
    return text.replace(" ", "") if CJK.search(text) else text
