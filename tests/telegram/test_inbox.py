from __future__ import annotations

from bot.telegram.inbox import COMPACT_AFTER, UpdateInbox, question_ref


def update(update_id: int) -> dict:
    return {"update_id": update_id, "message": {"message_id": update_id, "text": "වී"}}


def test_unfinished_updates_survive_a_restart_and_compaction(tmp_path):
    path = tmp_path / "inbox.jsonl"
    inbox = UpdateInbox(path)
    inbox.record([update(1), update(2), update(3)])
    inbox.record([update(2), update(3), update(4)])  # a redelivery is recorded once
    inbox.done(1)
    inbox.done(3)
    again = UpdateInbox(path)  # after a crash
    assert [u["update_id"] for u in again.unfinished()] == [2, 4]
    again.compact()
    assert [u["update_id"] for u in UpdateInbox(path).unfinished()] == [2, 4]
    assert UpdateInbox(path).highest == 4  # kept through compaction: 3 stays handled
    UpdateInbox(path).record([update(3)])
    assert [u["update_id"] for u in UpdateInbox(path).unfinished()] == [2, 4]


def test_a_replayed_update_is_claimed_once_and_the_file_is_kept_small(tmp_path):
    UpdateInbox(tmp_path / "inbox.jsonl").record([update(7)])
    inbox = UpdateInbox(tmp_path / "inbox.jsonl")  # a restart: 7 may come twice
    assert inbox.claim(7) and not inbox.claim(7)
    assert inbox.claim(8) and inbox.claim(8)  # newer than the start: never remembered
    inbox.done(7)
    for n in range(8, 8 + COMPACT_AFTER // 2 + 1):
        inbox.record([update(n)])
        inbox.done(n)
    assert inbox.needs_compacting
    inbox.compact()
    assert not inbox.needs_compacting and inbox.unfinished() == []


def test_a_question_keeps_its_reference_when_handled_again():
    assert question_ref(1, 42) == question_ref(1, 42) != question_ref(1, 43)
    assert len(question_ref(1, 42)) == 32
