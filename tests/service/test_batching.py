from __future__ import annotations

import asyncio
import threading

import pytest

from bot.retrieval.decision import Decision
from bot.service.answering import Question
from bot.service.batching import QuestionBatcher
from bot.storage import queue

QUESTIONS = [
    "වී බීජ පොඟවන්නේ කොපමණ කාලයක්ද?",
    "බිත්තර වී පොඟවන්න ඕන කොච්චර වෙලාවක්ද?",
    "ගොයම් කපන්නේ කවදද",
    "යූරියා කිලෝ කීයක් දාන්න ඕනද",
    "Bg 352 වී වර්ගයේ වයස කීයද?",
    "යල කන්නය කියන්නේ කුමන කාලයටද?",
    "රක්ෂණ වන්දි ගන්න කොහොමද",
    "ගබඩාවට තෙතමනය",
]


@pytest.fixture
def encoder_calls(services):
    """Each call to the real encoder: (number of texts, thread name)."""
    encoder = services.answerer.state.encoder
    calls: list[tuple[int, str]] = []
    original = encoder.encode_queries

    def counting(texts, **kwargs):
        calls.append((len(texts), threading.current_thread().name))
        return original(texts, **kwargs)

    encoder.encode_queries = counting
    yield calls
    del encoder.encode_queries


async def test_concurrent_questions_share_one_encoder_call(services, encoder_calls):
    batcher = QuestionBatcher(services.answerer, window_ms=20, max_batch=16)
    replies = await asyncio.gather(
        *(batcher.answer(Question(text, chat_id=i)) for i, text in enumerate(QUESTIONS))
    )
    await batcher.close()
    assert [size for size, _ in encoder_calls] == [len(QUESTIONS)]
    alone = [services.answerer.answer(Question(text)) for text in QUESTIONS[:3]]
    for batched, single in zip(replies, alone, strict=False):
        assert batched.candidates[0].pair_id == single.candidates[0].pair_id
        assert batched.candidates[0].score == pytest.approx(single.candidates[0].score, abs=1e-4)
    assert all(r.question_id is not None for r in replies)
    assert (batcher.stats.batches, batcher.stats.largest) == (1, len(QUESTIONS))


async def test_batches_are_capped_at_max_batch(services, encoder_calls):
    batcher = QuestionBatcher(services.answerer, window_ms=5, max_batch=3)
    replies = await asyncio.gather(*(batcher.answer(Question(text)) for text in QUESTIONS[:7]))
    await batcher.close()
    assert [size for size, _ in encoder_calls] == [3, 3, 1]
    assert len(replies) == 7


async def test_questions_apart_are_answered_in_separate_batches(services, encoder_calls):
    batcher = QuestionBatcher(services.answerer, window_ms=1, max_batch=16)
    await batcher.answer(Question(QUESTIONS[0]))
    await batcher.answer(Question(QUESTIONS[1]))
    await batcher.close()
    assert [size for size, _ in encoder_calls] == [1, 1]


async def test_encoding_runs_in_one_worker_thread_off_the_loop(services, encoder_calls):
    batcher = QuestionBatcher(services.answerer, window_ms=1, max_batch=2)
    loop_thread = threading.current_thread().name
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    ticker = asyncio.create_task(tick())
    await asyncio.gather(*(batcher.answer(Question(text)) for text in QUESTIONS[:4]))
    ticker.cancel()
    await batcher.close()
    threads = {name for _, name in encoder_calls}
    assert len(threads) == 1 and loop_thread not in threads
    assert next(iter(threads)).startswith("agribot-answer")
    assert ticks > 1  # the loop kept running while the model encoded


async def test_a_failing_batch_is_journaled_not_lost(services, monkeypatch):
    def broken(questions):
        raise RuntimeError("answerer down")

    monkeypatch.setattr(services.answerer, "answer_many", broken)
    batcher = QuestionBatcher(services.answerer, window_ms=1)
    reply = await batcher.answer(Question("කුඹුරේ වතුර හිඟයි", chat_id=5, message_id=9))
    await batcher.close()
    assert (reply.decision, reply.journaled, reply.failed) == (Decision.DECLINE, True, True)
    monkeypatch.undo()
    assert services.answerer.replay_journal() == 1
    with services.session_factory() as session:
        [item] = queue.list_open(session)
    assert (item.text, item.chat_id) == ("කුඹුරේ වතුර හිඟයි", 5)


async def test_close_answers_waiting_questions_then_refuses_new_ones(services):
    batcher = QuestionBatcher(services.answerer, window_ms=50)
    waiting = asyncio.ensure_future(batcher.answer(Question(QUESTIONS[0])))
    await asyncio.sleep(0)
    await batcher.close()
    assert waiting.done() and waiting.result().decision is Decision.ANSWER
    with pytest.raises(RuntimeError, match="closed"):
        await batcher.answer(Question(QUESTIONS[1]))
