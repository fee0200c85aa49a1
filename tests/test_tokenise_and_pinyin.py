"""Tokens, pinyin and typo repair: what the index sees of a question, and entity spotting."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from bot.engine import Brain
from bot.pinyin import PinyinDictionary, split_syllables
from bot.tokenise import (
    EN_STOP_WORDS,
    ZH_STOP_WORDS,
    Tokeniser,
    english_lexicon,
    fold_english,
    lexicon_from_spellchecker,
)

DOMAIN_WORD = "院校代码"


@pytest.fixture(scope="module")
def plain_tokeniser() -> Tokeniser:
    """jieba's own dictionary, no synonyms, no corpus vocabulary."""
    return Tokeniser()


@pytest.fixture(scope="module")
def domain_tokeniser(tmp_path_factory: pytest.TempPathFactory) -> Tokeniser:
    """A tokeniser with a user dictionary naming one domain word."""
    userdict: Path = tmp_path_factory.mktemp("userdict") / "userdict.txt"
    userdict.write_text(f"{DOMAIN_WORD} 2000 n\n", encoding="utf-8")
    return Tokeniser(userdict=userdict)


@pytest.fixture(scope="module")
def synonym_tokeniser() -> Tokeniser:
    """A tokeniser with small synonym groups, one of them holding a phrase."""
    return Tokeniser(
        synonyms=[
            ["学费", "费用", "收费"],
            ["fee", "tuition", "cost", "price"],
            ["email", "e-mail", "email address"],
        ]
    )


def words(brain: Brain, text: str) -> tuple[str, ...]:
    """The index words of a question as the matcher reads it (typos mended, pinyin read)."""
    return brain.matcher.analyse(text).tokens.words


# --- Chinese word splitting --------------------------------------------------------------------------


def test_loading_a_user_dictionary_leaves_no_file_open(tmp_path: Path) -> None:
    userdict = tmp_path / "userdict.txt"
    userdict.write_text(f"{DOMAIN_WORD} 2000 n\n", encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Tokeniser(userdict=userdict)
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_jieba_alone_splits_a_domain_word(plain_tokeniser: Tokeniser) -> None:
    assert plain_tokeniser.tokenise(DOMAIN_WORD).words != (DOMAIN_WORD,)


def test_user_dictionary_keeps_a_domain_word_whole(domain_tokeniser: Tokeniser) -> None:
    assert domain_tokeniser.tokenise(DOMAIN_WORD).words == (DOMAIN_WORD,)


def test_user_dictionary_word_is_found_inside_a_sentence(domain_tokeniser: Tokeniser) -> None:
    assert DOMAIN_WORD in domain_tokeniser.tokenise(f"这个项目的{DOMAIN_WORD}是多少").words


@pytest.mark.parametrize("word", ["中外合作办学", "国际医学院", "执业医师", "奖学金"])
def test_corpus_dictionary_keeps_domain_words_whole(brain: Brain, word: str) -> None:
    assert word in brain.matcher.analyser.tokeniser.surface_words(word)[1]


def test_chinese_character_bigrams_are_index_features(plain_tokeniser: Tokeniser) -> None:
    assert plain_tokeniser.tokenise("学费多少").bigrams == ("学费", "费多", "多少")


# --- English folding and stop words ------------------------------------------------------------------


@pytest.mark.parametrize(
    "forms",
    [
        ("fee", "fees"),
        ("study", "studying", "studied", "studies"),
        ("apply", "applying", "applied"),
        ("recognise", "recognised"),
        ("programme", "programmes"),
        ("class", "classes"),
        ("place", "places"),
    ],
)
def test_inflections_of_a_word_fold_together(forms: tuple[str, ...]) -> None:
    assert len({fold_english(word) for word in forms}) == 1


@pytest.mark.parametrize(("word", "other"), [("fee", "feel"), ("study", "student"), ("place", "plan")])
def test_different_words_stay_apart(word: str, other: str) -> None:
    assert fold_english(word) != fold_english(other)


@pytest.mark.parametrize("short", ["is", "fee", "uk", "gpa"])
def test_short_words_are_not_folded(short: str) -> None:
    assert fold_english(short) == short


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("what is the fee please", ("fee",)),
        ("could you tell me about the interview", ("interview",)),
        ("my son would like to know about the deadline", ("deadlin",)),
    ],
)
def test_english_stop_words_are_dropped(
    plain_tokeniser: Tokeniser, text: str, expected: tuple[str, ...]
) -> None:
    assert plain_tokeniser.tokenise(text).words == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("请问学费是多少呢", ("学费", "多少")), ("您好我想咨询一下面试", ("面试",))],
)
def test_chinese_stop_words_are_dropped(
    plain_tokeniser: Tokeniser, text: str, expected: tuple[str, ...]
) -> None:
    assert plain_tokeniser.tokenise(text).words == expected


