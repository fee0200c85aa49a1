"""Classes of question the bot reads as families write them: pinyin without spaces, another institution,
several questions joined loosely, a part that leans on a declined one, and evaluation runs kept apart."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import Config
from bot.engine import FAQBot
from bot.evaluation import evaluate_bot
from bot.storage import MemoryStorage

# --- pinyin ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "faq_id"),
    [
        ("you jiangxuejin ma", "scholarships"),  # "you" and "ma" are English words too; "jiangxuejin" is not
        ("yi nian zhao duoshao ren", "admissions-quota"),  # lone syllables with one clear word: 招, 人
        ("kaoyan keyi ma", "postgraduate"),
    ],
)
def test_pinyin_questions_are_read_as_chinese(bot: FAQBot, message: str, faq_id: str) -> None:
    reply = bot.ask(message)
    assert (reply.kind, reply.faq_id, reply.lang) == ("answer", faq_id, "zh")


def test_an_out_of_scope_topic_in_pinyin_is_declined(bot: FAQBot) -> None:
    assert bot.ask("sushe ji ren jian").kind == "decline"  # 宿舍几人间


def test_an_english_question_with_a_misspelt_place_is_not_read_as_pinyin(bot: FAQBot) -> None:
    reply = bot.ask("hennan quota")
    assert (reply.faq_id, reply.entity) == ("province-quota", "henan")


# --- another institution -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "浙江大学医学院的学费是多少？",
        "What are the admission requirements of Jahrom University of Medical Sciences?",
        "does fudan also have a program with leicester",
        "Can students from Hong Kong or Macau apply to this programme?",
    ],
)
def test_a_question_about_another_institution_or_region_is_declined(bot: FAQBot, message: str) -> None:
    assert bot.ask(message).kind == "decline"


def test_a_misspelt_college_name_is_not_another_institution(bot: FAQBot) -> None:
    """ "medicl college" is the college's own name with a slip, not a college the corpus never names."""
    assert bot.ask("phone numbr for the internatonal medicl college?").faq_id == "contact-phone"


@pytest.mark.parametrize(
    ("message", "faq_id"),
    [("重庆医科大学的学费多少", "tuition-fee"), ("Is Leicester a good university?", "uol-ranking")],
)
def test_the_programmes_own_universities_are_not_another_institution(
    bot: FAQBot, message: str, faq_id: str
) -> None:
    assert bot.ask(message).faq_id == faq_id


# --- several questions in one message -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "faq_ids"),
    [
        ("fee per year and is there an oral test?", ["tuition-fee", "oral-exam"]),  # a topic, then a question
        ("有啥奖学金，还有要不要出国", ["scholarships", "study-in-uk"]),  # 啥 asks
        ("xuefei duoshao, yingyu yao duoshao fen", ["tuition-fee", "english-requirement"]),  # pinyin list
        ("Jinyun campus address and the phone number?", ["campus-address", "contact-phone"]),
    ],
)
def test_every_question_of_a_loosely_joined_message_is_answered(
    bot: FAQBot, message: str, faq_ids: list[str]
) -> None:
    reply = bot.ask(message)
    assert [p.faq_id for p in reply.parts] == faq_ids


def test_a_part_that_points_back_at_a_declined_part_is_declined_too(bot: FAQBot) -> None:
    """ "it" is the nursing degree, which the documents do not cover: not this programme's fee."""
    reply = bot.ask("Is there a joint nursing degree with Leicester as well, and what does it cost?")
    assert reply.kind == "decline"
    assert "62,000" not in reply.text


def test_a_part_that_only_asks_how_long_leans_on_the_declined_part_before_it(bot: FAQBot) -> None:
    assert bot.ask("英国学生签证怎么办，要多久？").kind == "decline"


def test_a_part_that_only_asks_a_price_is_about_the_declined_part_not_tuition(bot: FAQBot) -> None:
    reply = bot.ask("英国签证怎么办，要花多少钱")
    assert reply.kind == "decline"
    assert "62000" not in reply.text


