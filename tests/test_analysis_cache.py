"""The analysis cache: a brain built from it answers as one built afresh; a stale or damaged file is ignored."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.analysis_cache import (
    FORMAT,
    analysis_key,
    dictionary_key,
    read_analysis,
    read_dictionary,
    write_analysis,
)
from bot.config import Config
from bot.corpus import load_corpus
from bot.engine import Brain, build_brain
from bot.index import Analysis
from bot.matcher import Matcher
from bot.segmenter import FiledDictionary

QUESTIONS = (
    "学费多少",
    "xuefei duoshao",
    "四川招多少人",
    "四穿招几个",
    "tution fee",
    "how many places in Henan",
    "邮箱是什么",
    "宿舍怎么样",
)


def cached_config(config: Config, corpus: Path, cache: Path) -> Config:
    return replace(config, corpus_dir=corpus, analysis_cache=str(cache))


def verdicts(brain: Brain) -> list[tuple[str, list[tuple[str, float]]]]:
    """What the brain makes of the questions: decision, candidates and their confidence."""
    found = []
    for question in QUESTIONS:
        match = brain.matcher.match(question)
        found.append((match.decision, [(c.entry.id, c.confidence) for c in match.candidates]))
    return found


def fresh_analysis(corpus_dir: Path, config: Config) -> Analysis | None:
    return Matcher(load_corpus(corpus_dir), config.match).take_analysis()


def kept_analysis(cache: Path, key: str) -> Analysis | None:
    """The analysis in the cache, without jieba's dictionary (a build from the cache reads it in lazily)."""
    kept = read_analysis(cache, key)
    if kept is None:
        return None
    assert kept.dictionary is not None and kept.dictionary.files
    return replace(kept, dictionary=None)


def test_a_build_keeps_its_analysis_and_the_next_build_reads_it_back(
    mini_config: Config, tmp_corpus: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "var" / "analysis.cache"
    first = build_brain(cached_config(mini_config, tmp_corpus, cache))
    assert cache.exists()
    kept = kept_analysis(cache, analysis_key(tmp_corpus))
    assert kept is not None and kept.queries
    assert kept == fresh_analysis(tmp_corpus, mini_config)
    second = build_brain(cached_config(mini_config, tmp_corpus, cache))
    assert verdicts(second) == verdicts(first)


def test_a_brain_from_the_cache_answers_as_one_built_without_it(
    mini_config: Config, tmp_corpus: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "analysis.cache"
    build_brain(cached_config(mini_config, tmp_corpus, cache))
    from_cache = build_brain(cached_config(mini_config, tmp_corpus, cache))
    without = build_brain(replace(mini_config, corpus_dir=tmp_corpus, analysis_cache=""))
    assert verdicts(from_cache) == verdicts(without)


def test_without_a_cache_location_nothing_is_written(mini_config: Config, tmp_corpus: Path) -> None:
    build_brain(replace(mini_config, corpus_dir=tmp_corpus, analysis_cache=""))
    assert sorted(p.name for p in tmp_corpus.parent.iterdir()) == ["corpus"]


def test_an_edited_corpus_file_makes_the_cache_stale(
    mini_config: Config, tmp_corpus: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "analysis.cache"
    build_brain(cached_config(mini_config, tmp_corpus, cache))
    old_key = analysis_key(tmp_corpus)
    dictionary = read_dictionary(cache)
    assert dictionary is not None
    synonyms = tmp_corpus / "synonyms.yaml"
    synonyms.write_text(synonyms.read_text(encoding="utf-8") + "  - [宿舍, 寝室]\n", encoding="utf-8")
    new_key = analysis_key(tmp_corpus)
    assert new_key != old_key
    assert read_analysis(cache, new_key) is None
    rebuilt = build_brain(cached_config(mini_config, tmp_corpus, cache))
    assert kept_analysis(cache, new_key) == fresh_analysis(tmp_corpus, mini_config)
    assert read_analysis(cache, old_key) is None
    assert read_dictionary(cache) == dictionary  # jieba's filed dictionary is read back, not filed again
    without = build_brain(replace(mini_config, corpus_dir=tmp_corpus, analysis_cache=""))
    assert verdicts(rebuilt) == verdicts(without)


def test_a_file_of_another_format_or_version_is_ignored(tmp_path: Path) -> None:
    cache = tmp_path / "analysis.cache"
    write_analysis(cache, "one-key", Analysis(normal={"学费": "学费"}))
    assert read_analysis(cache, "one-key") == Analysis(normal={"学费": "学费"})
    assert read_analysis(cache, "another-key") is None
    cache.write_bytes(cache.read_bytes().replace(FORMAT, b"faqbot-analysis-0", 1))
    assert read_analysis(cache, "one-key") is None


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="cut short"),
        pytest.param(
            lambda data: data.partition(b"\n")[0] + b"\n" + b"\xff" * 64, id="garbage after the key"
        ),
        pytest.param(lambda data: data.partition(b"\n")[0] + b"\n", id="nothing after the key"),
        pytest.param(lambda data: b"", id="empty"),
        pytest.param(lambda data: bytes(range(256)) * 4, id="not a cache at all"),
    ],
)
def test_a_damaged_cache_is_ignored_and_written_again(
    mini_config: Config, tmp_corpus: Path, tmp_path: Path, damage
) -> None:
    cache = tmp_path / "analysis.cache"
    config = cached_config(mini_config, tmp_corpus, cache)
    first = build_brain(config)
    cache.write_bytes(damage(cache.read_bytes()))
    key = analysis_key(tmp_corpus)
    assert read_analysis(cache, key) is None
    second = build_brain(config)
    assert verdicts(second) == verdicts(first)
    assert kept_analysis(cache, key) == fresh_analysis(tmp_corpus, mini_config)


def test_a_cache_that_cannot_be_written_does_not_stop_the_build(
    mini_config: Config, tmp_corpus: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache's folder should be", encoding="utf-8")
    brain = build_brain(cached_config(mini_config, tmp_corpus, blocker / "analysis.cache"))
    assert brain.matcher.match("学费多少").decision == "answer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "not-a-folder"]


def test_a_dictionary_kept_for_another_jieba_is_not_read(tmp_path: Path) -> None:
    cache = tmp_path / "analysis.cache"
    write_analysis(cache, "one-key", Analysis(dictionary=FiledDictionary(7, {"学": b"not read"})))
    assert read_dictionary(cache) == FiledDictionary(7, {"学": b"not read"})
    cache.write_bytes(cache.read_bytes().replace(dictionary_key().encode(), b"0" * 64, 1))
    assert read_dictionary(cache) is None
    assert read_analysis(cache, "one-key") == Analysis()