# --- synonyms ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("group", [("学费", "费用", "收费"), ("fee", "fees", "tuition", "cost", "prices")])
def test_synonyms_map_to_one_token(synonym_tokeniser: Tokeniser, group: tuple[str, ...]) -> None:
    tokens = {synonym_tokeniser.tokenise(word).words for word in group}
    assert tokens == {(group[0],)}


@pytest.mark.parametrize("phrase", ["email address", "e-mail"])
def test_synonym_phrases_map_to_the_group_head(synonym_tokeniser: Tokeniser, phrase: str) -> None:
    assert synonym_tokeniser.tokenise(f"what is the {phrase}").words == ("email",)


def test_a_word_outside_every_group_is_its_own_token(synonym_tokeniser: Tokeniser) -> None:
    assert synonym_tokeniser.tokenise("interview").words == ("interview",)


# --- pinyin ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("letters", "syllables"),
    [
        ("xuefei", ["xue", "fei"]),
        ("xuefeiduoshao", ["xue", "fei", "duo", "shao"]),
        ("zhongguo", ["zhong", "guo"]),
        ("xian", ["xian"]),
    ],
)
def test_letters_split_into_the_fewest_pinyin_syllables(letters: str, syllables: list[str]) -> None:
    assert split_syllables(letters) == syllables


@pytest.mark.parametrize("word", ["tuition", "hello", "qq"])
def test_english_words_are_not_pinyin(word: str) -> None:
    assert split_syllables(word) is None


def test_pinyin_dictionary_transliterates_corpus_words() -> None:
    assert PinyinDictionary(["学费", "多少"]).transliterate("xuefei duoshao") == "学费多少"


def test_pinyin_dictionary_refuses_text_that_is_not_pinyin() -> None:
    assert PinyinDictionary(["学费"]).transliterate("hello world") is None


@pytest.mark.parametrize(
    ("pinyin", "chinese_words"),
    [("xuefei duoshao", ("学费", "多少")), ("dianhua", ("电话",)), ("youxiang", ("邮箱",))],
)
def test_pinyin_question_is_read_as_chinese(
    mini_brain: Brain, pinyin: str, chinese_words: tuple[str, ...]
) -> None:
    query = mini_brain.matcher.analyse(pinyin)
    assert (query.lang, query.read_as_pinyin, query.tokens.words) == ("zh", True, chinese_words)


@pytest.mark.parametrize("english", ["how much is the fee", "email address", "phone"])
def test_english_question_is_not_read_as_pinyin(mini_brain: Brain, english: str) -> None:
    query = mini_brain.matcher.analyse(english)
    assert (query.lang, query.read_as_pinyin) == ("en", False)


# --- typo repair -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("typo", "word"), [("学废", "学费"), ("邮相", "邮箱"), ("学废多少", "学费多少")])
def test_homophone_typos_are_mended(mini_brain: Brain, typo: str, word: str) -> None:
    assert words(mini_brain, typo) == words(mini_brain, word)


def test_pinyin_dictionary_finds_the_corpus_word_that_sounds_alike() -> None:
    assert PinyinDictionary(["学费"]).homophone("学废") == "学费"


def test_pinyin_dictionary_offers_no_homophone_for_the_word_itself() -> None:
    assert PinyinDictionary(["学费"]).homophone("学费") is None


@pytest.mark.parametrize(("real_word", "sound_alike"), [("考验", "考研"), ("油箱", "邮箱")])
def test_real_words_that_sound_like_corpus_words_are_untouched(
    brain: Brain, real_word: str, sound_alike: str
) -> None:
    assert (real_word in words(brain, real_word), sound_alike in words(brain, real_word)) == (True, False)


@pytest.mark.parametrize(
    ("typo", "word"),
    [
        ("tution", "tuition"),
        ("provence", "province"),
        ("quotta", "quota"),
        ("qouta", "quota"),
        ("tuiton", "tuition"),
    ],
)
def test_english_typos_are_mended_against_the_corpus_vocabulary(
    mini_brain: Brain, typo: str, word: str
) -> None:
    assert words(mini_brain, f"the {typo}") == words(mini_brain, f"the {word}")


