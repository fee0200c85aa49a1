"""The WeChat channel: from an authenticated delivery to a passive reply, once per message despite retries."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from bot.config import WeChatConfig
from bot.dialogue import Conversation
from bot.engine import FAQBot
from bot.storage import ClaimTaken, StorageError, Writes
from bot.wechat import (
    IncomingMessage,
    ReplayedRequest,
    WeChatError,
    WeChatSettings,
    open_request,
    render_text,
    render_transfer,
    seal_reply,
    verify_server,
)

log = logging.getLogger("faqbot.wechat")

XML = "application/xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
SUCCESS = "success"
MAX_REPLY_BYTES = 2047
ANSWERED_TYPES = frozenset({"text", "voice"})
"""Messages answered from their sender's conversation, which is read together with a retry's stored reply."""
UNSUPPORTED_TYPES = frozenset({"image", "video", "shortvideo", "location", "link", "file", "music", "news"})


def _status_of(error: WeChatError) -> int:
    return error.status_code


class WeChatChannel:
    """Speaks the Official Account protocol on top of FAQBot; no HTTP framework in here."""

    def __init__(self, bot: FAQBot, config: WeChatConfig, clock: Callable[[], float] = time.time) -> None:
        self.bot = bot
        self.config = config
        self.clock = clock
        self.settings = (
            WeChatSettings(
                token=config.token,
                aes_key=config.aes_key or None,
                app_id=config.app_id or None,
                max_clock_skew=config.max_clock_skew,
                max_body_bytes=config.max_body_bytes,
                mode=config.mode,
            )
            if config.token
            else None
        )

    def verify(self, params: Mapping[str, str]) -> tuple[int, str]:
        """Server verification (GET): the echostr back when the signature is good."""
        if self.settings is None:
            return 404, "WeChat is not configured (set FAQBOT_WECHAT_TOKEN)"
        try:
            return 200, verify_server(self.settings, params, self.clock())
        except WeChatError as exc:
            return _status_of(exc), _reason(exc)

    def handle(self, params: Mapping[str, str], body: bytes) -> tuple[int, str, str]:
        """(status, body, content type) for one delivery."""
        if self.settings is None:
            return 404, "WeChat is not configured (set FAQBOT_WECHAT_TOKEN)", TEXT
        try:
            message, encrypted = open_request(self.settings, params, body, self.clock())
            reply_xml = self._reply_once(message, params)
        except WeChatError as exc:
            log.warning("refused a WeChat delivery: %s", type(exc).__name__)
            return _status_of(exc), _reason(exc), TEXT
        if reply_xml == SUCCESS:
            return 200, SUCCESS, TEXT
        if encrypted:
            reply_xml = seal_reply(self.settings, reply_xml, self.clock())
        return 200, reply_xml, XML

    def _claim(self, params: Mapping[str, str], message: IncomingMessage, writes: Writes) -> None:
        """Claim the request's (timestamp, nonce) for this message, in the same write as its reply.

        In plain mode the signature covers only the timestamp and nonce, not the body: whoever sees a signed
        query string could send any message under it. The pair is claimed in shared storage, so every worker
        and server agrees, and a pair already claimed for another message is refused (ReplayedRequest) with
        nothing kept; WeChat's own retries of the same message carry the same message and pass.
        """
        claim = f"nonce:{params.get('timestamp')}:{params.get('nonce')}"
        writes.with_claim(
            claim, f"{message.from_user}|{message.dedupe_key}", 2 * self.config.max_clock_skew + 1
        )

    def _reply_once(self, message: IncomingMessage, params: Mapping[str, str]) -> str:
        """The reply for a delivery; WeChat's retries of it get the same reply and are not counted again.

        The reply is kept with the request's claim, the conversation and the question log in one transaction;
        when the message was answered before (this is a retry) or a retry of it was answered first, that reply
        stands and this one's changes are dropped. The stored reply is looked up first, so that a retry is
        neither answered nor counted toward the rate limit again; a first delivery costs that read and one
        transaction. A text or voice message reads its sender's conversation in that same read.
        """
        key = "wx:" + message.dedupe_key
        convo: Conversation | None = None
        try:
            if message.msg_type in ANSWERED_TYPES:
                session_key = self.bot.session_key(message.from_user, "wechat")
                earlier, state = self.bot.storage.load_reply_and_session(key, session_key)
                convo = Conversation.from_state(state)
            else:
                earlier = self.bot.storage.load_reply(key)
        except StorageError as exc:
            self.bot.storage_failed(exc, "retries not recognised before answering")
            earlier = None
        if earlier is not None:
            self.bot.observer.retry_answered()
            return earlier  # a retry: answered before, and not counted again toward the rate limit
        writes = Writes()
        self._claim(params, message, writes)
        reply_xml = self._reply_to(message, writes, convo)
        try:
            kept = self.bot.storage.deliver(key, reply_xml, self.bot.config.dialogue.dedupe_ttl, writes)
        except ClaimTaken as exc:
            raise ReplayedRequest("timestamp and nonce already used by another delivery") from exc
        except StorageError as exc:
            self.bot.observer.storage_error(exc)
            self.bot.storage_failed(exc, "reply, conversation and question log not kept")
            return reply_xml
        if kept is not reply_xml:  # deliver returns this very reply when it kept it, else the stored one
            self.bot.observer.retry_answered()
        else:
            for question in writes.questions:
                self.bot.observer.question(question)
        return kept

    def _reply_to(self, message: IncomingMessage, writes: Writes, convo: Conversation | None = None) -> str:
        """Reply XML (or "success") for one message, by its type; what it changes is added to writes.

        convo is the sender's conversation when it was read with the stored reply (else it is read here).
        """
        now = self.clock()
        user = message.from_user
        try:
            if message.msg_type == "text" and (message.content or "").strip():
                return self._answer(message, message.content or "", writes, convo)
            if message.msg_type == "voice":
                if (message.recognition or "").strip():
                    return self._answer(message, message.recognition or "", writes, convo)
                return render_text(message, self.bot.say("voice_unrecognised", self._lang(user, convo)), now)
            if message.msg_type == "event":
                return self._event(message, writes)
            if message.msg_type in UNSUPPORTED_TYPES:
                return render_text(message, self.bot.say("unsupported", self._lang(user)), now)
            return SUCCESS
        except Exception:
            log.exception("could not answer a WeChat %s message", message.msg_type)
            return render_text(message, self.bot.say("error", self._lang(user)), now)

    def _answer(
        self, message: IncomingMessage, text: str, writes: Writes, convo: Conversation | None = None
    ) -> str:
        if self.bot.over_rate_limit(message.from_user, "wechat"):
            return render_text(
                message, self.bot.say("rate_limited", self._lang(message.from_user, convo)), self.clock()
            )
        reply = self.bot.ask(
            text[: self.bot.config.server.max_question_chars],
            session=message.from_user,
            channel="wechat",
            lang="zh",  # for a first message without words ("。", "[微笑]"): WeChat's families write Chinese
            max_bytes=MAX_REPLY_BYTES,
            writes=writes,
            convo=convo,
        )
        if reply.kind == "human" and self.config.transfer_to_human:
            return render_transfer(message, self.clock())
        return render_text(message, reply.text, self.clock())

    def _event(self, message: IncomingMessage, writes: Writes) -> str:
        event = message.event or ""
        if event == "subscribe":
            menu = self.bot.menu(message.from_user, "zh", intro="welcome", writes=writes, channel="wechat")
            return render_text(message, menu.text, self.clock())
        if event == "CLICK":
            entry_id = self.config.menu_keys.get(message.event_key or "")
            if entry_id:
                reply = self.bot.answer_entry(
                    entry_id, message.from_user, self._lang(message.from_user), "wechat", writes
                )
                if reply is not None:
                    return render_text(message, reply.text, self.clock())
            return SUCCESS
        return SUCCESS  # unsubscribe, VIEW, SCAN, LOCATION and unknown events need no reply

    def _lang(self, user: str, convo: Conversation | None = None) -> str:
        """The language the user last wrote in (from convo when it was read already), else Chinese."""
        if convo is not None:
            return convo.lang or "zh"
        return self.bot.session_language(user, "wechat") or "zh"


def _reason(error: WeChatError) -> str:
    """A short public reason: which check failed, never the secret material behind it."""
    return {403: "forbidden", 413: "request body too large"}.get(_status_of(error), "bad request")
