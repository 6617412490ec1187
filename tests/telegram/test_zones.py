"""Zone answers over the fake Bot API: the district asked once, remembered, changeable."""

from __future__ import annotations

from sqlalchemy import select

from bot.service.districts import ZONE_NAMES
from bot.storage.importer import OnDuplicate
from bot.storage.models import FarmerProfile
from bot.telegram import texts
from tests.telegram.conftest import ANSWERED, ANSWERED_TEXT, buttons

UREA = "යූරියා පොහොර මුළු ප්‍රමාණය කීයද?"  # a question of the small bank
UREA_AGAIN = "හෙක්ටයාරෙකට යූරියා කීයද"  # one of its alternates
WET = "තෙත් කලාපයේ වාරිමාර්ග කුඹුරට හෙක්ටයාරයකට යූරියා කි.ග්‍රෑ. 140."
DRY = "වියළි කලාපයේ මාත්‍රාව වෙනස්; කෘෂිකර්ම උපදේශක නිලධාරී අහන්න."
ZONE_ROWS = (
    "question,answer,source,zone\n"
    f"{UREA},කලාපය අනුව වෙනස් වෙනවා.,D3,\n"
    f"{UREA},{WET},D3,wet\n"
    f"{UREA},{DRY},D2,dry\n"
)


async def give_urea_zone_answers(bot, tmp_path) -> None:
    path = tmp_path / "zones.csv"
    path.write_text(ZONE_ROWS, encoding="utf-8")
    bot.services.bank.import_file(path, on_duplicate=OnDuplicate.UPDATE)


async def test_a_zone_answer_asks_the_district_once_then_answers_for_its_zone(bot, tmp_path):
    await give_urea_zone_answers(bot, tmp_path)
    [ask] = await bot.send(301, UREA)
    assert ask["text"] == texts.ASK_DISTRICT
    districts = buttons(ask)
    assert len(districts) == 25 and all(len(data.encode()) <= 64 for _, data in districts)
    polonnaruwa = next(data for label, data in districts if label == "පොළොන්නරුව")

    await bot.press(301, ask, polonnaruwa)
    [answer] = (await bot.fake.wait_for_messages(301, 2))[1:]
    assert bot.message(301, ask["message_id"])["text"].startswith("✅ දිස්ත්‍රික්කය: පොළොන්නරුව")
    assert answer["text"].startswith(texts.for_zone(ZONE_NAMES["dry"]))
    assert DRY in answer["text"] and WET not in answer["text"]
    assert answer["text"].endswith("මූලාශ්‍රය: කෘෂිකර්ම දෙපාර්තමේන්තුව, වී පර්යේෂණ හා සංවර්ධන ආයතනය")
    assert [label for label, _ in buttons(answer)] == [
        texts.HELPFUL_BUTTON,
        texts.NOT_HELPFUL_BUTTON,
    ]

    [again] = await bot.send(301, UREA_AGAIN)  # remembered: no second question
    assert DRY in again["text"]
    with bot.services.session_factory() as session:
        [profile] = session.scalars(select(FarmerProfile))
    assert (profile.chat_id, profile.district, profile.zone) == (301, "polonnaruwa", "dry")


async def test_district_command_changes_the_zone_answers_are_for(bot, tmp_path):
    await give_urea_zone_answers(bot, tmp_path)
    [menu] = await bot.send(302, "/district")
    assert menu["text"] == texts.CHOOSE_DISTRICT
    kalutara = next(data for label, data in buttons(menu) if label == "කළුතර")
    await bot.press(302, menu, kalutara)
    await bot.fake.wait_until(lambda: bot.message(302, menu["message_id"])["text"].startswith("✅"))
    [answer] = await bot.send(302, UREA)
    assert WET in answer["text"] and answer["text"].startswith(texts.for_zone(ZONE_NAMES["wet"]))


async def test_an_answer_that_holds_everywhere_never_asks_and_shows_its_source(bot):
    [answer] = await bot.send(303, ANSWERED)
    assert answer["text"].startswith(ANSWERED_TEXT)
    assert "මූලාශ්‍රය: කෘෂිකර්ම දෙපාර්තමේන්තුව" in answer["text"]
    with bot.services.session_factory() as session:
        assert list(session.scalars(select(FarmerProfile))) == []


async def test_a_forged_district_button_changes_nothing(bot, tmp_path):
    await give_urea_zone_answers(bot, tmp_path)
    [ask] = await bot.send(304, UREA)
    await bot.press(304, ask, "dz:-:-:atlantis")
    with bot.services.session_factory() as session:
        assert list(session.scalars(select(FarmerProfile))) == []
    assert bot.fake.calls_to("answerCallbackQuery")[-1].params["text"] == texts.UNKNOWN_DISTRICT
