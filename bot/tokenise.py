"""Tokenising: jieba for Chinese, a folding tokeniser for English, stop words, synonyms, typo repair."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.pinyin import PinyinDictionary, split_syllables
from bot.segmenter import FiledDictionary, Segmenter
from bot.text import CJK_RUN

_LATIN_TOKEN = re.compile(r"[0-9a-z@][0-9a-z@.\-_'+]*[0-9a-z]|[0-9a-z]")
_NUMBER = re.compile(r"[0-9.\-+]+")
CUT_CACHE_SIZE = 4096


def word_list(name: str) -> frozenset[str]:
    """A word list of bot/data/ (one word a line, # comments), kept as data so linguists can edit it."""
    text = resources.files("bot").joinpath("data", name).read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


EN_STOP_WORDS = word_list("en_stop_words.txt")
_SPACED = re.compile(r"[\s-]+")
ZH_STOP_WORDS = word_list("zh_stop_words.txt")


def latin_words(text: str, whole: Container[str] = ()) -> list[str]:
    """Latin-script words; hyphenated ones in parts ("5-year" is "5 year") unless a number (023-6848) or whole."""
    words: list[str] = []
    for token in _LATIN_TOKEN.findall(text):
        if "-" in token and not _NUMBER.fullmatch(token) and token not in whole:
            words.extend(part for part in token.split("-") if part)
        else:
            words.append(token)
    return words


@lru_cache(maxsize=65536)
def fold_english(word: str) -> str:
    """Fold simple inflections so that fee/fees, study/studying/studied meet (consistently, not perfectly)."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if (word.endswith("ies") and len(word) > 4) or (word.endswith("ied") and len(word) > 4):
        word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("ing") and len(word) > 5:
        word = word[:-3]
        if len(word) > 2 and word[-1] == word[-2] and word[-1] not in "lsz":
            word = word[:-1]
    elif word.endswith("ed") and len(word) > 4:
        word = word[:-2]
        if len(word) > 2 and word[-1] == word[-2] and word[-1] not in "lsz":
            word = word[:-1]
    elif word.endswith("es") and word[-3] in "sxz" and len(word) > 4:
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


@dataclass(frozen=True)
class EnglishLexicon:
    """General English, so that a real word is never "repaired" into a corpus word (takes -> makes)."""

    words: frozenset[str]
    everyday: frozenset[str]


EVERYDAY_WORDS = 1000
"""The most frequent English words: when the corpus does not use one, it is read as a stop word."""
LEXICON_MIN_COUNT = 100
"""Rarer entries of the frequency list are mostly misspellings and names."""


LEXICON_FILES = ("english_words.txt", "english_everyday.txt")


@cache
def english_lexicon() -> EnglishLexicon:
    """General English words, loaded once per process from bot/data/ (see lexicon_from_spellchecker)."""
    words, everyday = (word_list(name) for name in LEXICON_FILES)
    return EnglishLexicon(words, everyday)


def lexicon_from_spellchecker() -> EnglishLexicon:
    """The lexicon worked out from the word-frequency list shipped with pyspellchecker.

    Working it out takes a third of a second, so bot/data/ keeps the result;
    `python -m bot.tokenise` writes it again (after an upgrade of pyspellchecker).
    """
    with resources.files("spellchecker").joinpath("resources/en.json.gz").open("rb") as handle:
        frequencies: dict[str, int] = json.loads(gzip.decompress(handle.read()))
    ranked = sorted(frequencies.items(), key=lambda item: -item[1])
    words = frozenset(w for w, count in ranked if count >= LEXICON_MIN_COUNT and w.isalpha())
    everyday = frozenset(w for w, _ in ranked[:EVERYDAY_WORDS] if w.isalpha())
    return EnglishLexicon(words, everyday)


def write_lexicon_files(folder: Path) -> None:
    """Write the lexicon worked out from pyspellchecker to folder (bot/data/)."""
    lexicon = lexicon_from_spellchecker()
    heads = (
        f"# English words: pyspellchecker's frequency list, words seen at least {LEXICON_MIN_COUNT} times.",
        f"# Everyday English: the {EVERYDAY_WORDS} most frequent words of pyspellchecker's frequency list.",
    )
    for name, head, words in zip(LEXICON_FILES, heads, (lexicon.words, lexicon.everyday), strict=True):
        note = "# Written by `python -m bot.tokenise`; a real word is never repaired into a corpus word."
        text = "\n".join([head, note, *sorted(words)]) + "\n"
        (folder / name).write_text(text, encoding="utf-8")


@dataclass(frozen=True)
class Tokens:
    """What the index sees of one text: words (canonical, folded) and Chinese character bigrams."""

    words: tuple[str, ...]
    bigrams: tuple[str, ...]
    unknown: tuple[str, ...] = ()
    everyday: tuple[str, ...] = ()  # ordinary English words the corpus never uses, left out of `words`


class Tokeniser:
    """Turns normalised text into index tokens; jieba's dictionary is loaded once, here."""

    def __init__(
        self,
        synonyms: Iterable[Iterable[str]] = (),
        userdict: Path | None = None,
        extra_words: Iterable[str] = (),
        dictionary: FiledDictionary | None = None,
    ) -> None:
        self._jieba = Segmenter(dictionary)
        if userdict is not None and userdict.exists():
            with userdict.open("rb") as handle:  # jieba leaves a path it opens itself unclosed
                self._jieba.load_userdict(handle)
        self._canonical: dict[str, str] = {}
        self._phrases: dict[str, str] = {}
        self._phrase_pattern: re.Pattern[str] | None = None
        self._phrase_marks: tuple[str, ...] = ()
        self._phrase_by_spacing: dict[str, str] = {}
        for group in synonyms:
            self._add_synonym_group([w.strip().lower() for w in group if w and w.strip()])
        self._compile_phrases()
        for word in extra_words:
            if CJK_RUN.fullmatch(word) and len(word) > 1:
                self._jieba.add_word(word, freq=2000)
        self._en_vocabulary: list[str] = []
        self._near_vocabulary: dict[tuple[int, int], list[str]] = {}
        self._en_known: frozenset[str] = frozenset()
        self._lexicon = english_lexicon()
        self.pinyin = PinyinDictionary(())
        self._surface_memo: dict[str, tuple[list[str], list[str]]] | None = None
        # While an index is built, every run segmented (or known from an earlier build of the same corpus).
        self._build_cuts: dict[str, tuple[str, ...]] | None = None
        # One message's sentences and their clauses share runs of Chinese; each run is segmented once.
        self.cut = lru_cache(maxsize=CUT_CACHE_SIZE)(self._cut)

    def _cut(self, run: str) -> tuple[str, ...]:
        """jieba's words for one run of Chinese characters."""
        memo = self._build_cuts
        if memo is None:
            return self._jieba_cut(run)
        found = memo.get(run)
        if found is None:
            found = memo[run] = self._jieba_cut(run)
        return found

    def _jieba_cut(self, run: str) -> tuple[str, ...]:
        return tuple(w for w in self._jieba.lcut(run, HMM=False) if w.strip())

    def clear_cache(self) -> None:
        """Forget remembered segmentations."""
        self.cut.cache_clear()

    def _add_synonym_group(self, group: list[str]) -> None:
        if not group:
            return
        head = self._surface_key(group[0])
        for word in group:
            if " " in word:
                self._phrases[word] = group[0].replace(" ", "_")
            elif CJK_RUN.fullmatch(word):
                self._jieba.add_word(word, freq=5000)
            self._canonical[self._surface_key(word)] = head

    def _compile_phrases(self) -> None:
        """One pattern for every synonym phrase, compiled once all groups are read (not once a group)."""
        if self._phrases:
            # "science-track" is the phrase "science track": a hyphen joins the words as a space does.
            self._phrase_by_spacing = {_SPACED.sub(" ", p): head for p, head in self._phrases.items()}
            alternatives = "|".join(
                re.escape(p).replace(r"\ ", r"[\s-]+").replace(r"\-", r"[\s-]+")
                for p in sorted(self._phrases, key=len, reverse=True)
            )
            self._phrase_pattern = re.compile(rf"(?<![0-9a-z])(?:{alternatives})(?![0-9a-z])")
            # A phrase occurs only where each of its words does: most texts are spared the long pattern.
            self._phrase_marks = tuple({max(_SPACED.split(p), key=len) for p in self._phrases})

    def _may_have_phrase(self, text: str) -> bool:
        """False when no synonym phrase can occur in the text (the longest word of each is missing)."""
        return (" " in text or "-" in text) and any(mark in text for mark in self._phrase_marks)

    def _surface_key(self, word: str) -> str:
        """Synonym lookup key: folded English, Chinese as is, phrases joined with '_'."""
        word = word.replace(" ", "_")
        return fold_english(word) if word.isascii() else word

    def learn_vocabulary(
        self,
        english_words: Iterable[str],
        chinese_words: Iterable[str],
        known_sounds: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        """Remember the corpus vocabulary, for repairing typos and reading pinyin."""
        known = {w for w in english_words if w.isalpha() and len(w) > 1}
        synonyms = {w for w in self._canonical if w.isascii() and w.isalpha()}
        self._en_known = frozenset(known | synonyms | EN_STOP_WORDS)
        self._en_vocabulary = sorted(w for w in known if len(w) > 2)
        self._near_vocabulary = {}
        self.pinyin = PinyinDictionary(chinese_words, known_sounds)

    def remember_while_building(self, known_cuts: Mapping[str, tuple[str, ...]] | None = None) -> None:
        """While an index is built, remember each text's surface words (it is read twice) and each run's
        segmentation, starting from those known from an earlier build of the same corpus."""
        self._surface_memo = {}
        self._build_cuts = dict(known_cuts or {})

    def filed_dictionary(self) -> FiledDictionary:
        """jieba's default dictionary filed by first character (to keep on disk: a fresh process then reads in
        only the characters it meets)."""
        return self._jieba.filed()

    def built(self) -> dict[str, tuple[str, ...]]:
        """The index is built: forget the remembered words and hand over the segmentations (to keep on disk)."""
        cuts = self._build_cuts or {}
        self._surface_memo = None
        self._build_cuts = None
        return cuts

    def surface_words(self, text: str) -> tuple[list[str], list[str]]:
        """(English words, Chinese words) of normalised text, before stop words and folding."""
        if self._surface_memo is None:
            return self._surface_words(text)
        found = self._surface_memo.get(text)
        if found is None:
            found = self._surface_memo[text] = self._surface_words(text)
        return found

    def _surface_words(self, text: str) -> tuple[list[str], list[str]]:
        english: list[str] = []
        chinese: list[str] = []
        position = 0
        for run in CJK_RUN.finditer(text):
            english.extend(latin_words(text[position : run.start()], self._canonical))
            chinese.extend(self.cut(run.group()))
            position = run.end()
        english.extend(latin_words(text[position:], self._canonical))
        return english, chinese

    def is_everyday(self, word: str) -> bool:
        """True for an ordinary English word ("good", "another"), as opposed to a name or a rare word."""
        return word in self._lexicon.everyday or word in self._en_known

    def is_misspelt_corpus_word(self, word: str) -> bool:
        """True for a word that is no English word but a slip away from one the corpus uses ("medicl")."""
        return word not in self._lexicon.words and self._closest_english(word) is not None

    def read_pinyin(self, text: str) -> str | None:
        """Chinese words for an all-pinyin question, or None if the text reads as English."""
        words = _LATIN_TOKEN.findall(text)
        if not words or CJK_RUN.search(text):
            return None
        foreign = [w for w in words if w not in self._en_known and w not in self._lexicon.words]
        # "you jiangxuejin ma": "you" and "ma" are English words too, so a message whose every word is pinyin
        # reads as pinyin once one of them is no English word at all.
        all_pinyin = (
            bool(foreign)
            and not any(
                w in self._lexicon.words and w not in EN_STOP_WORDS for w in words if w in self._en_known
            )
            and all(split_syllables(w) is not None for w in words)
        )
        if len(foreign) * 2 < len(words) and not all_pinyin:
            return None
        return self.pinyin.transliterate(text)

    def tokenise(self, text: str, repair: bool = False) -> Tokens:
        """Index tokens of normalised text; with repair, unknown words are mended against the corpus."""
        if self._phrase_pattern is not None and self._may_have_phrase(text):
            text = self._phrase_pattern.sub(
                lambda m: f" {self._phrase_by_spacing[_SPACED.sub(' ', m.group())]} ", text
            )
        english, chinese = self.surface_words(text)
        if repair:
            chinese = self._mend_homophones(chinese)
        words: list[str] = []
        unknown: list[str] = []
        everyday: list[str] = []
        for word in english:
            if word in EN_STOP_WORDS:
                continue
            is_unknown = False
            if repair and word.isalpha() and word not in self._en_known and "_" not in word:
                if word in self._lexicon.everyday:
                    everyday.append(word)  # says little about which entry, but may say "none of them"
                    continue
                mended = None if word in self._lexicon.words else self._closest_english(word)
                is_unknown = mended is None
                word = mended or word
            folded = fold_english(word)
            token = self._canonical.get(folded, folded)
            words.append(token)
            if is_unknown:
                unknown.append(token)
        for word in chinese:
            if word in ZH_STOP_WORDS:
                continue
            is_unknown = False
            if repair and not self.pinyin.knows(word) and word not in self._canonical:
                parts = self._corpus_words_making(word)
                if parts:  # "英语教学" is 英语 and 教学, words the corpus uses
                    words.extend(self._canonical.get(p, p) for p in parts)
                    continue
                is_unknown = True
            token = self._canonical.get(word, word)
            words.append(token)
            if is_unknown:
                unknown.append(token)
        bigrams = [run[i : i + 2] for run in CJK_RUN.findall(text) for i in range(len(run) - 1)]
        return Tokens(tuple(words), tuple(bigrams), tuple(unknown), tuple(everyday))

    def _corpus_words_making(self, word: str) -> list[str] | None:
        """Corpus words of two or more characters that together spell an unknown Chinese word, or None."""
        if len(word) < 4 or not CJK_RUN.fullmatch(word):
            return None
        known = self.pinyin.knows
        for cut in range(2, len(word) - 1):
            head, tail = word[:cut], word[cut:]
            if not known(head):
                continue
            if known(tail):
                return [head, tail]
            rest = self._corpus_words_making(tail)
            if rest:
                return [head, *rest]
        return None

    def _mend_homophones(self, words: list[str]) -> list[str]:
        """Mend typed homophones of corpus words (学废 -> 学费): unknown words, or two stray characters."""
        out: list[str] = []
        i = 0
        while i < len(words):
            word = words[i]
            pair = word + words[i + 1] if i + 1 < len(words) else ""
            if len(word) == 1 and len(words[i + 1 if pair else i]) == 1 and pair and self._is_typo(pair):
                out.append(self._homophone(pair) or pair)
                i += 2
                continue
            out.append(self._homophone(word) if len(word) > 1 and self._is_typo(word) else word)
            i += 1
        return [w for w in out if w]

    def _is_typo(self, word: str) -> bool:
        return (
            CJK_RUN.fullmatch(word) is not None
            and not self.pinyin.knows(word)
            and word not in self._canonical
            and not self._jieba.frequency(word)
            and self._homophone(word) is not None
        )

    def _homophone(self, word: str) -> str | None:
        """A corpus word that sounds the same and shares a character (typos keep most of the word)."""
        return self.pinyin.homophone_sharing(word)

    def _closest_english(self, word: str) -> str | None:
        """The corpus word one or two edits away from a misspelt word, if there is one (two letters swapped is one)."""
        if len(word) < 4 or not self._en_vocabulary:
            return None
        limit = 1 if len(word) < 7 else 2
        choices = self._vocabulary_near(len(word), limit)
        found = process.extractOne(word, choices, scorer=OSA.distance, score_cutoff=limit)
        return found[0] if found else None

    def _vocabulary_near(self, length: int, limit: int) -> list[str]:
        """The corpus words whose length is within limit of length, in vocabulary order.

        Words further apart in length are more than limit edits away, so leaving them out changes no repair
        (the first closest word in vocabulary order is still found) and spares comparing the whole vocabulary.
        """
        key = (length, limit)
        near = self._near_vocabulary.get(key)
        if near is None:
            near = [w for w in self._en_vocabulary if abs(len(w) - length) <= limit]
            self._near_vocabulary[key] = near
        return near

    def canonical(self, word: str) -> str:
        """The synonym group head of a token, or the token itself."""
        return self._canonical.get(word, word)


def synonym_groups(data: Mapping[str, object] | None) -> list[list[str]]:
    """The `groups` list of synonyms.yaml, as lists of strings."""
    groups = (data or {}).get("groups") or []
    return [[str(w) for w in group] for group in groups if isinstance(group, list)]


if __name__ == "__main__":
    write_lexicon_files(Path(__file__).resolve().parent / "data")
