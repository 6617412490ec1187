"""An officer's desk work reaches farmers and the live index, and every change is audited."""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.storage.models import AuditEntry, QueueStatus, UnansweredQuestion
from bot.telegram import texts
from tests.telegram.conftest import ANSWERED, ANSWERED_TEXT, HARVEST, OFF_TOPIC, OFF_TOPIC_2
from tests.web.conftest import Desk

FARMER = 7001
NEW_ANSWER = "බීජ වී පැය 36 ක් පිරිසිදු වතුරේ පොඟවන්න; පසුව පැය 48 ක් උණුසුම් තැනක තබන්න."
OFFICER_ANSWER = "ක්‍රිකට් ගැන අපි උත්තර දෙන්නේ නැහැ; වී වගාව ගැන අහන්න."


def audit_rows(desk: Desk) -> list[AuditEntry]:
    """The audit log's changes, oldest first (logins left out)."""
    with desk.bot.services.session_factory() as session:
        query = select(AuditEntry).where(AuditEntry.action != "login").order_by(AuditEntry.id)
        return list(session.scalars(query))


def open_items(desk: Desk) -> list[UnansweredQuestion]:
    with desk.bot.services.session_factory() as session:
        query = select(UnansweredQuestion).where(UnansweredQuestion.status == QueueStatus.OPEN)
        return list(session.scalars(query))


async def test_an_edit_reaches_the_live_index_and_undo_brings_it_back(desk: Desk):
    csrf = await desk.login()
    [pair] = desk.bot.services.bank.find(ANSWERED, 1)
    page = await desk.client.get(f"/bank/{pair.pair_id}")
    assert page.status_code == 200 and pair.question in page.text

    before = desk.bot.services.bank.get(pair.pair_id)
    form = {
        "csrf": csrf,
        "question": before.question,
        "answer": NEW_ANSWER,
        "alternates": "\n".join(before.alternates),
        "topic": "seed_nursery",
        "source": "RRDI 2026",
        "review_by": "2027-06-30",
    }
    saved = await desk.client.post(f"/bank/{pair.pair_id}", data=form)
    assert saved.status_code == 303

    [reply] = await desk.bot.send(FARMER, ANSWERED)
    assert NEW_ANSWER in reply["text"] and ANSWERED_TEXT not in reply["text"]

    [entry] = audit_rows(desk)
    assert (entry.action, entry.target) == ("edit", f"pair:{pair.pair_id}")
    assert entry.before["answer"] == before.answer and entry.after["answer"] == NEW_ANSWER
    assert entry.after["review_by"] == "2027-06-30" and entry.after["source"] == "RRDI 2026"
    history = await desk.client.get(f"/bank/{pair.pair_id}")
    assert f"/audit/{entry.id}/undo" in history.text

    undone = await desk.client.post(f"/audit/{entry.id}/undo", data={"csrf": csrf})
    assert undone.status_code == 303
    [reply] = await desk.bot.send(FARMER + 1, ANSWERED)  # another farmer: no repeat window
    assert ANSWERED_TEXT in reply["text"]
    assert [e.action for e in audit_rows(desk)] == ["edit", "edit", "undo"]
    again = await desk.client.post(f"/audit/{entry.id}/undo", data={"csrf": csrf})
    assert again.headers["location"].endswith("note=gone")  # undone once only


async def test_answering_a_queued_question_reaches_the_farmer(desk: Desk):
    await desk.bot.send(FARMER, OFF_TOPIC)
    [item] = open_items(desk)
    csrf = await desk.login()
    queue = await desk.client.get("/queue")
    assert OFF_TOPIC in queue.text and f"/queue/{item.id}/answer" in queue.text

    before = len(desk.bot.fake.sent_messages(FARMER))
    answered = await desk.client.post(
        f"/queue/{item.id}/answer", data={"csrf": csrf, "answer": OFFICER_ANSWER}
    )
    assert answered.status_code == 303 and answered.headers["location"].endswith("answered")
    [sent] = (await desk.bot.fake.wait_for_messages(FARMER, before + 1))[before:]
    assert OFFICER_ANSWER in sent["text"]
    assert not open_items(desk)
    [entry] = audit_rows(desk)
    assert (entry.action, entry.target, entry.after["answer"]) == (
        "answer",
        f"queue:{item.id}",
        OFFICER_ANSWER,
    )
    assert OFF_TOPIC not in str(entry.before) + str(entry.after)  # /forget leaves none here
    assert "queue:" in (await desk.client.get("/queue")).text  # the log is in the page


