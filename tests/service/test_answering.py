from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import event, exc

from bot.retrieval.decision import Decision
from bot.retrieval.hybrid import Fusion
from bot.service.answering import Question, query_views
from bot.storage import bank, queue
from bot.storage.embeddings import count_vectors
from bot.storage.questions import get_question
from bot.text.normalize import normalize
from tests.hashed_encoder import HashedEncoder


@pytest.fixture
def scoring(real_scoring):
    """These tests ask paraphrases of bank questions: the real model's judgement."""
    return real_scoring


SOAKING = "වී බීජ පොඟවන්නේ කොපමණ කාලයක්ද?"


class BrokenEncoder(HashedEncoder):
    """An encoder whose model fails on every text."""

    def _encode(self, texts, prompt, batch_size, show_progress, *, max_tokens=None):  # type: ignore[no-untyped-def]
        raise RuntimeError("the model failed")


def pair_id_of(services, question: str) -> int:
    with services.session_factory() as session:
        return bank.find_pair_by_question(session, question).id


def test_an_alternate_phrasing_is_answered_with_its_pair(services):
    reply = services.answerer.answer(Question("බිත්තර වී පොඟවන්න ඕන කොච්චර වෙලාවක්ද?", chat_id=1))
    assert reply.decision is Decision.ANSWER
    assert reply.answer.pair_id == pair_id_of(services, SOAKING)
    assert reply.answer.answer.startswith("බීජ වී අවම වශයෙන් පැය 24")
    assert reply.question_id is not None and reply.queue_id is None


def test_a_new_paraphrase_ranks_the_right_pair_first(services):
    reply = services.answerer.answer(Question("ගොයම කපන්න සුදුසු කාලය මොකක්ද"))
    assert reply.candidates[0].question == "වී අස්වනු නෙළන්නේ කවදාද?"


def test_zwj_and_punctuation_variants_score_the_same(services):
    with_zwj = services.answerer.answer(Question("යූරියා පොහොර මුළු ප්‍රමාණය කීයද?"))
    without = services.answerer.answer(Question("යූරියා  පොහොර මුළු ප්රමාණය කීයද ??"))
    assert with_zwj.normalized == without.normalized
    assert with_zwj.candidates[0].score == pytest.approx(without.candidates[0].score, abs=1e-5)


def test_off_topic_question_is_declined_and_queued(services):
    reply = services.answerer.answer(Question("ලංකාවේ ක්‍රිකට් කණ්ඩායමේ නායකයා කවුද?", chat_id=9))
    assert reply.decision is Decision.DECLINE
    with services.session_factory() as session:
        [item] = queue.list_open(session)
    assert (item.id, item.chat_id) == (reply.queue_id, 9)


def test_another_crops_question_is_declined_not_answered_with_a_paddy_dose(make_services):
    services = make_services(answer_threshold=0.3, suggest_threshold=0.2)
    onions = "ළූණු වගාවට යූරියා කොච්චර දාන්නද?"
    services.answerer.swap(replace(services.answerer.state, other_crops=False))
    assert services.answerer.answer(Question(onions)).decision is not Decision.DECLINE
    services.answerer.swap(replace(services.answerer.state, other_crops=True))
    reply = services.answerer.answer(Question(onions, chat_id=7))
    assert (reply.decision, reply.other_crop) == (Decision.DECLINE, True)
    assert reply.candidates  # the officer still sees the closest pairs
    with services.session_factory() as session:
        assert [item.chat_id for item in queue.list_open(session)] == [7]
    paddy = services.answerer.answer(Question("වී වලට යූරියා කොච්චර දාන්නද?"))
    assert paddy.decision is not Decision.DECLINE and not paddy.other_crop


def test_grey_zone_offers_three_suggestions(make_services):
    services = make_services(answer_threshold=0.9999, suggest_threshold=0.5)
    reply = services.answerer.answer(Question("වී ගබඩා කරන්න කලින් වේලන්නේ කොහොමද"))
    assert reply.decision is Decision.SUGGEST
    assert len(reply.suggestions) == 3
    assert reply.queue_id is None


