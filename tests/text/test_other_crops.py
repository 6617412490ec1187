from __future__ import annotations

import csv

import pytest

from bot.config import BUNDLED_BANK
from bot.text.normalize import normalize
from bot.text.other_crops import names_another_crop


@pytest.mark.parametrize(
    "question",
    [
        "පොල් ගහට පොහොර දාන්නේ අවුරුද්දට කී පාරක්ද",
        "ළූණු වගාවට යූරියා කොච්චර දාන්නද",
        "තේ දළු කිලෝවක මිල කීයද?",
        "මිරිස් පැළ වල කොළ කොඩ වෙලා හැකිලෙනවා",
        "එළදෙන රස්නෙට ආවා කියලා දැනගන්නේ කොහොමද",
        "pol gahata pohora mokadda?",
        "best fertilizer for coconut trees?",
        "තල වවන්න හොඳ යලද මහද",
    ],
)
def test_a_question_about_another_crop_is_recognized(question):
    assert names_another_crop(normalize(question))


@pytest.mark.parametrize(
    "question",
    [
        "වී වලට යූරියා කවදද දාන්නේ",
        "කුඹුර කපලා ඉවර වුණාම මුං ඇට දාන්න පුළුවන්ද",  # paddy land: still paddy
        "silver shoot, onion leaf වගේ දළු එනවා, gall midge ද",  # gall midge's symptom
        "ළූණු කොළ වගේ බට එන්නේ ඇයි?",
        "ඩැපොග් වලට කෙසෙල් කොළ ඕනද",  # banana leaves under a dapog nursery
        "කුකුළු පොහොර අමුවෙන් දාන්නද",  # manure a paddy farmer asks about
        "බතලගොඩ ආයතනයේ ගොවි දිනය කවද්ද",  # the institute, not sweet potato
        "රෑට සීතල කාලෙට බ්ලාස්ට්",  # තල inside a word
        "බෙහෙත් බෝතල් තියන්න හොඳම තැන",
        "spray කරන ගමන් break එකක් අරන් tea බොන්න කමක් නැද්ද",
    ],
)
def test_a_paddy_question_is_not_taken_for_another_crop(question):
    assert not names_another_crop(normalize(question))


def test_no_phrasing_of_the_bundled_bank_is_taken_for_another_crop():
    """A pair the bank answers must never be declined as another crop's question."""
    with BUNDLED_BANK.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    phrasings = [row["question"] for row in rows]
    phrasings += [a for row in rows for a in row["alternates"].split("|") if a.strip()]
    assert len(phrasings) > 3000
    assert [p for p in phrasings if names_another_crop(normalize(p))] == []
