"""The JSON shape of a reply, as the HTTP API sends it and `python -m bot ask --json` prints it."""

from __future__ import annotations


def reply_as_dict(reply) -> dict:
    """The JSON shape shared with the HTTP API."""
    return {
        "answer": reply.text,
        "matched": reply.matched,
        "faq_id": reply.faq_id,
        "score": reply.confidence,
        "lang": reply.lang,
        "suggestions": [{"id": s.id, "question": s.question} for s in reply.suggestions],
        "parts": [{"faq_id": p.faq_id, "matched": p.matched, "score": p.confidence} for p in reply.asked()],
    }