def test_restart_reencodes_nothing(make_services, encoder):
    first = make_services()
    state = first.answerer.state
    with first.session_factory() as session:
        cached = count_vectors(session, encoder.model_id)
    # every phrasing, every answer and every small-talk example, each once
    small_talk = len(state.chit_chat.index)
    assert cached == len(state.index) + len(state.pairs) + small_talk
    assert len(state.index) > 12
    calls = []
    for name in ("encode_queries", "encode_passages"):
        original = getattr(encoder, name)
        setattr(
            encoder,
            name,
            lambda texts, _original=original, **kw: (
                calls.append(len(texts)) or _original(texts, **kw)
            ),
        )
    try:
        second = make_services()
    finally:
        del encoder.encode_queries, encoder.encode_passages
    assert calls == []
    assert len(second.answerer.state.index) == len(state.index)


def test_editing_an_answer_encodes_only_it_and_a_new_phrasing_only_itself(services, encoder):
    pair_id = pair_id_of(services, SOAKING)
    with services.session_factory() as session:
        before = count_vectors(session, encoder.model_id)
    services.bank.update(pair_id, answer="අලුත් පිළිතුර")
    with services.session_factory() as session:
        assert count_vectors(session, encoder.model_id) == before + 1  # the new answer
    services.bank.add_phrasing(pair_id, "වී ඇට පොඟවන කාලය කීයද", origin="admin")
    with services.session_factory() as session:
        assert count_vectors(session, encoder.model_id) == before + 2
    reply = services.answerer.answer(Question("වී ඇට පොඟවන කාලය කීයද?"))
    assert reply.answer.answer == "අලුත් පිළිතුර"


def test_deleted_pair_is_never_answered(services):
    pair_id = pair_id_of(services, SOAKING)
    services.bank.delete(pair_id)
    reply = services.answerer.answer(Question(SOAKING))
    assert pair_id not in [c.pair_id for c in reply.candidates]


def test_database_failure_still_replies_and_the_question_is_recovered(services):
    def refuse_inserts(conn, cursor, statement, *args):
        if statement.startswith("INSERT INTO questions"):
            raise exc.OperationalError(statement, {}, Exception("disk I/O error"))

    event.listen(services.engine, "before_cursor_execute", refuse_inserts)
    try:
        reply = services.answerer.answer(Question("පොල් ගස් වලට පොහොර දාන්නේ කොහොමද?", chat_id=5))
    finally:
        event.remove(services.engine, "before_cursor_execute", refuse_inserts)
    assert reply.decision is Decision.DECLINE and reply.journaled
    assert len(services.journal.pending()) == 1

    assert services.answerer.replay_journal() == 1
    with services.session_factory() as session:
        [item] = queue.list_open(session)
        log = get_question(session, item.question_id)
    assert (item.chat_id, log.raw_text) == (5, "පොල් ගස් වලට පොහොර දාන්නේ කොහොමද?")
    assert services.journal.pending() == []


def test_model_failure_declines_kindly_and_queues_the_question(services):
    broken_encoder = BrokenEncoder("broken")
    services.answerer.swap(replace(services.answerer.state, encoder=broken_encoder))
    reply = services.answerer.answer(Question(SOAKING, chat_id=3))
    assert reply.failed and reply.decision is Decision.DECLINE
    assert reply.queue_id is not None


def test_spelling_scored_beside_the_encoder_gives_the_inline_search(services):
    """The bot scores spelling in a thread while the question is encoded; the matches
    are the ones the search computes by itself."""
    services.answerer.swap(replace(services.answerer.state, fusion=Fusion(0.3, 0.5)))
    state = services.answerer.state
    asked = [SOAKING, "yuriya damanne kawadada", "BPH වලට spray කරන්නද", "ආයුබෝවන්"]
    for text in asked:
        reply = services.answerer.answer(Question(text))
        texts, owners = query_views([normalize(text)], [text])
        vectors = state.encoder.encode_queries(texts)
        inline = state.index.search_many(vectors, texts, owners, k=10, fusion=state.fusion)[0]
        got = [(c.pair_id, round(c.score, 5)) for c in reply.candidates]
        want = [(m.pair_id, round(m.score, 5)) for m in inline]
        assert got == want[: len(got)] and got, text


def test_a_failing_spelling_index_declines_kindly_and_queues_the_question(services, monkeypatch):
    def broken(texts):  # type: ignore[no-untyped-def]
        raise RuntimeError("the spelling index failed")

    services.answerer.swap(replace(services.answerer.state, fusion=Fusion(0.3, 0.5)))
    monkeypatch.setattr(services.answerer.state.index.lexical, "pair_scores", broken)
    reply = services.answerer.answer(Question(SOAKING, chat_id=4))
    assert reply.failed and reply.decision is Decision.DECLINE
    assert reply.queue_id is not None
