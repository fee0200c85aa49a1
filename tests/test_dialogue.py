"""The conversation: small talk, menus, "did you mean", follow-ups, declines, the question log, long answers."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from bot.config import Config
from bot.engine import Brain, FAQBot, build_brain
from bot.storage import MemoryStorage
from bot.text import utf8_len

SESSION = "wx-openid-0001"
# In the mini corpus "email or phone" is as close to contact-phone as to contact-email: the bot asks which.
AMBIGUOUS = {"en": "email or phone", "zh": "电话或者邮箱"}
SUGGESTED = {"contact-email", "contact-phone"}
NUMBERED_LINE = re.compile(r"^(\d)\. (.+)$")


def numbered_lines(text: str) -> list[tuple[int, str]]:
    """The "1. question" lines of a menu or a "did you mean" reply."""
    return [(int(m.group(1)), m.group(2)) for m in map(NUMBERED_LINE.match, text.splitlines()) if m]


# --- small talk --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "kind", "lang"),
    [
        ("hello", "greeting", "en"),
        ("Hi!", "greeting", "en"),
        ("good morning", "greeting", "en"),
        ("你好", "greeting", "zh"),
        ("您好！", "greeting", "zh"),
        ("早上好", "greeting", "zh"),
        ("在吗", "greeting", "zh"),
        ("thanks", "thanks", "en"),
        ("thank you so much!", "thanks", "en"),
        ("谢谢", "thanks", "zh"),
        ("多谢", "thanks", "zh"),
        ("好的谢谢", "thanks", "zh"),
        ("谢谢老师", "thanks", "zh"),
        ("bye", "goodbye", "en"),
        ("see you", "goodbye", "en"),
        ("再见", "goodbye", "zh"),
        ("拜拜", "goodbye", "zh"),
        ("who are you?", "identity", "en"),
        ("are you a robot", "identity", "en"),
        ("你是谁", "identity", "zh"),
        ("你是机器人吗", "identity", "zh"),
    ],
)
def test_small_talk_gets_its_reply_in_the_users_language(
    bot: FAQBot, message: str, kind: str, lang: str
) -> None:
    reply = bot.ask(message)
    assert (reply.kind, reply.lang, reply.text) == ("smalltalk", lang, bot.say(kind, lang))


@pytest.mark.parametrize("message", ["hello", "谢谢", "bye"])
def test_small_talk_is_not_an_faq_answer(bot: FAQBot, message: str) -> None:
    reply = bot.ask(message)
    assert (reply.matched, reply.faq_id) == (False, None)


@pytest.mark.parametrize(
    ("message", "lang"), [("human", "en"), ("customer service", "en"), ("人工", "zh"), ("转人工", "zh")]
)
def test_asking_for_a_person_gives_the_colleges_contacts(bot: FAQBot, message: str, lang: str) -> None:
    reply = bot.ask(message)
    assert (reply.kind, reply.text) == ("human", bot.say("human", lang))


def test_greeting_with_a_question_answers_the_question(bot: FAQBot) -> None:
    assert bot.ask("hello, how much is the tuition?").faq_id == "tuition-fee"


# --- the menu ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "lang"), [("menu", "en"), ("MENU", "en"), ("help", "en"), ("菜单", "zh"), ("帮助", "zh")]
)
def test_menu_lists_the_popular_topics_numbered(bot: FAQBot, brain: Brain, message: str, lang: str) -> None:
    reply = bot.ask(message, session=SESSION)
    entries = brain.corpus.by_id()
    assert reply.kind == "menu"
    assert reply.text.splitlines()[0] == bot.say("help", lang)
    assert numbered_lines(reply.text) == [
        (n, entries[s.id].question[lang]) for n, s in enumerate(reply.suggestions, 1)
    ]


def test_menu_offers_the_topics_of_dialogue_yaml_in_order(bot: FAQBot, brain: Brain) -> None:
    reply = bot.ask("menu", session=SESSION)
    assert [s.id for s in reply.suggestions] == list(brain.dialogue.texts.menu)


@pytest.mark.parametrize(
    ("menu", "number", "lang"), [("menu", "2", "en"), ("菜单", "3", "zh"), ("菜单", "第1个", "zh")]
)
def test_menu_number_answers_that_topic(bot: FAQBot, brain: Brain, menu: str, number: str, lang: str) -> None:
    offered = bot.ask(menu, session=SESSION).suggestions
    reply = bot.ask(number, session=SESSION)
    chosen = offered[int(re.sub(r"\D", "", number)) - 1].id
    assert (reply.kind, reply.faq_id, reply.lang) == ("answer", chosen, lang)
    assert reply.text == brain.corpus.by_id()[chosen].answer[lang]


def test_number_beyond_the_menu_is_not_a_choice(bot: FAQBot) -> None:
    offered = bot.ask("menu", session=SESSION).suggestions
    reply = bot.ask(str(len(offered) + 1), session=SESSION)
    assert not reply.matched


def test_number_without_a_menu_is_not_a_choice(bot: FAQBot) -> None:
    assert not bot.ask("2", session=SESSION).matched


def test_menu_numbers_belong_to_their_session(bot: FAQBot) -> None:
    bot.ask("menu", session=SESSION)
    assert not bot.ask("2", session="someone-else").matched


def test_a_second_menu_number_does_not_get_an_unrelated_answer(bot: FAQBot) -> None:
    offered = bot.ask("menu", session=SESSION).suggestions
    bot.ask("3", session=SESSION)
    reply = bot.ask("5", session=SESSION)
    assert reply.faq_id in {None, offered[4].id}


# --- "did you mean" ----------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_close_call_offers_numbered_suggestions(mini_bot: FAQBot, mini_brain: Brain, lang: str) -> None:
    reply = mini_bot.ask(AMBIGUOUS[lang], session=SESSION)
    entries = mini_brain.corpus.by_id()
    assert (reply.kind, reply.faq_id, {s.id for s in reply.suggestions}) == ("suggest", None, SUGGESTED)
    assert reply.text.splitlines()[0] == mini_bot.say("suggest", lang)
    assert numbered_lines(reply.text) == [
        (n, entries[s.id].question[lang]) for n, s in enumerate(reply.suggestions, 1)
    ]


def test_suggestions_respect_max_suggestions_and_suggest_threshold(mini_bot: FAQBot) -> None:
    settings = mini_bot.config.match
    reply = mini_bot.ask(AMBIGUOUS["en"], session=SESSION)
    assert 1 <= len(reply.suggestions) <= settings.max_suggestions
    assert reply.confidence >= settings.suggest_threshold


@pytest.mark.parametrize("number", [1, 2])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_suggestion_is_answered_by_number(
    mini_bot: FAQBot, mini_brain: Brain, lang: str, number: int
) -> None:
    offered = mini_bot.ask(AMBIGUOUS[lang], session=SESSION).suggestions
    reply = mini_bot.ask(str(number), session=SESSION)
    chosen = offered[number - 1].id
    assert (reply.faq_id, reply.lang, reply.text) == (
        chosen,
        lang,
        mini_brain.corpus.by_id()[chosen].answer[lang],
    )


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_suggestion_is_answered_by_its_text(mini_bot: FAQBot, lang: str) -> None:
    offered = mini_bot.ask(AMBIGUOUS[lang], session=SESSION).suggestions
    reply = mini_bot.ask(offered[1].question, session=SESSION)
    assert (reply.faq_id, reply.lang) == (offered[1].id, lang)


def test_suggestion_number_out_of_range_is_not_a_choice(mini_bot: FAQBot) -> None:
    offered = mini_bot.ask(AMBIGUOUS["en"], session=SESSION).suggestions
    assert not mini_bot.ask(str(len(offered) + 1), session=SESSION).matched


# --- follow-ups in context ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "follow_up", "entry_id", "entity"),
    [
        ("重庆招多少人", "那四川呢？", "province-quota", "sichuan"),
        ("四川招多少人", "那河南呢", "province-quota", "henan"),
        ("how many places for Chongqing", "what about Sichuan?", "province-quota", "sichuan"),
        ("袁家岗校区在哪", "那缙云呢", "campus-address", "jinyun"),
        ("where is the campus", "and Jinyun?", "campus-address", "jinyun"),
        ("what's the phone number", "and the email?", "contact-email", None),
        ("学费多少", "去英国那年呢", "uk-year-fee", None),
        ("how much is the tuition", "and in the UK year?", "uk-year-fee", None),
    ],
)
def test_follow_up_is_read_in_context(
    bot: FAQBot, brain: Brain, first: str, follow_up: str, entry_id: str, entity: str | None
) -> None:
    bot.ask(first, session=SESSION)
    reply = bot.ask(follow_up, session=SESSION)
    assert (reply.kind, reply.faq_id, reply.entity) == ("answer", entry_id, entity)
    assert reply.text == brain.corpus.by_id()[entry_id].answer_for(reply.lang, entity)


@pytest.mark.parametrize(
    ("first", "follow_up", "entry_id"),
    [
        ("can graduates get the Chinese medical licence?", "and a master's afterwards?", "postgraduate"),
        ("what is the Chinese medical licence", "and a master's afterwards?", "postgraduate"),
        ("毕业能考执业医师吗", "那读研呢？", "postgraduate"),
        ("how much is the tuition", "and scholarships?", "scholarships"),
    ],
)
def test_follow_up_with_its_own_topic_leaves_the_previous_one(
    bot: FAQBot, first: str, follow_up: str, entry_id: str
) -> None:
    previous = bot.ask(first, session=SESSION).faq_id
    reply = bot.ask(follow_up, session=SESSION)
    assert (reply.kind, reply.faq_id) == ("answer", entry_id)
    assert reply.faq_id != previous


@pytest.mark.parametrize(
    ("first", "follow_up"),
    [
        ("学费多少", "宿舍呢？"),
        ("how much is the tuition", "and the weather?"),
        ("重庆招多少人", "那食堂呢"),
        ("how is leicester ranked for clinical medicine?", "what about tsinghua's ranking?"),
    ],
)
def test_follow_up_about_something_the_bot_does_not_know_is_not_the_previous_answer(
    bot: FAQBot, first: str, follow_up: str
) -> None:
    previous = bot.ask(first, session=SESSION).faq_id
    reply = bot.ask(follow_up, session=SESSION)
    assert reply.faq_id != previous and not reply.matched


@pytest.mark.parametrize(
    ("first", "follow_up", "entry_id", "entity"),
    [
        ("四川招多少人", "理科呢？", "province-quota", "sichuan"),
        ("重庆招多少人", "那文科呢", "province-quota", "chongqing"),
        ("学费多少", "每年都一样吗？", "tuition-fee", None),
        ("四川招多少人", "学费呢？", "tuition-fee", None),
        ("How many places in Hunan?", "and what's the fee?", "tuition-fee", None),
    ],
)
def test_follow_up_stays_on_the_previous_topic_only_when_it_cannot_stand_alone(
    bot: FAQBot, first: str, follow_up: str, entry_id: str, entity: str | None
) -> None:
    bot.ask(first, session=SESSION)
    reply = bot.ask(follow_up, session=SESSION)
    assert (reply.kind, reply.faq_id, reply.entity) == ("answer", entry_id, entity)


@pytest.mark.parametrize(
    ("first", "follow_up", "entry_id"),
    [
        (
            "How many core teachers have been selected?",
            "how many of them have doctoral degrees?",
            "teaching-staff",
        ),
        ("How many core teachers have been selected?", "and how many studied overseas?", "teaching-staff"),
    ],
)
def test_follow_up_about_a_detail_of_the_last_answer_stays_on_it(
    bot: FAQBot, first: str, follow_up: str, entry_id: str
) -> None:
    """Every telling word of the follow-up is in the answer just given, and it points back or opens as one."""
    assert bot.ask(first, session=SESSION).faq_id == entry_id
    reply = bot.ask(follow_up, session=SESSION)
    assert (reply.kind, reply.faq_id) == ("answer", entry_id)


def test_a_pointer_does_not_outweigh_a_sure_answer_of_its_own(bot: FAQBot) -> None:
    bot.ask("How many core teachers have been selected?", session=SESSION)
    assert bot.ask("how much is the tuition for them?", session=SESSION).faq_id == "tuition-fee"


def test_follow_up_keeps_the_users_language(bot: FAQBot) -> None:
    bot.ask("重庆招多少人", session=SESSION)
    assert bot.ask("那四川呢？", session=SESSION).lang == "zh"


def test_small_talk_between_question_and_follow_up_keeps_the_context(bot: FAQBot) -> None:
    bot.ask("重庆招多少人", session=SESSION)
    bot.ask("谢谢", session=SESSION)
    assert bot.ask("那四川呢？", session=SESSION).entity == "sichuan"


def test_context_belongs_to_its_session(bot: FAQBot) -> None:
    bot.ask("重庆招多少人", session=SESSION)
    elsewhere = bot.ask("那四川呢？", session="someone-else")
    alone = bot.ask("那四川呢？")
    assert (elsewhere.kind, elsewhere.faq_id, elsewhere.entity) == (alone.kind, alone.faq_id, alone.entity)


def test_context_lives_in_storage_not_in_the_bot(
    config: Config, brain: Brain, memory_storage: MemoryStorage
) -> None:
    FAQBot(config, memory_storage, brain=brain).ask("重庆招多少人", session=SESSION)
    reply = FAQBot(config, memory_storage, brain=brain).ask("那四川呢？", session=SESSION)
    assert (reply.faq_id, reply.entity) == ("province-quota", "sichuan")


@pytest.mark.parametrize("wordless", ["👍", "?", "😀😀"])
def test_message_without_words_does_not_repeat_the_last_answer(bot: FAQBot, wordless: str) -> None:
    bot.ask("学费多少", session=SESSION)
    assert not bot.ask(wordless, session=SESSION).matched


def test_message_without_words_keeps_the_sessions_language(bot: FAQBot) -> None:
    bot.ask("宿舍有空调吗", session=SESSION)
    assert bot.ask("😀", session=SESSION).lang == "zh"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_language_hint_decides_for_a_message_without_words(bot: FAQBot, lang: str) -> None:
    assert bot.ask("???", lang=lang).lang == lang


# --- emoticons and messages without words -----------------------------------------------------------


@pytest.mark.parametrize(
    "emoticons", ["[微笑]", "[憨笑]", "[捂脸]", "[微笑][微笑]", "/::)", "/::D", "/:rose", "[Smile]"]
)
def test_emoticons_alone_are_small_talk_answered_with_a_friendly_menu(
    bot: FAQBot, memory_storage: MemoryStorage, emoticons: str
) -> None:
    reply = bot.ask(emoticons, session=SESSION, lang="zh")
    assert (reply.kind, reply.matched, reply.text.splitlines()[0]) == (
        "menu",
        False,
        bot.say("emoticon", "zh"),
    )
    [record] = memory_storage.questions()
    assert record.outcome == "smalltalk"


@pytest.mark.parametrize("wordless", ["。", "？？？", "!!", "……"])
def test_punctuation_alone_gets_the_menu(bot: FAQBot, wordless: str) -> None:
    reply = bot.ask(wordless, session=SESSION, lang="zh")
    assert (reply.kind, reply.text.splitlines()[0]) == ("menu", bot.say("help", "zh"))


@pytest.mark.parametrize(("first", "lang"), [("How much is the tuition fee?", "en"), ("学费多少", "zh")])
@pytest.mark.parametrize("wordless", ["？？？", "[微笑]"])
def test_a_message_without_words_gets_the_menu_in_the_language_of_the_conversation(
    bot: FAQBot, first: str, lang: str, wordless: str
) -> None:
    bot.ask(first, session=SESSION)
    reply = bot.ask(wordless, session=SESSION, lang="zh" if lang == "en" else "en")
    assert (reply.kind, reply.lang) == ("menu", lang)


@pytest.mark.parametrize(
    ("message", "kind", "faq_id"),
    [
        ("谢谢[抱拳]", "smalltalk", None),
        ("[微笑]你好", "smalltalk", None),
        ("学费多少[疑问]", "answer", "tuition-fee"),
    ],
)
def test_emoticons_beside_words_leave_the_words_to_be_read(
    bot: FAQBot, message: str, kind: str, faq_id: str | None
) -> None:
    reply = bot.ask(message, session=SESSION)
    assert (reply.kind, reply.faq_id) == (kind, faq_id)


# --- declines ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "lang"), [("are the dorms air-conditioned", "en"), ("宿舍有空调吗", "zh")]
)
def test_decline_gives_the_phone_and_email_in_the_users_language(
    bot: FAQBot, config: Config, question: str, lang: str
) -> None:
    reply = bot.ask(question)
    assert (reply.kind, reply.lang, reply.text) == ("decline", lang, bot.say("decline", lang))
    assert config.dialogue.contact_phone in reply.text
    assert config.dialogue.contact_email in reply.text


def test_decline_quotes_the_contacts_of_the_config(mini_config: Config) -> None:
    dialogue = replace(
        mini_config.dialogue, contact_phone="023-00000000", contact_email="admissions@example.org"
    )
    config = replace(mini_config, dialogue=dialogue)
    reply = FAQBot(config, MemoryStorage(), brain=build_brain(config)).ask("宿舍在哪")
    assert "023-00000000" in reply.text and "admissions@example.org" in reply.text


# --- the question log --------------------------------------------------------------------------------


def test_declined_question_is_logged_as_declined(bot: FAQBot, memory_storage: MemoryStorage) -> None:
    bot.ask("宿舍有空调吗", session=SESSION, channel="wechat")
    [record] = memory_storage.questions(outcome="declined")
    assert (record.text, record.lang, record.channel, record.faq_id) == ("宿舍有空调吗", "zh", "wechat", None)


def test_logged_user_id_is_a_hash_not_the_raw_id(bot: FAQBot, memory_storage: MemoryStorage) -> None:
    bot.ask("宿舍有空调吗", session=SESSION)
    [record] = memory_storage.questions(outcome="declined")
    assert record.user == bot.hash_user(SESSION)
    assert SESSION not in record.user


def test_user_hash_is_stable_and_distinguishes_users(bot: FAQBot) -> None:
    assert bot.hash_user(SESSION) == bot.hash_user(SESSION)
    assert bot.hash_user(SESSION) != bot.hash_user("wx-openid-0002")


def test_user_hash_depends_on_the_configured_salt(config: Config, brain: Brain) -> None:
    salted = replace(config, dialogue=replace(config.dialogue, user_hash_salt="another-salt"))
    assert FAQBot(salted, MemoryStorage(), brain=brain).hash_user(SESSION) != FAQBot(
        config, MemoryStorage(), brain=brain
    ).hash_user(SESSION)


@pytest.mark.parametrize(
    ("message", "outcome", "faq_id"),
    [
        ("学费多少", "answered", "tuition-fee"),
        ("hello", "smalltalk", None),
        ("Chongqing weather", "declined", None),
    ],
)
def test_every_message_is_logged_with_its_outcome(
    bot: FAQBot, memory_storage: MemoryStorage, message: str, outcome: str, faq_id: str | None
) -> None:
    bot.ask(message, session=SESSION)
    [record] = memory_storage.questions()
    assert (record.outcome, record.faq_id) == (outcome, faq_id)


def test_suggestion_is_logged_as_suggested_with_its_best_guess(mini_bot: FAQBot) -> None:
    reply = mini_bot.ask(AMBIGUOUS["en"], session=SESSION)
    [record] = mini_bot.storage.questions()
    assert (record.outcome, record.best_id) == ("suggested", reply.suggestions[0].id)


def test_logged_question_is_cut_to_the_configured_length(bot: FAQBot, memory_storage: MemoryStorage) -> None:
    limit = bot.config.server.max_question_chars
    bot.ask("宿舍" * limit, session=SESSION)
    [record] = memory_storage.questions()
    assert len(record.text) == limit


# --- long answers ------------------------------------------------------------------------------------

MAX_BYTES = 240


def _long_entry(brain: Brain, lang: str) -> tuple[str, str]:
    """(canonical question, answer) of the entry with the longest answer in the language."""
    entry = max(brain.corpus.entries, key=lambda e: utf8_len(e.answer[lang]))
    return entry.question[lang], entry.answer[lang]


def _read_all(bot: FAQBot, question: str, more: str) -> list[str]:
    """Every part of a paginated answer: the first reply, then "more" until the bot says it has finished."""
    parts = [bot.ask(question, session=SESSION, max_bytes=MAX_BYTES).text]
    for _ in range(50):
        reply = bot.ask(more, session=SESSION, max_bytes=MAX_BYTES)
        parts.append(reply.text)
        if not reply.continued:
            break
    return parts


@pytest.mark.parametrize(("lang", "more"), [("en", "more"), ("zh", "继续")])
def test_long_answer_is_cut_to_max_bytes_with_a_hint(bot: FAQBot, brain: Brain, lang: str, more: str) -> None:
    question, _ = _long_entry(brain, lang)
    reply = bot.ask(question, session=SESSION, max_bytes=MAX_BYTES)
    assert (reply.continued, utf8_len(reply.text) <= MAX_BYTES) == (True, True)
    assert reply.text.endswith(bot.say("more_hint", lang))


@pytest.mark.parametrize(("lang", "more"), [("en", "more"), ("zh", "继续")])
def test_more_returns_the_rest_of_the_answer(bot: FAQBot, brain: Brain, lang: str, more: str) -> None:
    question, answer = _long_entry(brain, lang)
    parts = _read_all(bot, question, more)
    hint = bot.say("more_hint", lang)
    assert all(part.endswith(hint) for part in parts[:-1])
    text = "".join(part.removesuffix(hint) for part in parts)
    assert re.sub(r"\s", "", text) == re.sub(r"\s", "", answer)


@pytest.mark.parametrize(("lang", "more"), [("en", "more"), ("zh", "继续")])
def test_every_part_fits_max_bytes(bot: FAQBot, brain: Brain, lang: str, more: str) -> None:
    question, _ = _long_entry(brain, lang)
    assert all(utf8_len(part) <= MAX_BYTES for part in _read_all(bot, question, more))


@pytest.mark.parametrize(("lang", "more"), [("en", "more"), ("zh", "继续")])
def test_more_after_the_last_part_says_there_is_nothing_more(
    bot: FAQBot, brain: Brain, lang: str, more: str
) -> None:
    question, _ = _long_entry(brain, lang)
    _read_all(bot, question, more)
    reply = bot.ask(more, session=SESSION, max_bytes=MAX_BYTES)
    assert (reply.kind, reply.text) == ("more", bot.say("nothing_more", lang))


def test_short_answer_is_not_cut(bot: FAQBot, brain: Brain) -> None:
    reply = bot.ask("邮箱多少", session=SESSION, max_bytes=MAX_BYTES)
    assert (reply.continued, reply.text) == (False, brain.corpus.by_id()["contact-email"].answer["zh"])


def test_without_max_bytes_the_whole_answer_comes_at_once(bot: FAQBot, brain: Brain) -> None:
    question, answer = _long_entry(brain, "en")
    reply = bot.ask(question, session=SESSION)
    assert (reply.continued, reply.text) == (False, answer)


# --- several questions in one message ----------------------------------------------------------------

SEVERAL = [
    ("招多少人？学制几年？", "zh", ["admissions-quota", "duration"]),
    ("学费多少，另外有口试吗", "zh", ["tuition-fee", "oral-exam"]),
    ("学费多少，学制几年", "zh", ["tuition-fee", "duration"]),
    ("学费、学制、招多少人", "zh", ["tuition-fee", "duration", "admissions-quota"]),
    ("1. 学费多少 2. 学制几年 3. 有口试吗", "zh", ["tuition-fee", "duration", "oral-exam"]),
    ("①学费多少②学制几年", "zh", ["tuition-fee", "duration"]),
    ("What's the fee, and is there an oral test?", "en", ["tuition-fee", "oral-exam"]),
    ("How much is the fee? How long is the programme?", "en", ["tuition-fee", "duration"]),
    ("What is the fee? Also, how long is the programme?", "en", ["tuition-fee", "duration"]),
    ("fees, duration and intake?", "en", ["tuition-fee", "duration", "admissions-quota"]),
    ("1) tuition fee 2) duration 3) oral test", "en", ["tuition-fee", "duration", "oral-exam"]),
]


@pytest.mark.parametrize(("message", "lang", "entry_ids"), SEVERAL)
def test_every_question_of_a_message_is_answered_in_order(
    bot: FAQBot, brain: Brain, message: str, lang: str, entry_ids: list[str]
) -> None:
    reply = bot.ask(message, session=SESSION)
    entries = brain.corpus.by_id()
    assert (reply.kind, reply.lang, [p.faq_id for p in reply.parts]) == ("answer", lang, entry_ids)
    places = [reply.text.index(entries[i].answer[lang]) for i in entry_ids]
    assert places == sorted(places)


@pytest.mark.parametrize(("message", "lang", "entry_ids"), SEVERAL[:2])
def test_each_answer_is_headed_by_the_question_it_answers(
    bot: FAQBot, brain: Brain, message: str, lang: str, entry_ids: list[str]
) -> None:
    reply = bot.ask(message, session=SESSION)
    entries = brain.corpus.by_id()
    for entry_id in entry_ids:
        heading = brain.dialogue.texts.say("part_heading", lang, question=entries[entry_id].question[lang])
        assert f"{heading}\n{entries[entry_id].answer[lang]}" in reply.text


@pytest.mark.parametrize(
    ("message", "lang", "answered", "unanswered"),
    [
        ("学费多少？宿舍有空调吗？", "zh", "tuition-fee", "宿舍有空调吗？"),
        ("How much is the fee? Is there a swimming pool?", "en", "tuition-fee", "Is there a swimming pool?"),
    ],
)
def test_a_question_the_bot_cannot_answer_is_named_with_the_decline(
    bot: FAQBot, brain: Brain, config: Config, message: str, lang: str, answered: str, unanswered: str
) -> None:
    reply = bot.ask(message, session=SESSION)
    assert [(p.kind, p.faq_id) for p in reply.parts] == [("answer", answered), ("decline", None)]
    assert (reply.kind, reply.faq_id, reply.matched) == ("answer", answered, True)
    assert brain.corpus.by_id()[answered].answer[lang] in reply.text
    assert f"{unanswered}\n{bot.say('part_decline', lang)}" in reply.text
    assert reply.text.count(config.dialogue.contact_phone) == 1
    assert reply.text.count(config.dialogue.contact_email) == 1


def test_contacts_are_given_once_however_many_questions_go_unanswered(bot: FAQBot, config: Config) -> None:
    reply = bot.ask("学费多少？宿舍有空调吗？食堂好吃吗？", session=SESSION)
    assert [p.kind for p in reply.parts] == ["answer", "decline", "decline"]
    assert reply.text.count(config.dialogue.contact_phone) == 1


@pytest.mark.parametrize(
    ("message", "entry_id", "entity"),
    [
        ("Is the degree recognised in China and the UK?", "degree-recognition", None),
        ("重庆和四川各招多少", "province-quota", "chongqing+sichuan"),
        ("重庆、四川、河南各招多少人", "province-quota", "chongqing+sichuan+henan"),
        ("学费多少？一年学费多少钱？", "tuition-fee", None),
    ],
)
def test_one_question_in_many_words_gets_one_answer(
    bot: FAQBot, brain: Brain, message: str, entry_id: str, entity: str | None
) -> None:
    reply = bot.ask(message, session=SESSION)
    assert (reply.kind, reply.faq_id, reply.entity, reply.parts) == ("answer", entry_id, entity, ())
    assert reply.text == brain.corpus.by_id()[entry_id].answer_for(
        "zh" if "重庆" in message else reply.lang, entity
    )


@pytest.mark.parametrize(
    ("message", "entry_ids"),
    [
        ("学费和奖学金", ["tuition-fee", "scholarships"]),
        ("学费和学制", ["tuition-fee", "duration"]),
        ("tuition and duration?", ["tuition-fee", "duration"]),
        ("What are the fees and scholarships?", ["tuition-fee", "scholarships"]),
    ],
)
def test_two_topics_joined_by_and_get_both_answers(bot: FAQBot, message: str, entry_ids: list[str]) -> None:
    assert [p.faq_id for p in bot.ask(message, session=SESSION).parts] == entry_ids


@pytest.mark.parametrize(
    "message",
    [
        "毕业证和普通临床一样吗",
        "理工类和文史类各招多少",
        "Are Chongqing and Leicester sister cities?",
        "why did CQMU and Leicester set this up",
        "学费及住宿费多少",
    ],
)
def test_and_inside_one_question_keeps_it_one(bot: FAQBot, message: str) -> None:
    assert bot.ask(message, session=SESSION).parts == ()


@pytest.mark.parametrize(
    ("question", "entry_id"), [("学费多少", "tuition-fee"), ("How long is the programme?", "duration")]
)
def test_a_message_with_one_question_gets_the_plain_answer(
    bot: FAQBot, brain: Brain, question: str, entry_id: str
) -> None:
    reply = bot.ask(question, session=SESSION)
    assert (reply.faq_id, reply.parts, reply.text) == (
        entry_id,
        (),
        brain.corpus.by_id()[entry_id].answer[reply.lang],
    )


@pytest.mark.parametrize(
    "message", ["学费多少？还有呢？", "How much is the fee? What else?", "学费多少？谢谢！"]
)
def test_a_piece_with_nothing_to_answer_is_not_a_question(bot: FAQBot, message: str) -> None:
    reply = bot.ask(message, session=SESSION)
    assert (reply.faq_id, reply.parts) == ("tuition-fee", ())


def test_emoticons_between_questions_are_left_out(bot: FAQBot) -> None:
    reply = bot.ask("学费多少？[微笑]学制几年？[抱拳]", session=SESSION)
    assert [p.question for p in reply.parts] == ["学费多少？", "学制几年？"]


def test_a_place_named_in_one_question_qualifies_the_next(bot: FAQBot) -> None:
    reply = bot.ask("河南考生能报吗，招几个", session=SESSION)
    assert (reply.faq_id, reply.entity, reply.parts) == ("province-quota", "henan", ())


def test_suggestions_that_offer_an_entry_already_answered_are_left_out(bot: FAQBot) -> None:
    reply = bot.ask("毕业能考执业医师吗？会不会因为是合作办学受影响？", session=SESSION)
    assert (reply.faq_id, reply.suggestions) == ("medical-licence", ())


def test_questions_at_the_end_of_a_long_letter_are_each_answered(bot: FAQBot) -> None:
    letter = (
        "老师您好。我是一名高三学生的家长。孩子成绩还不错。她一直想学医。我们看了很多学校。"
        "朋友推荐了这个项目。学费多少？学制几年？"
    )
    assert [p.faq_id for p in bot.ask(letter, session=SESSION).parts] == ["tuition-fee", "duration"]


def test_a_place_named_in_the_message_qualifies_its_questions(bot: FAQBot) -> None:
    reply = bot.ask("我是河南的。招多少人？学费多少？", session=SESSION)
    assert [(p.faq_id, p.entity) for p in reply.parts] == [("province-quota", "henan"), ("tuition-fee", None)]


def test_suggestions_among_several_answers_are_chosen_by_number(bot: FAQBot, brain: Brain) -> None:
    reply = bot.ask("学费多少？英语？", session=SESSION)
    assert [p.kind for p in reply.parts] == ["answer", "suggest"]
    assert numbered_lines(reply.text) == [(n, s.question) for n, s in enumerate(reply.suggestions, 1)]
    chosen = bot.ask("2", session=SESSION)
    assert chosen.faq_id == reply.suggestions[1].id


def test_a_follow_up_after_several_answers_reads_the_last_one(bot: FAQBot) -> None:
    bot.ask("学费多少？重庆招多少人？", session=SESSION)
    reply = bot.ask("那四川呢？", session=SESSION)
    assert (reply.faq_id, reply.entity) == ("province-quota", "sichuan")


def test_each_question_of_a_message_is_logged_with_its_outcome(
    bot: FAQBot, memory_storage: MemoryStorage
) -> None:
    bot.ask("学费多少？宿舍有空调吗？学制几年？", session=SESSION, channel="wechat")
    records = memory_storage.questions()
    assert [(r.text, r.outcome, r.faq_id) for r in records] == [
        ("学费多少？", "answered", "tuition-fee"),
        ("宿舍有空调吗？", "declined", None),
        ("学制几年？", "answered", "duration"),
    ]
    assert {(r.user, r.channel, r.lang) for r in records} == {(bot.hash_user(SESSION), "wechat", "zh")}


WECHAT_BYTES = 2047
FOUR_QUESTIONS = (
    "What is the tuition fee? What is the English requirement? How long is the programme? How do I apply?"
)


def _read_every_page(bot: FAQBot, message: str, more: str, max_bytes: int) -> list[str]:
    pages = [bot.ask(message, session=SESSION, max_bytes=max_bytes)]
    for _ in range(20):
        if not pages[-1].continued:
            break
        pages.append(bot.ask(more, session=SESSION, max_bytes=max_bytes))
    return [page.text for page in pages]


def test_several_answers_longer_than_a_wechat_message_continue_on_more(bot: FAQBot, brain: Brain) -> None:
    whole = bot.ask(FOUR_QUESTIONS).text
    pages = _read_every_page(bot, FOUR_QUESTIONS, "more", WECHAT_BYTES)
    hint = bot.say("more_hint", "en")
    assert utf8_len(whole) > WECHAT_BYTES and len(pages) >= 2
    assert all(utf8_len(page) <= WECHAT_BYTES for page in pages)
    assert all(page.endswith(hint) for page in pages[:-1]) and not pages[-1].endswith(hint)
    assert re.sub(r"\s", "", "".join(p.removesuffix(hint) for p in pages)) == re.sub(r"\s", "", whole)


@pytest.mark.parametrize(
    ("message", "more"),
    [(FOUR_QUESTIONS, "more"), ("学费多少？英语要求是什么？学制几年？怎么报考？", "继续")],
)
def test_pages_of_several_answers_break_between_answers(
    bot: FAQBot, brain: Brain, message: str, more: str
) -> None:
    lang = "zh" if more == "继续" else "en"
    reply = bot.ask(message)
    pages = _read_every_page(bot, message, more, 900)
    for part in reply.parts:
        answer = brain.corpus.by_id()[part.faq_id or ""].answer[lang]
        assert any(answer in page for page in pages)


def test_a_follow_up_asking_an_amount_its_answer_never_states_is_declined(bot: FAQBot) -> None:
    """Read with the last topic (a transfer), the scholarships still name no amounts: no context makes one."""
    bot.ask("入学后能转专业吗", session="amount")
    assert bot.ask("那奖学金每个能拿多少钱", session="amount").kind == "decline"


def test_at_a_place_too_asks_the_last_question_of_that_place(bot: FAQBot) -> None:
    """After the fee, "at Leicester too?" asks the fee at Leicester: the year-at-Leicester fee."""
    bot.ask("what's the fee?", session="too")
    reply = bot.ask("at Leicester too?", session="too")
    assert (reply.kind, reply.faq_id) == ("answer", "uk-year-fee")


def test_a_follow_up_whose_best_reading_is_the_last_topic_stays_on_it(bot: FAQBot) -> None:
    """ "去的话待多久" after whether all go to the UK: the UK year is its best reading, though below the threshold."""
    bot.ask("一定会去英国吗", session="stay")
    reply = bot.ask("去的话待多久", session="stay")
    assert (reply.kind, reply.faq_id) == ("answer", "study-in-uk")