async def test_linking_and_dismissing_tell_the_farmer(desk: Desk):
    await desk.bot.send(FARMER, OFF_TOPIC)
    await desk.bot.send(FARMER + 1, OFF_TOPIC_2)
    first, second = sorted(open_items(desk), key=lambda item: item.id)
    csrf = await desk.login()
    [harvest] = desk.bot.services.bank.find(HARVEST, 1)

    before = len(desk.bot.fake.sent_messages(FARMER))
    linked = await desk.client.post(
        f"/queue/{first.id}/link", data={"csrf": csrf, "pair_id": str(harvest.pair_id)}
    )
    assert linked.headers["location"].endswith("linked")
    [sent] = (await desk.bot.fake.wait_for_messages(FARMER, before + 1))[before:]
    assert harvest.answer[:30] in sent["text"]

    before = len(desk.bot.fake.sent_messages(FARMER + 1))
    dismissed = await desk.client.post(
        f"/queue/{second.id}/dismiss", data={"csrf": csrf, "reason": "not_paddy"}
    )
    assert dismissed.headers["location"].endswith("dismissed")
    [sent] = (await desk.bot.fake.wait_for_messages(FARMER + 1, before + 1))[before:]
    assert sent["text"] == texts.FARMER_NOT_PADDY
    assert [e.action for e in audit_rows(desk)] == ["link", "dismiss"]
    assert audit_rows(desk)[1].after["reason"] == "not_paddy"


async def test_near_duplicates_show_while_typing_and_a_duplicate_is_refused(desk: Desk):
    csrf = await desk.login()
    [pair] = desk.bot.services.bank.find(ANSWERED, 1)
    near = await desk.client.get("/bank/near", params={"question": ANSWERED})
    assert near.status_code == 200 and "⚠️" in near.text and f"#{pair.pair_id}" in near.text
    itself = await desk.client.get(
        "/bank/near", params={"question": ANSWERED, "pair_id": str(pair.pair_id)}
    )
    assert f"#{pair.pair_id}<" not in itself.text

    refused = await desk.client.post(
        "/bank/new", data={"csrf": csrf, "question": ANSWERED, "answer": "x"}
    )
    assert refused.status_code == 409 and f"#{pair.pair_id}" in refused.text
    assert not audit_rows(desk)


async def test_add_search_and_delete_with_confirmation(desk: Desk):
    csrf = await desk.login()
    question = "වී ගොයමේ කොළ කහ පැහැ වෙන්නේ ඇයි?"
    added = await desk.client.post(
        "/bank/new",
        data={"csrf": csrf, "question": question, "answer": "නයිට්‍රජන් මදි විය හැක.", "topic": "pests"},
    )
    assert added.status_code == 303
    pair_id = int(re.search(r"/bank/(\d+)", added.headers["location"]).group(1))
    by_words = await desk.client.get("/bank", params={"q": "කහ පැහැ"})
    assert question in by_words.text
    by_meaning = await desk.client.get("/bank", params={"q": question, "how": "meaning"})
    assert question in by_meaning.text
    by_topic = await desk.client.get("/bank", params={"topic": "pests"})
    assert question in by_topic.text and ANSWERED not in by_topic.text

    confirm = await desk.client.get(f"/bank/{pair_id}/delete")
    assert 'name="confirm" value="yes"' in confirm.text
    kept = await desk.client.post(f"/bank/{pair_id}/delete", data={"csrf": csrf})
    assert kept.headers["location"] == f"/bank/{pair_id}"  # not confirmed: nothing deleted
    deleted = await desk.client.post(
        f"/bank/{pair_id}/delete", data={"csrf": csrf, "confirm": "yes"}
    )
    assert deleted.headers["location"].endswith("deleted")
    [farmer_reply] = await desk.bot.send(FARMER, question)
    assert "නයිට්‍රජන්" not in farmer_reply["text"]
    assert [e.action for e in audit_rows(desk)] == ["add", "delete"]


