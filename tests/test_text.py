"""Text normalisation and language detection: equal questions look equal whatever keyboard typed them."""

from __future__ import annotations

import pytest

from bot.text import EMOTICONS_FILE, Emoticons, TextNormaliser, detect_language, utf8_len


@pytest.fixture(scope="module")
def normaliser() -> TextNormaliser:
    return TextNormaliser()


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("ＴＵＩＴＩＯＮ　ＦＥＥ", "tuition fee"),
        ("ｅｍａｉｌ", "email"),
        ("１２３", "123"),
        ("学费多少？", "学费多少"),
    ],
)
def test_full_width_characters_become_half_width(normaliser: TextNormaliser, typed: str, normal: str) -> None:
    assert normaliser.normalise(typed) == normal


@pytest.mark.parametrize(
    ("typed", "normal"), [("How MUCH", "how much"), ("UoL", "uol"), ("JEP的学费", "jep的学费")]
)
def test_letters_are_lower_cased(normaliser: TextNormaliser, typed: str, normal: str) -> None:
    assert normaliser.normalise(typed) == normal


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("How much?!", "how much"),
        ("学费！！！", "学费"),
        ("“学制”是几年？", "学制 是几年"),
        ("fees... per year???", "fees per year"),
        ("【招生】名额", "招生 名额"),
    ],
)
def test_punctuation_is_removed(normaliser: TextNormaliser, typed: str, normal: str) -> None:
    assert normaliser.normalise(typed) == normal


@pytest.mark.parametrize(
    ("typed", "normal"), [("学费😀😀", "学费"), ("thanks 👍🙏", "thanks"), ("🎓degree", "degree")]
)
def test_emoji_are_removed(normaliser: TextNormaliser, typed: str, normal: str) -> None:
    assert normaliser.normalise(typed) == normal


@pytest.mark.parametrize("kept", ["int.med@cqmu.edu.cn", "023-68480331", "e-mail"])
def test_characters_inside_addresses_and_numbers_are_kept(normaliser: TextNormaliser, kept: str) -> None:
    assert normaliser.normalise(f"({kept})") == kept


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("hellooooo", "helloo"),
        ("feeeees", "fees"),
        ("学费费费费", "学费"),
        ("哈哈哈哈", "哈"),
    ],
)
def test_repeated_characters_are_collapsed(normaliser: TextNormaliser, typed: str, normal: str) -> None:
    assert normaliser.normalise(typed) == normal


@pytest.mark.parametrize("word", ["谢谢", "看看", "fee", "good"])
def test_ordinary_doubled_characters_are_kept(normaliser: TextNormaliser, word: str) -> None:
    assert normaliser.normalise(word) == word


@pytest.mark.parametrize(
    ("traditional", "simplified"),
    [
        ("學費", "学费"),
        ("學制幾年", "学制几年"),
        ("獎學金", "奖学金"),
        ("畢業證書", "毕业证书"),
        ("課程用什麼語言", "课程用什么语言"),
    ],
)
def test_traditional_characters_become_simplified(
    normaliser: TextNormaliser, traditional: str, simplified: str
) -> None:
    assert normaliser.normalise(traditional) == simplified


@pytest.mark.parametrize("spaced", ["  tuition \t fee \n", "tuition    fee"])
def test_whitespace_is_collapsed_to_single_spaces(normaliser: TextNormaliser, spaced: str) -> None:
    assert normaliser.normalise(spaced) == "tuition fee"


@pytest.mark.parametrize("empty", ["", "   ", "？！。", "😀"])
def test_text_without_words_normalises_to_empty(normaliser: TextNormaliser, empty: str) -> None:
    assert normaliser.normalise(empty) == ""


@pytest.mark.parametrize("text", ["學費多少？", "ＨＯＷ much!!", "hellooooo 😀"])
def test_normalising_twice_changes_nothing(normaliser: TextNormaliser, text: str) -> None:
    once = normaliser.normalise(text)
    assert normaliser.normalise(once) == once


@pytest.mark.parametrize("text", ["学费多少", "學費多少", "毕业后能当医生吗", "四川招几个人", "学费"])
def test_chinese_text_is_detected_as_chinese(text: str) -> None:
    assert detect_language(text) == "zh"


@pytest.mark.parametrize("text", ["how much is the tuition", "fee", "Is there an interview?", "email"])
def test_english_text_is_detected_as_english(text: str) -> None:
    assert detect_language(text) == "en"


@pytest.mark.parametrize(
    "text",
    ["UoL的degree承认吗", "JEP的学费多少", "这个programme几年毕业", "学费 how much", "GPA要求高吗"],
)
def test_mixed_text_with_chinese_grammar_counts_as_chinese(text: str) -> None:
    assert detect_language(text) == "zh"


@pytest.mark.parametrize(
    "text",
    ["can I still be 调剂 into it?", "how do I 报名 for the programme", "is the 学费 the same every year"],
)
def test_mixed_text_dominated_by_english_counts_as_english(text: str) -> None:
    assert detect_language(text) == "en"


@pytest.mark.parametrize("text", ["", "123", "?!"])
def test_text_without_chinese_defaults_to_english(text: str) -> None:
    assert detect_language(text) == "en"


@pytest.mark.parametrize(("text", "size"), [("fee", 3), ("学费", 6), ("学费fee", 9), ("", 0)])
def test_utf8_len_counts_bytes_as_wechat_does(text: str, size: int) -> None:
    assert utf8_len(text) == size


# --- WeChat emoticons ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("[微笑]", ""),
        ("[微笑][憨笑][捂脸]", ""),
        ("/::)/::D", ""),
        ("[Smile] hello", "hello"),
        ("谢谢[抱拳]", "谢谢"),
        ("学费多少/:?", "学费多少"),
        ("[学费]多少", "学费 多少"),
        ("/:okay", "okay"),
    ],
)
def test_wechat_emoticons_are_not_words(text: str, normal: str) -> None:
    assert TextNormaliser().normalise(text) == normal


def test_every_emoticon_of_the_data_file_is_removed() -> None:
    lines = EMOTICONS_FILE.read_text(encoding="utf-8").splitlines()
    emoticons = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    normaliser = TextNormaliser()
    assert len(emoticons) > 200
    assert [e for e in emoticons if normaliser.normalise(f"学费{e}多少") != "学费 多少"] == []


def test_emoticons_come_in_through_the_constructor() -> None:
    assert TextNormaliser(Emoticons(["[学费]"])).normalise("[学费][微笑]") == "微笑"
