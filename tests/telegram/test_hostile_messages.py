"""Generated hostile messages through the real Application and the fake Bot API: no
unhandled error, a reply real Telegram accepts, and every question logged exactly once."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.storage.models import QuestionLog
from bot.telegram import texts

SINHALA = st.characters(min_codepoint=0x0D80, max_codepoint=0x0DFF)
INVISIBLE = st.sampled_from(["\u200d", "\u200c", "\u200b", "\ufeff", "\u00ad", "\u2060"])
CONTROL = st.characters(max_codepoint=0x1F) | st.just("\x7f")
BIDI = st.sampled_from(["\u202e", "\u202d", "\u2066", "\u2067", "\u2069", "\u200f"])
EMOJI = st.sampled_from(["🙏", "👍", "🌾", "😀", "🇱🇰", "👨‍🌾", "1️⃣", "❤️"])
SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
ANY = st.characters(codec="utf-8") | SURROGATE


def floods(piece: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(lambda p, n: p * n, piece, st.integers(200, 5000))


def repeated(piece: str, times: int) -> str:
    return (piece * times)[:5000]


HOSTILE = st.one_of(
    floods(INVISIBLE | CONTROL | st.just(" ") | st.just("?")),
    st.text(INVISIBLE | CONTROL | BIDI | SINHALA, min_size=1, max_size=300),
    st.lists(EMOJI, min_size=1, max_size=50).map("".join),
    st.lists(
        SINHALA | st.characters(codec="ascii") | EMOJI | SURROGATE, min_size=1, max_size=400
    ).map("".join),
    st.builds(repeated, st.text(ANY, min_size=1, max_size=20), st.integers(1, 800)),
    st.builds(
        lambda a, b: a + b, st.sampled_from(["වී බීජ පොඟවන්නේ කොපමණ කාලයක්ද?", "yuriya"]), floods(BIDI)
    ),
).filter(lambda text: text.strip() != "" and not text.startswith("/"))

_chats = itertools.count(50_000)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=HOSTILE)
async def test_a_hostile_message_gets_one_acceptable_reply_and_is_logged_once(bot, text):
    chat_id = next(_chats)
    update = bot.fake.push_text(chat_id, text)
    replies = await bot.fake.wait_for_messages(chat_id, 1, timeout=30)
    assert not bot.fake.rejected, [call.method for call in bot.fake.rejected]
    assert all(reply["text"] != texts.SOMETHING_WENT_WRONG for reply in replies)
    message_id = update["message"]["message_id"]
    with bot.services.session_factory() as session:
        logged = session.scalars(select(QuestionLog).where(QuestionLog.chat_id == chat_id)).all()
    journaled = [r for r in bot.services.journal.pending() if r.chat_id == chat_id]
    assert [row.message_id for row in logged] + [r.message_id for r in journaled] == [message_id]