def test_a_declined_part_does_not_take_a_whole_question_after_it_down(bot: FAQBot) -> None:
    reply = bot.ask("宿舍几人间？学费多少？")
    assert [p.kind for p in reply.parts] == ["decline", "answer"]
    assert "62000" in reply.text


# --- small talk --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    ["thank u so much!!", "thanks a lot!", "many thanks", "you've been really helpful, thank you so much"],
)
def test_thanks_in_any_wording_is_small_talk(bot: FAQBot, message: str) -> None:
    assert bot.ask(message).kind == "smalltalk"


@pytest.mark.parametrize(
    ("message", "lang"), [("are you a real person or a bot?", "en"), ("你是真人还是机器人", "zh")]
)
def test_asking_whether_the_bot_is_a_person_gets_who_it_is(bot: FAQBot, message: str, lang: str) -> None:
    reply = bot.ask(message)
    assert (reply.kind, reply.lang) == ("smalltalk", lang)
    assert ("assistant" if lang == "en" else "助手") in reply.text


# --- evaluation ---------------------------------------------------------------------------------------


def test_one_evaluation_set_does_not_inherit_the_conversations_of_another(
    bot: FAQBot, tmp_path: Path
) -> None:
    """Each set's questions are asked in fresh sessions: a follow-up in the second set has no context."""
    first = tmp_path / "first.yaml"
    first.write_text('items:\n  - {q: "重庆招多少人", lang: zh, expect: ["40"]}\n', encoding="utf-8")
    second = tmp_path / "second.yaml"
    second.write_text('items:\n  - {q: "理科呢？", lang: zh, expect: ["35"]}\n', encoding="utf-8")
    assert evaluate_bot(bot, first).outcomes[0].kind == "ok"
    assert evaluate_bot(bot, second).outcomes[0].kind != "ok"


# --- the asker's language -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "lang"),
    [
        ("Leicester的clinical medicine ranking多少", "zh"),  # Chinese grammar, English nouns
        ("how many 名额 for 四川?", "en"),  # English grammar, Chinese nouns
        ("UoL的degree承认吗", "zh"),
        ("can I still be 调剂 into it?", "en"),
    ],
)
def test_a_mixed_message_is_answered_in_the_language_of_its_grammar(
    bot: FAQBot, message: str, lang: str
) -> None:
    assert bot.ask(message).lang == lang


# --- out of scope -------------------------------------------------------------------------------------


def test_an_answer_that_mentions_an_out_of_scope_term_does_not_make_the_topic_its_own(bot: FAQBot) -> None:
    """The English requirement's answer says "that Gaokao score is the only requirement"; last year's cut-off
    score is still a topic the documents do not cover."""
    assert bot.ask("What was the minimum gaokao score to get in last year?").kind == "decline"


@pytest.mark.parametrize(
    "message",
    ["How many science-track places does Shandong get?", "福建理科生名额多少", "重庆文科生有名额吗"],
)
def test_a_province_and_track_question_gets_that_provinces_figures(bot: FAQBot, message: str) -> None:
    """ "science-track" is the phrase "science track", 理科生 a student of 理科: both name the track."""
    reply = bot.ask(message)
    assert (reply.kind, reply.faq_id) == ("answer", "province-quota")
    assert reply.entity is not None


# --- close calls ----------------------------------------------------------------------------------------


def test_two_close_confident_entries_give_both_answers_each_under_its_question(bot: FAQBot) -> None:
    """The fee for "the Leicester programme" is as near the CQMU fee as the Leicester-year fee: both are said."""
    reply = bot.ask("How much is the tuition fee for the Leicester joint programme?")
    assert reply.kind == "answer"
    assert {p.faq_id for p in reply.parts} == {"tuition-fee", "uk-year-fee"}
    assert "62,000" in reply.text and "international student tuition fee" in reply.text
    assert reply.text.count("Q: ") == 2