def test_real_corpus_mends_tution_to_tuition(brain: Brain) -> None:
    assert words(brain, "tution per year") == words(brain, "tuition per year")


def test_words_far_from_the_corpus_vocabulary_stay_unknown(mini_brain: Brain) -> None:
    query = mini_brain.matcher.analyse("zzyzx weather")
    assert set(query.tokens.unknown) == {"zzyzx", "weather"}


def test_typos_are_not_mended_when_indexing(mini_brain: Brain) -> None:
    assert mini_brain.matcher.analyser.analyse("tution", repair=False).tokens.words == ("tution",)


# --- entities ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("四川招几个", ("province", "sichuan")),
        ("四川省考生", ("province", "sichuan")),
        ("Sichuan places", ("province", "sichuan")),
        ("SICHUAN quota", ("province", "sichuan")),
        ("川招几个人", ("province", "sichuan")),
        ("渝考生名额", ("province", "chongqing")),
        ("places in Chongqing", ("province", "chongqing")),
        ("hennan quota", ("province", "henan")),
        ("how many places for Henan", ("province", "henan")),
        ("贵州招几个", ("province", "guizhou")),
        ("缙云校区在哪", ("campus", "jinyun")),
        ("渝中区的校区", ("campus", "yuanjiagang")),
    ],
)
def test_named_entities_are_spotted(brain: Brain, text: str, found: tuple[str, str]) -> None:
    assert brain.matcher.analyse(text).spotted.found == (found,)


@pytest.mark.parametrize(
    "text",
    [
        "重庆医科大学在哪",
        "Chongqing Medical University",
        "重医学费多少",
        "四川大学怎么样",
        "学费贵不贵",
        "学费贵吗",
        "贵校的学费",
    ],
)
def test_longer_words_containing_a_name_do_not_name_the_province(brain: Brain, text: str) -> None:
    assert brain.matcher.analyse(text).spotted.found == ()


def test_several_provinces_are_spotted_in_order(brain: Brain) -> None:
    found = brain.matcher.analyse("四川和重庆各招多少").spotted.found
    assert found == (("province", "sichuan"), ("province", "chongqing"))


def test_a_one_letter_slip_close_to_two_names_spots_nothing(brain: Brain) -> None:
    # "hanan" is one letter from both Henan and Hunan.
    assert brain.matcher.analyse("hanan quota").spotted.found == ()


# --- hyphenated words --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5-year course", ("5", "year", "cours")),
        ("six-year", ("six", "year")),
        ("call 023-68480331", ("call", "023-68480331")),
    ],
)
def test_hyphenated_words_count_as_their_parts_but_numbers_stay_whole(
    plain_tokeniser: Tokeniser, text: str, expected: tuple[str, ...]
) -> None:
    assert plain_tokeniser.tokenise(text).words == expected


def test_a_segmentation_remembered_for_one_message_is_forgotten_on_clear(plain_tokeniser: Tokeniser) -> None:
    plain_tokeniser.tokenise("学费多少")
    assert plain_tokeniser.cut.cache_info().currsize > 0
    plain_tokeniser.clear_cache()
    assert plain_tokeniser.cut.cache_info().currsize == 0


def test_the_english_lexicon_in_bot_data_is_the_one_pyspellchecker_gives() -> None:
    # After an upgrade of pyspellchecker, `python -m bot.tokenise` writes the files again.
    assert english_lexicon() == lexicon_from_spellchecker()


def test_the_stop_word_lists_are_read_from_bot_data() -> None:
    assert {"the", "is", "what"} <= EN_STOP_WORDS
    assert {"的", "吗", "请问"} <= ZH_STOP_WORDS
    assert not any(word.startswith("#") or word != word.strip() for word in EN_STOP_WORDS | ZH_STOP_WORDS)


def test_an_unknown_chinese_compound_of_corpus_words_is_read_as_those_words(brain: Brain) -> None:
    """英语教学 is not a corpus word, but 英语 and 教学 are: the compound counts as both, not as an unknown word."""
    query = brain.matcher.analyse("课程是用英语教学吗")
    assert {"英语", "教学"} <= set(query.tokens.words)
    assert "英语教学" not in query.tokens.unknown
