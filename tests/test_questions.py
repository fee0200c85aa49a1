"""Finding the questions in a message: where a message is cut into questions, and where it is not."""

from __future__ import annotations

import pytest

from bot.questions import clauses, split_message, split_questions, topic_pair


@pytest.mark.parametrize(
    ("message", "questions"),
    [
        # question marks and full stops
        ("招多少人？学制几年？", ["招多少人？", "学制几年？"]),
        (
            "How much is the fee? How long is the programme?",
            ["How much is the fee?", "How long is the programme?"],
        ),
        # connectors
        ("学费多少，另外有口试吗", ["学费多少", "有口试吗"]),
        ("学费多少还有学制几年", ["学费多少", "学制几年"]),
        ("学费多少，以及学制几年？", ["学费多少", "学制几年？"]),
        ("What's the fee, and is there an oral test?", ["What's the fee", "is there an oral test?"]),
        ("What is the fee and how long is the programme?", ["What is the fee", "how long is the programme?"]),
        (
            "What is the fee? Also, is there an oral test?",
            ["What is the fee?", "Also, is there an oral test?"],
        ),
        ("what is the fee plus do I need IELTS", ["what is the fee", "do I need IELTS"]),
        # a comma between two Chinese questions
        ("学费多少，学制几年", ["学费多少", "学制几年"]),
        # a space between two Chinese questions, as typed in chat
        ("学制几年 第五年干什么", ["学制几年", "第五年干什么"]),
        ("国际医学院什么时候成立的 首任院长是谁", ["国际医学院什么时候成立的", "首任院长是谁"]),
        # a comma between two whole English questions
        ("What's the fee, how long is the course?", ["What's the fee", "how long is the course?"]),
        # numbered lists
        ("1. 学费多少 2. 学制几年 3. 有口试吗", ["学费多少", "学制几年", "有口试吗"]),
        ("①学费多少②学制几年", ["学费多少", "学制几年"]),
        ("Two things: 1) tuition fee 2) duration", ["tuition fee", "duration"]),
        # lists of topics
        ("学费、学制、招多少人", ["学费", "学制", "招多少人"]),
        ("学费、学制和招生人数", ["学费", "学制", "招生人数"]),
        ("fees, duration and intake", ["fees", "duration", "intake"]),
        ("What are the fees, duration and intake?", ["What are the fees", "duration", "intake"]),
    ],
)
def test_a_message_is_cut_where_a_new_question_starts(message: str, questions: list[str]) -> None:
    assert split_questions(message) == questions


@pytest.mark.parametrize(
    "message",
    [
        "Is the degree recognised in China and the UK?",
        "重庆和四川各招多少",
        "今年还有名额吗",
        "what if I fail and can't keep up, do I get kicked out or moved?",
        "Is it taught in English, and by whom?",
        "what's the 'one programme, two schools, five years' model",
        "你好，我是河南的，学费多少",
        "Hello, how much is the fee?",
        "学费每年2.5万吗",
        "需不需要另外报名或者面试？",
        "是单独报名，还是直接在高考志愿里填？",
        "Who teaches the courses, CQMU or Leicester?",
        "What will my son study in the first years, and where?",
        "Henan students, any places left?",
        "我是河南的 学费多少",
        "重庆 四川各招多少",
        "In 2020, how many places were there?",
        "Do I need IELTS, or is the gaokao enough?",
        "What is the fee, roughly?",
    ],
)
def test_one_question_stays_whole(message: str) -> None:
    assert split_questions(message) == [message]


def test_greetings_and_background_are_not_questions() -> None:
    pieces = split_message(
        "Dear teacher, good morning. My son is in Henan. Is the course taught in English? Thanks."
    )
    assert [p.text for p in pieces if p.is_question] == ["Is the course taught in English?"]
    assert "My son is in Henan." in [p.text for p in pieces]


def test_numbers_inside_an_item_do_not_start_a_new_one() -> None:
    assert split_questions("1. 学费是2.5万吗 2. 学制几年") == ["学费是2.5万吗", "学制几年"]


def test_a_list_of_one_is_one_question() -> None:
    assert split_questions("1. 学费多少") == ["学费多少"]


def test_a_polite_closing_is_not_a_question() -> None:
    assert split_questions("Are there scholarships? Any information would be appreciated.") == [
        "Are there scholarships?"
    ]


def test_the_words_before_a_numbered_list_introduce_it() -> None:
    pieces = split_message(
        "老师您好！孩子是河南的理科生，想问一下：1.河南招几个人 2.学费多少 3.需要口试吗？谢谢！"
    )
    assert [p.text for p in pieces if p.is_question] == ["河南招几个人", "学费多少", "需要口试吗？"]


def test_a_colon_introduces_the_questions_after_it() -> None:
    assert split_questions("Quick questions: what is the fee? is there an oral exam?") == [
        "what is the fee?",
        "is there an oral exam?",
    ]


@pytest.mark.parametrize(
    ("message", "pair"),
    [
        ("学费和奖学金", ["学费", "奖学金"]),
        ("tuition and duration?", ["tuition", "duration"]),
        ("What are the fees and scholarships?", ["What are the fees", "scholarships"]),
        ("What's the fee and the duration?", ["What's the fee", "the duration"]),
        ("想知道学费和学制", ["想知道学费", "学制"]),
    ],
)
def test_two_short_topics_joined_by_and_are_a_pair(message: str, pair: list[str]) -> None:
    assert topic_pair(message) == pair


@pytest.mark.parametrize(
    "message",
    [
        "Is the degree recognised in China and the UK?",
        "重庆和四川各招多少",
        "毕业证和普通临床一样吗",
        "口腔和临床哪个专业好",
        "Are Chongqing and Leicester sister cities?",
        "email or phone",
    ],
)
def test_and_inside_one_question_is_no_pair(message: str) -> None:
    assert topic_pair(message) == []


def test_the_clauses_of_a_long_message_say_which_ones_ask() -> None:
    sentences = clauses(
        "I read that it is taught in English, which is exciting. We'd like to know whether the fee of "
        "62,000 covers books, because money is tight."
    )
    asking = [piece.text for sentence in sentences for piece in sentence if piece.asks]
    assert asking == ["We'd like to know whether the fee of 62,000 covers books"]


def test_a_chinese_clause_with_a_question_word_asks() -> None:
    sentences = clauses("我是四川的考生家长，孩子理科还可以，不太清楚四川今年能招多少人，麻烦告诉一下。")
    assert [p.text for s in sentences for p in s if p.asks] == ["不太清楚四川今年能招多少人"]