@pytest.mark.parametrize(("pair_threshold", "kind"), [(101.0, "suggest"), (0.0, "answer")])
def test_a_close_call_below_the_pair_threshold_gets_a_list_to_choose_from(
    mini_config: Config, pair_threshold: float, kind: str
) -> None:
    """ "email or phone" is as near the e-mail entry as the phone entry: with both above the pair threshold
    the bot gives both answers; below it, it asks which was meant."""
    config = replace(mini_config, match=replace(mini_config.match, pair_threshold=pair_threshold))
    bot = FAQBot(config, MemoryStorage())
    reply = bot.ask("email or phone")
    assert reply.kind == kind
    if kind == "answer":
        assert {p.faq_id for p in reply.parts} == {"contact-email", "contact-phone"}


# --- follow-ups naming a place ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "then"), [("how much is the tuition?", "And at Leicester?"), ("学费多少", "那莱斯特呢")]
)
def test_a_follow_up_naming_only_a_place_asks_the_last_question_there(
    bot: FAQBot, first: str, then: str
) -> None:
    """After the fee, "and at Leicester?" is the fee for the year at Leicester, not a question about Leicester."""
    bot.ask(first, session="place")
    reply = bot.ask(then, session="place")
    assert "uk-year-fee" in {reply.faq_id, *(p.faq_id for p in reply.parts)}


def test_a_place_alone_at_the_start_of_a_conversation_is_about_the_place(bot: FAQBot) -> None:
    assert bot.ask("and at Leicester?", session="fresh-place").faq_id == "about-leicester"


def test_a_follow_up_of_only_common_words_with_an_answer_of_its_own_moves_on(bot: FAQBot) -> None:
    """After year 5, "and years 1 to 3?" is about the programme's structure, not year 5 again."""
    bot.ask("what about year 5?", session="years")
    assert bot.ask("and years 1 to 3?", session="years").faq_id == "programme-structure"


def test_a_close_call_on_the_next_turn_is_settled_by_the_topic_just_discussed(bot: FAQBot) -> None:
    """After the first graduation, "where was the ceremony held?" is about that ceremony, not the founding one."""
    bot.ask("When did the first cohort graduate?", session="ceremony")
    assert bot.ask("Where was the ceremony held?", session="ceremony").faq_id == "first-graduation"


def test_parts_of_one_message_are_not_settled_by_each_others_topic(bot: FAQBot) -> None:
    reply = bot.ask(
        "Can I transfer out later? And if I don't apply for this programme, could I still be placed into it?"
    )
    assert [p.faq_id for p in reply.parts] == ["transfer-out", "no-automatic-transfer"]


@pytest.mark.parametrize(
    ("first", "then"),
    [
        (
            "How many places are there in Chongqing?",
            "How many of those are for the literature and history track?",
        ),
        ("重庆招多少人", "其中文科几个"),
    ],
)
def test_a_follow_up_pointing_back_narrows_the_places_answer(bot: FAQBot, first: str, then: str) -> None:
    bot.ask(first, session="those")
    reply = bot.ask(then, session="those")
    assert (reply.faq_id, reply.entity) == ("province-quota", "chongqing")


@pytest.mark.parametrize(
    "message",
    [
        "Is there also a pharmacy programme run with Leicester? What's its quota?",
        "Does CQMU also run a joint nursing degree with Leicester? What are its fees?",
    ],
)
def test_a_message_about_another_programme_is_declined_not_read_whole_as_ours(
    bot: FAQBot, message: str
) -> None:
    reply = bot.ask(message)
    assert reply.kind == "decline"
    assert "115" not in reply.text and "62,000" not in reply.text


@pytest.mark.parametrize("message", ["國際醫學院的電話號碼是幾號？", "国际医学院电话几号"])
def test_asking_which_number_a_phone_is_is_not_asking_a_date(bot: FAQBot, message: str) -> None:
    assert "68480331" in bot.ask(message).text