async def test_import_shows_errors_by_line_and_keeps_nothing(desk: Desk):
    csrf = await desk.login()
    count = desk.bot.services.bank.count()
    bad = "question,answer\nවී වගාවට හොඳම මාසය කුමක්ද?,මැයි\n,පිළිතුර විතරයි\n".encode()
    response = await desk.client.post(
        "/bank/import", data={"csrf": csrf}, files={"file": ("bank.csv", bad, "text/csv")}
    )
    assert response.status_code == 400 and "line 3" in response.text
    assert desk.bot.services.bank.count() == count

    good = "question,answer\nවී වගාවට හොඳම මාසය කුමක්ද?,මැයි\n".encode()
    response = await desk.client.post(
        "/bank/import", data={"csrf": csrf}, files={"file": ("bank.csv", good, "text/csv")}
    )
    assert response.status_code == 303 and desk.bot.services.bank.count() == count + 1
    [entry] = audit_rows(desk)
    assert (entry.action, entry.after["added"]) == ("import", 1)
    exported = await desk.client.get("/bank/export")
    assert "වී වගාවට හොඳම මාසය කුමක්ද?" in exported.text


async def test_stats_and_models_pages_draw(desk: Desk):
    await desk.bot.send(FARMER, ANSWERED)
    await desk.bot.send(FARMER, OFF_TOPIC)
    await desk.login()
    for days in (7, 30, 90):
        page = await desk.client.get("/stats", params={"days": days})
        assert page.status_code == 200 and f"දින {days}" in page.text
        assert page.text.count('class="bar"') >= 2 and "<svg" in page.text
    models = await desk.client.get("/models")
    assert models.status_code == 200
    assert desk.bot.services.answerer.state.model_id in models.text


async def test_zone_answers_are_edited_filtered_and_undone(desk: Desk):
    csrf = await desk.login()
    [pair] = desk.bot.services.bank.find(ANSWERED, 1)
    before = desk.bot.services.bank.get(pair.pair_id)
    dry = "වියළි කලාපයේ බීජ වී පැය 24 ක් පොඟවන්න; වතුර අඩු නම් පැය 36 ක් තබන්න."
    form = {
        "csrf": csrf,
        "question": before.question,
        "answer": before.answer,
        "alternates": "\n".join(before.alternates),
        "variant_dry_answer": dry,
        "variant_dry_source": "DOA dry zone 2026",
        "variant_dry_review_by": "2027-01-31",
    }
    assert (await desk.client.post(f"/bank/{pair.pair_id}", data=form)).status_code == 303
    page = await desk.client.get(f"/bank/{pair.pair_id}")
    assert f'name="variant_dry_answer">{dry}<' in page.text and "DOA dry zone 2026" in page.text
    by_zone = await desk.client.get("/bank", params={"zone": "dry"})
    assert before.question in by_zone.text and HARVEST not in by_zone.text
    by_source = await desk.client.get("/bank", params={"source": "dry zone"})
    assert before.question not in by_source.text  # the pair's own source is another

    [entry] = audit_rows(desk)
    assert entry.before["variants"] == {}
    assert entry.after["variants"]["dry"] == {
        "answer": dry,
        "source": "DOA dry zone 2026",
        "review_by": "2027-01-31",
    }
    await desk.client.post(f"/audit/{entry.id}/undo", data={"csrf": csrf})
    undone = await desk.client.get(f"/bank/{pair.pair_id}")
    assert 'name="variant_dry_answer"><' in undone.text


async def test_the_bank_pages_through_what_matched(desk: Desk, monkeypatch):
    from bot.web import bank_pages

    monkeypatch.setattr(bank_pages, "PAGE_SIZE", 2)
    await desk.login()
    first = await desk.client.get("/bank", params={"how": "words"})
    assert "පිටුව (page) 1 / " in first.text and "how=words&amp;page=2" in first.text
    second = await desk.client.get("/bank", params={"how": "words", "page": "2"})
    assert "පිටුව (page) 2 / " in second.text and "page=1" in second.text
