"""The replies remembered for a conversation's first message (engine.FirstReplies): same answers, less work."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import Config
from bot.dialogue import Conversation
from bot.engine import Brain, FAQBot
from bot.storage import MemoryStorage


def counting_respond(monkeypatch: pytest.MonkeyPatch, brain: Brain) -> list[str]:
    """Record every text the dialogue works out (the brain is shared: monkeypatch undoes this)."""
    seen: list[str] = []
    respond = brain.dialogue.respond

    def counted(text: str, convo: Conversation, **kwargs: object) -> object:
        seen.append(text)
        return respond(text, convo, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(brain.dialogue, "respond", counted)
    return seen


def test_a_first_question_asked_again_is_answered_from_memory(
    bot: FAQBot, brain: Brain, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = counting_respond(monkeypatch, brain)
    first = bot.ask("学费多少", session="family-1", channel="wechat", lang="zh", max_bytes=2047)
    again = bot.ask("学费多少", session="family-2", channel="wechat", lang="zh", max_bytes=2047)
    anonymous = bot.ask("学费多少", channel="wechat", lang="zh", max_bytes=2047)
    assert seen == ["学费多少"]
    assert first == again == anonymous and first.faq_id == "tuition-fee"
    # Each session still keeps the conversation the reply leaves, so a follow-up works for both.
    assert bot.ask("每年都一样吗？", session="family-2", channel="wechat").faq_id == "tuition-fee"


def test_the_language_hint_and_byte_limit_are_part_of_what_is_remembered(
    bot: FAQBot, brain: Brain, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = counting_respond(monkeypatch, brain)
    bot.ask("。", lang="zh")
    bot.ask("。", lang="en")
    bot.ask("学费多少", max_bytes=2047)
    bot.ask("学费多少")
    assert seen == ["。", "。", "学费多少", "学费多少"]


def test_a_follow_up_in_context_gets_its_context_dependent_answer(
    bot: FAQBot, brain: Brain, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = bot.ask("那四川呢？", session="newcomer")  # remembered as a first message
    seen = counting_respond(monkeypatch, brain)
    bot.ask("重庆招多少人", session="family")
    follow_up = bot.ask("那四川呢？", session="family")
    assert seen == ["重庆招多少人", "那四川呢？"]  # the follow-up was read with its conversation
    assert (follow_up.faq_id, follow_up.entity) == ("province-quota", "sichuan")
    assert "30" in follow_up.text
    assert bot.ask("那四川呢？", session="another newcomer") == alone


def test_a_menu_number_after_a_remembered_first_reply_picks_from_that_menu(bot: FAQBot) -> None:
    menu = bot.ask("菜单", session="one")
    assert menu.kind == "menu" and bot.ask("菜单", session="two") == menu
    chosen = bot.ask("1", session="two")
    assert chosen.kind == "answer" and chosen.faq_id == menu.suggestions[0].id


def test_the_remembered_conversation_is_copied_to_each_session(bot: FAQBot, brain: Brain) -> None:
    """A long answer paged for a small limit leaves pages to come; one session reading them must not use up
    another's."""
    long_entry = max(brain.corpus.entries, key=lambda entry: len(entry.answer["zh"]))
    question = long_entry.question["zh"]
    first = bot.ask(question, session="reader", lang="zh", max_bytes=120)
    assert first.continued
    pages = []
    while True:
        page = bot.ask("更多", session="reader", lang="zh", max_bytes=120)
        if page.kind != "more" or not page.continued:
            pages.append(page.text)
            break
        pages.append(page.text)
    assert bot.ask(question, session="second reader", lang="zh", max_bytes=120) == first
    assert bot.ask("更多", session="second reader", lang="zh", max_bytes=120).text == pages[0]


def test_a_reload_forgets_the_remembered_replies(mini_config: Config, tmp_corpus: Path) -> None:
    bot = FAQBot(replace(mini_config, corpus_dir=tmp_corpus), MemoryStorage())
    before = bot.ask("phone number", session="one").text
    assert before == "Call 023-68480331."
    entries = tmp_corpus / "entries.yaml"
    text = entries.read_text(encoding="utf-8")
    entries.write_text(
        text.replace("Call 023-68480331.", "Call the college on 023-68480331."), encoding="utf-8"
    )
    ok, _ = bot.reload()
    assert ok
    assert bot.ask("phone number", session="two").text == "Call the college on 023-68480331."
    assert bot.ask("phone number").text == "Call the college on 023-68480331."


def test_replies_are_remembered_for_the_brain_being_served(
    mini_config: Config, mini_brain: Brain, brain: Brain
) -> None:
    """A bot whose brain is replaced other than through reload() (tests, the console) does not serve replies
    remembered for the previous one."""
    bot = FAQBot(mini_config, MemoryStorage(), brain=mini_brain)
    mini_reply = bot.ask("phone number")
    bot._brain = brain
    assert bot.ask("phone number") == FAQBot(mini_config, MemoryStorage(), brain=brain).ask("phone number")
    assert mini_reply.faq_id == "contact-phone"


def test_the_memory_is_bounded(bot: FAQBot, brain: Brain, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot._first_replies, "size", 2)
    for text in ("学费多少", "重庆招多少人", "how much is the tuition"):
        bot.ask(text)
    assert len(bot._first_replies) == 2
    seen = counting_respond(monkeypatch, brain)
    bot.ask("学费多少")  # the oldest went first
    bot.ask("how much is the tuition")
    assert seen == ["学费多少"]