@pytest.mark.parametrize(
    "message",
    [
        "How much is the master's tuition at Leicester for CQMU graduates?",
        "重医研究生学费多少",
        "去英国那年需要雅思多少分",
        "What IELTS score do I need before going to Leicester in year 4?",
        "重庆市教育考试院电话多少",
        "What are the dorms like? How many people share a room?",
        "出国留学奖学金金额是多少",
    ],
)
def test_a_fee_score_or_number_of_something_else_is_declined(bot: FAQBot, message: str) -> None:
    """Another programme's fee, another exam's score, another office's phone: not this programme's figures."""
    assert bot.ask(message).kind == "decline"


@pytest.mark.parametrize(
    "message", ["需要考雅思吗", "do I need IELTS?", "学费多少", "What's the phone number?"]
)
def test_the_programmes_own_figures_are_still_answered(bot: FAQBot, message: str) -> None:
    assert bot.ask(message).kind == "answer"


def test_a_single_close_entry_above_the_single_threshold_is_answered_not_offered(mini_config: Config) -> None:
    """A "did you mean" list of one offers no choice: at or above `single_threshold` it is the answer."""
    lone = FAQBot(
        replace(mini_config, match=replace(mini_config.match, single_threshold=0.0)), MemoryStorage()
    )
    listing = FAQBot(
        replace(mini_config, match=replace(mini_config.match, single_threshold=100.0)), MemoryStorage()
    )
    question = "tuition"
    offered = listing.ask(question)
    if offered.kind == "suggest" and len(offered.suggestions) == 1:
        assert lone.ask(question).kind == "answer"
    else:
        assert lone.ask(question).kind == offered.kind


# --- long messages: the question inside the background ------------------------------------------------


@pytest.mark.parametrize(
    ("message", "faq_id", "entity"),
    [
        (
            "老师好，我们是河南的考生家庭，孩子物理化学都不错，一直想当医生，现在主要想弄清楚河南今年招几个人，谢谢您",
            "province-quota",
            "henan",
        ),
        (
            "Good morning. My son is in his last year of school and loves biology, he has been reading about many "
            "programmes online for weeks. We would like to know what the yearly tuition is here, thank you so much "
            "for your help.",
            "tuition-fee",
            None,
        ),
        (
            "My daughter is a Gaokao student in Sichuan, and she is keen on medicine. She's a confident speaker but "
            "nervous about interviews, so I wonder whether there is an oral English test at admission.",
            "oral-exam",
            None,
        ),
    ],
)
def test_a_long_message_is_answered_from_the_clauses_that_ask(
    bot: FAQBot, message: str, faq_id: str, entity: str | None
) -> None:
    reply = bot.ask(message)
    assert (reply.kind, reply.faq_id, reply.entity) == ("answer", faq_id, entity)


def test_a_province_answer_names_the_gaokao_categories_as_the_documents_do(bot: FAQBot) -> None:
    reply = bot.ask("Does Fujian have any G-LH places?")
    assert (reply.faq_id, reply.entity) == ("province-quota", "fujian")
    assert "0 in G-LH" in reply.text and "no liberal arts places" in reply.text


# --- a place set aside -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "除了重庆，其他省份招几个人",
        "除了重庆和四川，别的省份名额多少",
        "Besides Chongqing, how many places do the other provinces get?",
        "Apart from Chongqing and Sichuan, how many places does each province have?",
    ],
)
def test_a_place_set_aside_gets_the_whole_list_not_its_own_figure(bot: FAQBot, message: str) -> None:
    reply = bot.ask(message)
    assert (reply.kind, reply.faq_id, reply.entity) == ("answer", "province-quota", None)


def test_a_place_named_plainly_still_gets_its_own_figure(bot: FAQBot) -> None:
    reply = bot.ask("重庆和四川各招几个人")
    assert (reply.faq_id, reply.entity) == ("province-quota", "chongqing+sichuan")


def test_a_question_asking_an_amount_the_entry_never_states_is_declined(bot: FAQBot) -> None:
    """The scholarships entry names the scholarships but gives no amount."""
    assert bot.ask("What's the amount of the scholarship for excellence?").kind == "decline"


