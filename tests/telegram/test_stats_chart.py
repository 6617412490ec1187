"""/stats over the fake Bot API: the report, then a chart of the last 30 days as a photo."""

from __future__ import annotations

import asyncio

import httpx

from bot.storage.models import Feedback, FeedbackKind
from bot.telegram import admin, texts
from tests.telegram.conftest import ADMIN, ANSWERED, OFF_TOPIC

FARMER = 302
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must come first."""
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


async def test_an_officer_gets_the_report_and_a_chart(bot):
    await bot.send(FARMER, OFF_TOPIC)
    await bot.send(FARMER, ANSWERED)
    pair = bot.services.bank.list()[0]
    with bot.services.session_factory() as session:
        for kind in (FeedbackKind.NOT_HELPFUL, FeedbackKind.NOT_HELPFUL, FeedbackKind.HELPFUL):
            session.add(Feedback(pair_id=pair.id, kind=kind))
        session.commit()

    report, chart = await bot.send(ADMIN, "/stats", expect=2)
    assert "අද ප්‍රශ්න: 2" in report["text"]
    assert f"#{pair.id} " in report["text"] and "👎 2 / 👍 1" in report["text"]
    assert chart["caption"] == texts.STATS_CHART_CAPTION
    name, data = bot.fake.uploaded(chart)
    assert name.endswith(".png") and png_size(data) == (1200, 700)
    assert (chart["photo"][0]["width"], chart["photo"][0]["height"]) == (1200, 700)


async def test_before_any_question_the_report_comes_alone(bot, monkeypatch):
    drawn = []
    monkeypatch.setattr(admin, "render_daily_chart", lambda days: drawn.append(days) or b"")
    [report] = await bot.send(ADMIN, "/stats")
    assert "අද ප්‍රශ්න: 0" in report["text"]
    await asyncio.sleep(0.3)  # the handler returns right after the report when there is none
    assert drawn == [] and bot.fake.calls_to("sendPhoto") == []


async def test_a_farmer_asking_for_stats_gets_no_chart(bot):
    await bot.send(FARMER, OFF_TOPIC)
    [refusal] = await bot.send(FARMER, "/stats")
    assert refusal["text"] == texts.ADMINS_ONLY
    await asyncio.sleep(0.3)
    assert bot.fake.calls_to("sendPhoto") == []


async def test_the_fake_refuses_photos_telegram_would_refuse(fake_api):
    url = f"{fake_api.base_url}{fake_api.token}/sendPhoto"
    sides = (20_000).to_bytes(4, "big") + (1).to_bytes(4, "big")
    strip = PNG_SIGNATURE + bytes(4) + b"IHDR" + sides  # 20,000 x 1 px
    async with httpx.AsyncClient() as client:
        missing = await client.post(url, data={"chat_id": "1"})
        not_image = await client.post(
            url, data={"chat_id": "1"}, files={"photo": ("a.png", b"not a picture")}
        )
        unknown = await client.post(url, data={"chat_id": "1", "photo": "no-such-file"})
        too_long = await client.post(url, data={"chat_id": "1"}, files={"photo": ("a.png", strip)})
    descriptions = [r.json()["description"] for r in (missing, not_image, unknown, too_long)]
    assert [r.status_code for r in (missing, not_image, unknown, too_long)] == [400] * 4
    assert descriptions == [
        "Bad Request: there is no photo in the request",
        "Bad Request: IMAGE_PROCESS_FAILED",
        "Bad Request: wrong file identifier/HTTP URL specified",
        "Bad Request: PHOTO_INVALID_DIMENSIONS",
    ]
    assert len(fake_api.rejected) == 4
    fake_api.rejected.clear()  # refused on purpose: the fixture's check is for the bot
