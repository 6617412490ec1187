"""The queue's voice notes and 👎 items in the page, the cookie behind https, and the desk
started and stopped with the bot (`agribot serve` with AGRIBOT_WEB_PORT)."""

from __future__ import annotations

import httpx
import pytest

from bot.bench.fake_bot_api import SAMPLE_JPEG, SAMPLE_OGG
from bot.telegram.desk_line import TelegramFarmerLine
from bot.web.app import create_app
from bot.web.server import start_beside_bot
from tests.telegram.conftest import ANSWERED, ANSWERED_TEXT, buttons
from tests.web.conftest import Desk

FARMER = 7201


async def test_voice_notes_play_photos_show_and_a_thumbs_down_shows_the_answer_given(desk: Desk):
    data = SAMPLE_OGG + b"a farmer speaking"
    desk.bot.fake.push_voice(FARMER, data)
    await desk.bot.fake.wait_for_messages(FARMER, 1)
    desk.bot.fake.push_photo(FARMER + 2, caption="කොළ කහ පාට වෙලා")
    await desk.bot.fake.wait_for_messages(FARMER + 2, 1)
    [answer] = await desk.bot.send(FARMER + 1, ANSWERED)
    [down] = [data for _, data in buttons(answer) if data.startswith("fb:n:")]
    await desk.bot.press(FARMER + 1, answer, down)
    csrf = await desk.login()

    page = (await desk.client.get("/queue")).text
    voice_id = int(page.split('<audio controls src="/media/', 1)[1].split('"', 1)[0])
    played = await desk.client.get(f"/media/{voice_id}")
    assert played.status_code == 200 and played.content == data
    assert "👎" in page and ANSWERED_TEXT in page  # the answer the farmer got
    assert (await desk.client.get("/media/99999")).status_code == 404
    photo_id = int(page.split('<img src="/media/', 1)[1].split('"', 1)[0])
    shown = await desk.client.get(f"/media/{photo_id}")
    assert shown.content == SAMPLE_JPEG and "කොළ කහ පාට වෙලා" in page

    pairs = desk.bot.services.bank.count()
    before = len(desk.bot.fake.sent_messages(FARMER))
    spoken = "ඔබේ හඬ පණිවිඩයට: කොළ කහ නම් යූරියා ටිකක් දාන්න."
    await desk.client.post(f"/queue/{voice_id}/answer", data={"csrf": csrf, "answer": spoken})
    [sent] = (await desk.bot.fake.wait_for_messages(FARMER, before + 1))[before:]
    assert spoken in sent["text"]
    assert desk.bot.services.bank.count() == pairs  # a voice note never becomes a pair


async def test_behind_https_the_session_cookie_is_secure(bot):
    settings = bot.services.settings.model_copy(update={"web_base_url": "https://desk.example.lk"})
    app = create_app(settings, bot.services, TelegramFarmerLine(bot.app.bot))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://desk.example.lk"
    ) as client:
        desk = Desk(bot, client)
        token = await desk.link()
        response = await client.post("/login", data={"token": token})
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "; secure" in cookie and "samesite=strict" in cookie and "httponly" in cookie


async def test_the_desk_starts_and_stops_with_the_bot(start_bot, unused_tcp_port: int):
    bot = await start_bot(web_port=unused_tcp_port)
    services = bot.services

    async def companion(telegram_bot):  # what `agribot serve` gives run_bot
        return await start_beside_bot(services.settings, services, telegram_bot)

    bot.app.bot_data.start_companion = companion
    await bot.app.post_init(bot.app)  # run_polling and the webhook server call it
    url = f"http://127.0.0.1:{unused_tcp_port}/queue"
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).status_code == 401  # up, and asking for a login
        await bot.app.bot_data.stop_companion()
        with pytest.raises(httpx.ConnectError):
            await client.get(url)


async def test_a_desk_port_in_use_stops_the_start_with_the_reason(bot, unused_tcp_port: int):
    import socket

    from bot.errors import ConfigurationError

    settings = bot.services.settings.model_copy(update={"web_port": unused_tcp_port})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", unused_tcp_port))
        taken.listen()
        with pytest.raises(ConfigurationError, match=str(unused_tcp_port)):
            await start_beside_bot(settings, bot.services, bot.app.bot)


async def test_an_answer_that_would_replace_the_banks_asks_first(desk: Desk):
    [answer] = await desk.bot.send(FARMER + 5, ANSWERED)
    [down] = [data for _, data in buttons(answer) if data.startswith("fb:n:")]
    await desk.bot.press(FARMER + 5, answer, down)  # a 👎: its words are the bank's already
    csrf = await desk.login()
    page = (await desk.client.get("/queue")).text
    item_id = int(page.split('action="/queue/', 1)[1].split("/", 1)[0])
    better = "බීජ වී පැය 24 ක් පොඟවා පැය 48 ක් තබන්න; පැළ නොවන්නේ නම් බීජ වෙනස් කරන්න."

    asked = await desk.client.post(
        f"/queue/{item_id}/answer", data={"csrf": csrf, "answer": better, "question": ""}
    )
    assert asked.status_code == 409 and 'id="would-replace"' in asked.text
    [pair] = desk.bot.services.bank.find(ANSWERED, 1)
    assert desk.bot.services.bank.get(pair.pair_id).answer != better  # nothing yet

    before = len(desk.bot.fake.sent_messages(FARMER + 5))
    replaced = await desk.client.post(
        f"/queue/{item_id}/answer",
        data={"csrf": csrf, "answer": better, "question": "", "replace": "1"},
    )
    assert replaced.headers["location"].endswith("answered")
    [sent] = (await desk.bot.fake.wait_for_messages(FARMER + 5, before + 1))[before:]
    assert better in sent["text"]
    assert desk.bot.services.bank.get(pair.pair_id).answer == better


ANSWERED_QUESTION = "වී බීජ පොඟවන්නේ කොපමණ කාලයක්ද?"  # the small bank's pair for ANSWERED


async def test_the_bank_shows_thumbs_down_counts_and_filters_stale_pairs(desk: Desk):
    [answer] = await desk.bot.send(FARMER + 6, ANSWERED)
    [down] = [data for _, data in buttons(answer) if data.startswith("fb:n:")]
    await desk.bot.press(FARMER + 6, answer, down)
    csrf = await desk.login()
    stale_question = "පරණ සහනාධාර මුදල කීයද?"
    added = await desk.client.post(
        "/bank/new",
        data={
            "csrf": csrf,
            "question": stale_question,
            "answer": "2020 දී රුපියල් 5,000 යි.",
            "review_by": "2021-01-01",
        },
    )
    assert added.status_code == 303, added.text[:500]

    listed = (await desk.client.get("/bank")).text
    row = listed.split(ANSWERED_QUESTION, 1)[1].split("</tr>", 1)[0]
    assert row.rstrip().endswith("<td>1</td>"), row  # the farmer's 👎 on the pair
    stale = (await desk.client.get("/bank", params={"stale": "1"})).text
    assert stale_question in stale and ANSWERED_QUESTION not in stale
    assert "⏰" in stale