@pytest.mark.parametrize(
    "message", ["how many kids get in a year", "how many children do you take each year"]
)
def test_how_many_children_a_year_asks_the_intake_not_the_years(bot: FAQBot, message: str) -> None:
    """Kids and children are stop words elsewhere ("my kid wants to apply"); after "how many" they are students."""
    assert bot.ask(message).faq_id == "admissions-quota"


# --- the topic asked about, not the programme named -------------------------------------------------


@pytest.mark.parametrize(
    ("message", "faq_id"),
    [
        ("重庆医科大学和莱斯特大学合作的临床医学专业学制几年", "duration"),
        (
            "What is the tuition fee for the CQMU-University of Leicester Clinical Medicine programme?",
            "tuition-fee",
        ),
    ],
)
def test_a_question_naming_the_programme_is_answered_on_what_it_asks(
    bot: FAQBot, message: str, faq_id: str
) -> None:
    """The overview's phrasings name the programme too; the fee and the length are keywords it never speaks of."""
    reply = bot.ask(message)
    assert (reply.kind, reply.faq_id) == ("answer", faq_id)


# --- a topic named by words together ----------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    ["What is the tuition of the regular clinical medicine major at CQMU?", "普通临床医学专业一年学费多少"],
)
def test_the_regular_majors_fee_is_declined(bot: FAQBot, message: str) -> None:
    """The documents give only this programme's fee; "regular" and "tuition" together name the other major's."""
    assert bot.ask(message).kind == "decline"


@pytest.mark.parametrize(
    ("message", "faq_id"),
    [
        ("学费多少", "tuition-fee"),
        ("How is the joint programme different from regular clinical medicine?", "programme-difference"),
        ("We are an ordinary family, how much is the tuition?", "tuition-fee"),
    ],
)
def test_either_word_alone_is_still_answered(bot: FAQBot, message: str, faq_id: str) -> None:
    reply = bot.ask(message)
    assert (reply.kind, reply.faq_id) == ("answer", faq_id)


def test_a_close_call_between_answers_giving_the_same_facts_is_answered_not_listed(bot: FAQBot) -> None:
    """The ceremony and the institute entries both give 25 June 2024: no list is needed to tell the date."""
    reply = bot.ask("When did the Joint Institute open?")
    assert reply.kind == "answer"
    assert "25 June" in reply.text


# --- a place typed wrongly ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "entity"),
    [
        ("四穿理科招几个", "sichuan"),  # 穿 sounds as 川
        ("重情今年招多少", "chongqing"),  # 情 sounds as 庆, and 重 is read chong in 重庆
        ("how many places in sichaun", "sichuan"),  # two letters swapped
    ],
)
def test_a_province_typed_with_a_homophone_or_swapped_letters_is_that_province(
    bot: FAQBot, message: str, entity: str
) -> None:
    reply = bot.ask(message)
    assert (reply.faq_id, reply.entity) == ("province-quota", entity)


def test_a_longer_word_sounding_like_a_place_is_not_taken_for_it(bot: FAQBot) -> None:
    """ "大学成立" is not 大学城 (University Town): only two-character names are mended by sound."""
    assert bot.ask("莱斯特大学成立的联合学院什么时候揭牌").entity is None


def test_a_cohort_year_is_a_date_not_a_count_of_students(bot: FAQBot) -> None:
    """The year-at-Leicester answer names the 2020 cohort (2020级) but never says how many students go."""
    assert bot.ask("How many students are chosen to go to Leicester every year?").kind == "decline"


@pytest.mark.parametrize(
    "message",
    [
        "我是浙江的一名高中老师，正在给学生整理报考资料。想确认一下，重医和莱斯特合作的临床医学专业毕业后能拿到哪几个学位？",
        "I'm a teacher in Henan helping some students with their applications. Could you confirm what degrees a "
        "graduate of the joint programme receives?",
    ],
)
def test_a_long_message_about_something_else_is_read_without_its_place_background(
    bot: FAQBot, message: str
) -> None:
    """A teacher from Zhejiang or Henan asks about degrees: the place is background, not the question."""
    reply = bot.ask(message)
    assert (reply.kind, reply.faq_id) == ("answer", "degrees")
