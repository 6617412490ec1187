from __future__ import annotations

import pytest

from bot.errors import QueueItemNotFound
from bot.retrieval.decision import Decision
from bot.service.answering import Question
from bot.storage import bank
from bot.storage.models import QueueStatus, UnansweredQuestion


@pytest.fixture
def scoring(real_scoring):
    """These tests ask paraphrases of bank questions: the real model's judgement."""
    return real_scoring


OFF_BANK = "කුඹුරේ මීයන් වැඩිවෙලා, මොකද කරන්නේ?"
RAT_ANSWER = "අසල්වැසි ගොවීන් සමඟ එක්ව, වගාවට පෙර සිට සති 3 ක් යනතුරු මී පාලනය කරන්න."


def declined(services, text: str = OFF_BANK, chat_id: int = 77):
    reply = services.answerer.answer(Question(text, chat_id=chat_id, message_id=501))
    assert reply.decision is Decision.DECLINE, reply.candidates[:1]
    return reply


def test_officer_answer_becomes_a_pair_answered_at_once(services):
    reply = declined(services)
    note = services.reviewer.answer(reply.queue_id, RAT_ANSWER, admin_id=1)
    assert (note.chat_id, note.question, note.answer) == (77, OFF_BANK, RAT_ANSWER)
    assert note.reply_to_message_id == 501
    again = services.answerer.answer(Question("කුඹුරේ මීයන් වැඩි වෙලා මොකද කරන්නේ"))
    assert again.decision is Decision.ANSWER
    assert again.answer.answer == RAT_ANSWER
    with services.session_factory() as session:
        item = session.get(UnansweredQuestion, reply.queue_id)
        assert (item.status, item.resolved_by, item.pair_id) == ("answered", 1, note.pair_id)


def test_link_adds_the_farmers_wording_to_an_existing_pair(services):
    reply = declined(services)
    with services.session_factory() as session:
        target = bank.find_pair_by_question(session, "දුඹුරු පැළ කීඩෑවා පාලනය කරන්නේ කොහොමද?")
    note = services.reviewer.link(reply.queue_id, target.id, admin_id=2)
    assert note.answer == target.answer
    assert OFF_BANK in services.bank.get(target.id).alternates
    assert services.answerer.answer(Question(OFF_BANK)).answer.pair_id == target.id


def test_dismissed_and_resolved_items_cannot_be_worked_twice(services):
    reply = declined(services)
    services.reviewer.dismiss(reply.queue_id, admin_id=1)
    assert services.reviewer.open_items()[1] == 0
    with pytest.raises(QueueItemNotFound, match="dismissed"):
        services.reviewer.answer(reply.queue_id, RAT_ANSWER, admin_id=1)
    with pytest.raises(QueueItemNotFound):
        services.reviewer.link(99999, 1, admin_id=1)


def test_open_items_page_oldest_first(services):
    first = declined(services, OFF_BANK)
    second = declined(services, "ලංකාවේ ක්‍රිකට් කණ්ඩායමේ නායකයා කවුද?")
    items, total = services.reviewer.open_items(limit=1)
    assert total == 2 and [i.id for i in items] == [first.queue_id]
    items, _ = services.reviewer.open_items(limit=1, offset=1)
    assert [i.id for i in items] == [second.queue_id]
    assert QueueStatus.OPEN == "open"


OFF_BANK_AGAIN = "කුඹුරේ මීයන් වැඩිවෙලා මොකද කරන්නේ"  # the same words, the punctuation differs
CRICKET = "ලංකාවේ ක්‍රිකට් කණ්ඩායමේ නායකයා කවුද?"


def test_the_same_question_from_several_farmers_is_one_item_answered_for_all(services):
    first = declined(services, OFF_BANK, chat_id=81)
    second = declined(services, OFF_BANK_AGAIN, chat_id=82)
    other = declined(services, CRICKET, chat_id=83)
    items, total = services.reviewer.open_items()
    assert total == 2
    assert [(i.id, [o.id for o in i.others]) for i in items] == [
        (first.queue_id, [second.queue_id]),
        (other.queue_id, []),
    ]

    note = services.reviewer.answer(second.queue_id, RAT_ANSWER, admin_id=1)  # via a member
    farmers = {(n.chat_id, n.question) for n in (note, *note.also)}
    assert farmers == {(82, OFF_BANK_AGAIN), (81, OFF_BANK)}
    assert services.reviewer.open_items()[1] == 1
    with services.session_factory() as session:
        answered = [session.get(UnansweredQuestion, r.queue_id) for r in (first, second)]
        assert {(i.status, i.pair_id) for i in answered} == {("answered", note.pair_id)}


def test_dismissing_a_group_dismisses_every_farmers_question(services):
    first = declined(services, OFF_BANK, chat_id=91)
    declined(services, OFF_BANK_AGAIN, chat_id=92)
    dismissed = services.reviewer.dismiss(first.queue_id, admin_id=1)
    assert [item.chat_id for item in dismissed] == [91, 92]
    assert services.reviewer.open_items()[1] == 0


def test_different_questions_are_not_grouped(services):
    for number, text in enumerate([OFF_BANK, CRICKET, "මගේ එළදෙන කිරි දෙන්නේ නැහැ"]):
        declined(services, text, chat_id=100 + number)
    items, total = services.reviewer.open_items()
    assert total == 3 and not any(item.others for item in items)
