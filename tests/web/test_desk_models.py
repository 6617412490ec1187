"""The models page's actions, and the desk served on its own (`agribot web`)."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select

from bot.storage.models import AuditEntry
from bot.training import background
from bot.web.server import desk_alone
from tests.telegram.conftest import OFF_TOPIC
from tests.web.conftest import CSRF, TOKEN, Desk

FARMER = 7301


async def test_switching_models_explains_a_refusal(desk: Desk):
    csrf = await desk.login()
    rolled = await desk.client.post("/models/rollback", data={"csrf": csrf}, follow_redirects=True)
    assert "no active model" in rolled.text or "no earlier model" in rolled.text
    missing = await desk.client.post(
        "/models/no-such-model/activate", data={"csrf": csrf}, follow_redirects=True
    )
    assert "no-such-model" in missing.text
    assert desk.bot.services.answerer.state.model_id in missing.text  # still in use


async def test_a_retrain_started_on_the_desk_shows_its_progress(desk: Desk, monkeypatch):
    done = asyncio.Event()

    async def retrain(settings, report):
        await report("training 50% (5/10 steps)")
        await report("training 100% (10/10 steps)")
        done.set()
        return background.RetrainOutcome(False, "kept the active model: MRR@10 0.61 → 0.60", None)

    monkeypatch.setattr(background, "retrain_in_background", retrain)
    csrf = await desk.login()
    started = await desk.client.post("/models/retrain", data={"csrf": csrf})
    assert started.status_code == 303
    await asyncio.wait_for(done.wait(), 5)
    await asyncio.sleep(0.05)
    page = (await desk.client.get("/models/progress")).text
    assert "training 100% (10/10 steps)" in page and "MRR@10 0.61 → 0.60" in page
    with desk.bot.services.session_factory() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "retrain"))
    assert (entry.action, entry.after) == ("retrain", {"promoted": False})


async def test_the_desk_on_its_own_logs_in_and_tells_farmers_with_its_own_bot(
    bot, unused_tcp_port: int
):
    settings = bot.services.settings.model_copy(update={"web_port": unused_tcp_port})
    server = desk_alone(settings, bot.services)
    server.config.lifespan = "on"
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.02)
        await bot.send(FARMER, OFF_TOPIC)
        [link] = await bot.send(9001, "/web", user_id=9001)
        base = f"http://127.0.0.1:{unused_tcp_port}"
        async with httpx.AsyncClient(base_url=base) as client:
            token = TOKEN.search(link["text"]).group(1)
            assert (await client.post("/login", data={"token": token})).status_code == 303
            page = await client.get("/queue")
            csrf = CSRF.search(page.text).group(1)
            item_id = int(page.text.split('action="/queue/', 1)[1].split("/", 1)[0])
            before = len(bot.fake.sent_messages(FARMER))
            await client.post(
                f"/queue/{item_id}/answer", data={"csrf": csrf, "answer": "වී ගැන අහන්න."}
            )
        [sent] = (await bot.fake.wait_for_messages(FARMER, before + 1))[before:]
        assert "වී ගැන අහන්න." in sent["text"]
    finally:
        server.should_exit = True
        await task


async def test_versions_are_shown_side_by_side_with_their_figures(desk: Desk, tmp_path):
    from bot.storage import registry

    with desk.bot.services.session_factory() as session:
        confidence = {"intercept": -11.0, "score": 12.8, "margin": 16.0, "words": 1.1}
        tuning = {"confidence": {**confidence, "latin": 0.9, "threshold": 0.8826}}
        for name, acc in (("paddy-v1", 0.796), ("paddy-v2", 0.829)):
            metrics = {"after": {"eval": {"acc_at_1": acc}, "heldout": {"mrr_at_10": 0.6}}}
            registry.register(session, name, str(tmp_path / name), metrics=metrics, tuning=tuning)
        session.commit()
    csrf = await desk.login()
    page = (await desk.client.get("/models")).text
    row = page.split("after.eval.acc_at_1", 1)[1].split("</tr>", 1)[0]
    assert "0.796" in row and "0.829" in row and "MISSING" in page  # no directory on disk
    assert page.count('<td class="confidence">0.8826 / -</td>') == 2  # float32 only
    refused = await desk.client.post(
        "/models/paddy-v2/activate", data={"csrf": csrf}, follow_redirects=True
    )
    assert 'id="error"' in refused.text and "paddy-v2" in refused.text


async def test_activating_a_model_on_the_desk_switches_the_live_bot(desk: Desk, base_model_dir):
    """The real path: `agribot model activate` in a child process (it exports and encodes
    the bank there), then the bot answers with the new model; a rollback returns."""
    from bot.storage import registry

    services = desk.bot.services
    with services.session_factory() as session:
        for name in ("e5-desk-a", "e5-desk-b"):
            registry.register(session, name, str(base_model_dir))
        session.commit()
    csrf = await desk.login()
    for name in ("e5-desk-a", "e5-desk-b"):
        switched = await desk.client.post(
            f"/models/{name}/activate", data={"csrf": csrf}, follow_redirects=True
        )
        assert 'id="error"' not in switched.text, switched.text[:2000]
        assert services.answerer.state.model_id == name
    before = len(desk.bot.fake.sent_messages(FARMER))
    await desk.bot.send(FARMER, "වී බීජ පොඟවන්නේ කොහොමද?")
    assert len(desk.bot.fake.sent_messages(FARMER)) > before
    rolled = await desk.client.post("/models/rollback", data={"csrf": csrf}, follow_redirects=True)
    assert 'id="error"' not in rolled.text, rolled.text[:2000]
    assert services.answerer.state.model_id == "e5-desk-a"
    with services.session_factory() as session:
        assert registry.active_version(session).name == "e5-desk-a"
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "activate"))
        assert [entry.after for entry in entries] == [
            {"model": "e5-desk-a"},
            {"model": "e5-desk-b"},
            {"model": "e5-desk-a"},
        ]
