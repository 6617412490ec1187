from __future__ import annotations

from bot.service.throttle import ChatGuard, Verdict


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_guard(clock: Clock, **overrides) -> ChatGuard:
    values = {"repeat_window_s": 30, "flood_limit": 3, "flood_window_s": 60, **overrides}
    return ChatGuard(**values, clock=clock)


def test_a_repeated_question_within_the_window_is_not_answered_again():
    clock = Clock()
    guard = make_guard(clock, flood_limit=100)
    assert guard.check(1, 1, "වී මිල කීයද?") is Verdict.ANSWER
    clock.now += 5
    assert guard.check(1, 1, "වී  මිල කීයද ?") is Verdict.REPEAT  # same after normalization
    assert guard.check(2, 2, "වී මිල කීයද?") is Verdict.ANSWER  # another chat
    clock.now += 30
    assert guard.check(1, 1, "වී මිල කීයද?") is Verdict.ANSWER


def test_forget_lets_a_failed_question_be_asked_again():
    guard = make_guard(Clock(), flood_limit=100)
    guard.check(1, 1, "වී මිල කීයද?")
    guard.forget(1, "වී මිල කීයද?")
    assert guard.check(1, 1, "වී මිල කීයද?") is Verdict.ANSWER


def test_flood_is_told_once_then_ignored_until_the_window_clears():
    clock = Clock()
    guard = make_guard(clock)
    verdicts = [guard.check(1, 7, f"ප්‍රශ්නය {n}") for n in range(6)]
    assert verdicts == [Verdict.ANSWER] * 3 + [Verdict.FLOODED, Verdict.IGNORE, Verdict.IGNORE]
    assert guard.check(2, 8, "වෙනත් කෙනෙක්") is Verdict.ANSWER
    clock.now += 61
    assert guard.check(1, 7, "ප්‍රශ්නය 9") is Verdict.ANSWER


def test_pruning_forgets_old_chats(monkeypatch):
    monkeypatch.setattr("bot.service.throttle.PRUNE_EVERY", 2)
    clock = Clock()
    guard = make_guard(clock, flood_limit=100)
    guard.check(1, 1, "පළමු")
    clock.now += 100
    guard.check(2, 2, "දෙවැනි")
    assert 1 not in guard._asked and 1 not in guard._sent
