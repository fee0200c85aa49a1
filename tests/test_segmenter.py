"""jieba's dictionary filed by first character cuts every text as the whole dictionary does."""

from __future__ import annotations

import marshal
from pathlib import Path

import pytest

from bot.segmenter import FiledDictionary, Segmenter

TEXTS = (
    "学费多少",
    "孩子今年想报考这个项目吗学费多少",
    "四川今年招多少人",
    "莱斯特大学临床医学五年制",
    "重医莱斯特联合学院的宿舍怎么样",
    "毕业后可以获得哪些学位",
    "除了重庆和四川其他省份招几个",
    "国际交流学院英语成绩要求雅思",
)
ADDED = (("临床医学", 5000), ("联合学院", 2000), ("重医", 2000), ("莱斯特", 5000), ("学费", 0))
USERDICT = "重医莱斯特 3000 nz\n五年制\n招生计划 2500\n"


@pytest.fixture(scope="module")
def filed() -> FiledDictionary:
    return Segmenter().filed()


def with_words(segmenter: Segmenter, userdict: Path) -> Segmenter:
    for word, freq in ADDED:
        segmenter.add_word(word, freq=freq)
    with userdict.open("rb") as handle:
        segmenter.load_userdict(handle)
    return segmenter


def words_of(filed: FiledDictionary) -> tuple[int, dict[str, dict[str, int]]]:
    return filed.total, {first: marshal.loads(words) for first, words in filed.files.items()}


def cuts(segmenter: Segmenter) -> list[list[str]]:
    return [segmenter.lcut(text, HMM=False) for text in TEXTS]


def test_a_filed_dictionary_cuts_as_the_whole_one(filed: FiledDictionary, tmp_path: Path) -> None:
    userdict = tmp_path / "userdict.txt"
    userdict.write_text(USERDICT, encoding="utf-8")
    whole = with_words(Segmenter(), userdict)
    lazy = with_words(Segmenter(filed), userdict)
    assert lazy.total == whole.total
    assert cuts(lazy) == cuts(whole)
    assert [lazy.frequency(w) for w in ("学费", "临床医学", "五年制", "莱斯", "不是词")] == [
        whole.frequency(w) for w in ("学费", "临床医学", "五年制", "莱斯", "不是词")
    ]


def test_a_filed_dictionary_reads_only_the_characters_it_meets(filed: FiledDictionary) -> None:
    segmenter = Segmenter(filed)
    assert segmenter.FREQ == {}
    segmenter.lcut("学费", HMM=False)
    assert segmenter.FREQ and all(word[0] in "学费" for word in segmenter.FREQ)


def test_the_filed_dictionary_leaves_out_the_words_the_corpus_added(
    filed: FiledDictionary, tmp_path: Path
) -> None:
    userdict = tmp_path / "userdict.txt"
    userdict.write_text(USERDICT, encoding="utf-8")
    assert words_of(with_words(Segmenter(), userdict).filed()) == words_of(filed)
    assert with_words(Segmenter(filed), userdict).filed() is filed
