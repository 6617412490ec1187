from __future__ import annotations

import pytest

from bot.errors import DuplicateQuestion, PairNotFound
from bot.storage import bank


def test_add_pair_keeps_question_answer_and_alternates(session):
    pair = bank.add_pair(
        session,
        "වී බීජ පොඟවන්නේ කොපමණ කාලයක්ද?",
        "පැය 24 ක් පොඟවන්න.",
        ["බිත්තර වී පොඟවන්න ඕන කොච්චර වෙලාවක්ද", "වී පොඟවන කාලය කීයද"],
        topic="seed_nursery",
        created_by="test",
    )
    session.commit()
    stored = bank.get_pair(session, pair.id)
    assert stored.question == "වී බීජ පොඟවන්නේ කොපමණ කාලයක්ද?"
    assert [p.text for p in stored.phrasings] == [
        "බිත්තර වී පොඟවන්න ඕන කොච්චර වෙලාවක්ද",
        "වී පොඟවන කාලය කීයද",
    ]
    assert stored.texts[0] == stored.question
    assert stored.topic == "seed_nursery"


def test_duplicate_question_is_refused_after_normalization(session):
    first = bank.add_pair(session, "ශ්‍රී ලංකාවේ වී වගාව", "පිළිතුර 1")
    # the same words with no ZWJ, extra spaces and a question mark
    with pytest.raises(DuplicateQuestion) as caught:
        bank.add_pair(session, "  ශ්රී  ලංකාවේ වී වගාව ? ", "පිළිතුර 2")
    assert caught.value.existing_id == first.id


def test_duplicate_of_an_alternate_is_refused(session):
    first = bank.add_pair(session, "යූරියා කීයද?", "කි.ග්‍රෑ. 140", ["යූරියා කිලෝ කීයක්ද"])
    with pytest.raises(DuplicateQuestion) as caught:
        bank.add_pair(session, "යූරියා කිලෝ කීයක්ද?", "වෙනත්")
    assert caught.value.existing_id == first.id


def test_repeated_alternates_are_kept_once(session):
    pair = bank.add_pair(session, "ප්‍රශ්නය", "පිළිතුර", ["වෙනත් විදිහ", "වෙනත් විදිහ ", "ප්‍රශ්නය?"])
    assert [p.text for p in pair.phrasings] == ["වෙනත් විදිහ"]


def test_update_replaces_bank_alternates_but_keeps_farmers_wordings(session):
    pair = bank.add_pair(session, "ප්‍රශ්නය", "පිළිතුර", ["පරණ විදිහ"])
    bank.add_phrasing(session, pair.id, "ගොවියාගේ වචන", origin="linked")
    bank.update_pair(session, pair.id, answer="අලුත් පිළිතුර", alternates=["අලුත් විදිහ"])
    session.commit()
    stored = bank.get_pair(session, pair.id)
    assert stored.answer == "අලුත් පිළිතුර"
    assert sorted(p.text for p in stored.phrasings) == ["අලුත් විදිහ", "ගොවියාගේ වචන"]


def test_update_to_another_pairs_question_is_refused(session):
    bank.add_pair(session, "පළමු ප්‍රශ්නය", "අ")
    second = bank.add_pair(session, "දෙවන ප්‍රශ්නය", "ආ")
    with pytest.raises(DuplicateQuestion):
        bank.update_pair(session, second.id, question="පළමු ප්‍රශ්නය")


def test_delete_pair_removes_it_and_its_phrasings(session):
    pair = bank.add_pair(session, "ප්‍රශ්නය", "පිළිතුර", ["වෙනත් විදිහ"])
    bank.delete_pair(session, pair.id)
    session.commit()
    with pytest.raises(PairNotFound):
        bank.get_pair(session, pair.id)
    assert bank.find_pair_by_question(session, "වෙනත් විදිහ") is None


def test_list_pairs_searches_question_and_answer(session):
    bank.add_pair(session, "බණ්ඩි පොහොර කවදද?", "සති 4 දී MOP කි.ග්‍රෑ. 25")
    bank.add_pair(session, "ගොයම් කපන්නේ කවදද?", "80% පැසුණු විට")
    assert [p.question for p in bank.list_pairs(session, search="MOP")] == ["බණ්ඩි පොහොර කවදද?"]
    assert [p.question for p in bank.list_pairs(session, search="ගොයම්")] == ["ගොයම් කපන්නේ කවදද?"]
    assert bank.count_pairs(session) == 2


def test_search_text_is_a_bound_parameter_not_sql(session):
    bank.add_pair(session, "ප්‍රශ්නය", "පිළිතුර")
    assert bank.list_pairs(session, search="'; DROP TABLE qa_pairs; --") == []
    assert bank.count_pairs(session) == 1


def test_active_pairs_come_in_chunks_each_freed_before_the_next(session):
    """A start reads the bank a chunk at a time so that each chunk's ORM objects are
    freed before the next is read."""
    import gc
    import weakref

    added = [bank.add_pair(session, f"ප්‍රශ්නය {n}", f"පිළිතුර {n}", [f"විදිහ {n}"]) for n in range(7)]
    added[3].active = False
    session.commit()
    session.expunge_all()
    del added
    gc.collect()
    seen, earlier = [], []
    for pair in bank.active_pairs(session, chunk=2):
        seen.append((pair.id, pair.texts))
        earlier.append(weakref.ref(pair))
        alive = sum(ref() is not None for ref in earlier)
        assert alive <= 3  # this chunk's, and the last pair of the one before (`pair`)
    assert [texts for _, texts in seen] == [[f"ප්‍රශ්නය {n}", f"විදිහ {n}"] for n in (0, 1, 2, 4, 5, 6)]
    assert [pair_id for pair_id, _ in seen] == sorted(pair_id for pair_id, _ in seen)
