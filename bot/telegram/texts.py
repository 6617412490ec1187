"""Every text the bot shows, in plain farmers' Sinhala, and splitting long ones for Telegram."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from bot.errors import RowError
from bot.retrieval.decision import Decision
from bot.storage.stats import Stats

MAX_MESSAGE = 4096  # Telegram counts UTF-16 code units

HOTLINE = "1920"
OFFICER = "කෘෂිකර්ම උපදේශක නිලධාරී"

# --- farmers ------------------------------------------------------------------------

# Questions the bot shows farmers as examples; tests/test_examples.py asks each one and
# checks the bot answers it with the pair it is meant to show.
EXAMPLE_SOAKING = "වී බීජ පොඟවන්නේ කොපමණ කාලයක්ද?"
EXAMPLE_BPH = "දුඹුරු පැළ කීඩෑවා පාලනය කරන්නේ කොහොමද?"
EXAMPLES = (EXAMPLE_SOAKING, EXAMPLE_BPH)

WELCOME = (
    "ආයුබෝවන්! 🌾\n"
    "මම වී ගොවිතැන ගැන ප්‍රශ්නවලට උත්තර දෙන සහායකයා.\n\n"
    "මගෙන් අහන්න පුළුවන්: බිත්තර වී සහ තවාන්, වී වර්ග, පොහොර දාන හැටි, පළිබෝධ සහ රෝග, "
    "යල-මහ කන්න, අස්වනු නෙළීම, වී වේලීම සහ ගබඩා කිරීම, වගා රක්ෂණය.\n\n"
    "ඔබේ ප්‍රශ්නය සිංහලෙන්, කතා කරන විදිහටම ලියලා එවන්න. උදාහරණයක්:\n"
    f'"{EXAMPLE_SOAKING}"\n\n'
    "මා ළඟ උත්තරයක් නැති ප්‍රශ්නයක් නම්, මම ඒක කෘෂිකර්ම නිලධාරියෙකුට යවනවා. "
    "එයාගේ උත්තරය මෙතනටම එනවා.\n\n"
    "මතක තියාගන්න: මගේ උත්තර උපදෙස් විතරයි. ඔබේ කුඹුරටම ගැළපෙන උපදෙස් ඕන නම් "
    f"ගොවිජන සේවා මධ්‍යස්ථානයේ {OFFICER} හමුවෙන්න, නැත්නම් කෘෂිකර්ම දෙපාර්තමේන්තුවේ {HOTLINE} "
    "ඇමතුම් සේවාවට කතා කරන්න."
)


def privacy_note(retention_days: int) -> str:
    """The line /start adds under WELCOME: what the bot keeps, for how long, and /forget."""
    return (
        f"🔒 ඔබ අහන ප්‍රශ්න, ඔබ ඔබන 👍/👎 සහ ඔබේ දිස්ත්‍රික්කය මම දවස් {retention_days}ක් "
        "තියාගන්නවා. ඒ ඔක්කොම මකලා දාන්න ඕන නම් /forget ඔබන්න."
    )


def welcome(retention_days: int) -> str:
    return f"{WELCOME}\n\n{privacy_note(retention_days)}\n\n{TOPICS_HINT}"


# --- topics: tap instead of type ------------------------------------------------------

TOPICS_HINT = "👇 නැත්නම් මාතෘකාවක් ඔබලා, ගොවීන් නිතර අහන ප්‍රශ්න බලන්න."
# the buttons under /start, by the keys of bot.service.topics.TOPICS
TOPIC_BUTTONS = {
    "seasons": "🌦️ කන්න සහ කාලගුණය",
    "varieties": "🌾 වී වර්ග",
    "nursery": "🌱 බිත්තර වී සහ තවාන්",
    "fertilizer": "🧪 පොහොර",
    "pests": "🐛 පළිබෝධ සහ වල් පැළ",
    "diseases": "🍂 රෝග",
    "water": "💧 වතුර",
    "harvest": "🚜 අස්වැන්න සහ ගබඩා",
}
TOPIC_EMPTY = "මේ මාතෘකාවේ ප්‍රශ්න තවම නැහැ. ඔබේ ප්‍රශ්නය ලියලා එවන්න."


def topic_questions(label: str) -> str:
    return f"{label}\n\nගොවීන් නිතර අහන ප්‍රශ්න. ඔබට ඕන ප්‍රශ්නය ඔබන්න."


HELP = (
    "ℹ️ මාව පාවිච්චි කරන හැටි\n\n"
    "• ඔබේ ප්‍රශ්නය සිංහලෙන් ලියලා එවන්න. කෙටියෙන්, පැහැදිලිව අහන්න: "
    f'"{EXAMPLE_BPH}"\n'
    "• උත්තරයට පස්සේ 👍 හෝ 👎 ඔබන්න. ඒකෙන් මට හොඳට ඉගෙනගන්න උදව් වෙනවා.\n"
    '• "ඔබ අහන්නේ මේකද?" කියලා ප්‍රශ්න කිහිපයක් ආවොත්, ගැළපෙන එක ඔබන්න. '
    'එකක්වත් ගැළපෙන්නේ නැත්නම් "මේ එකක්වත් නෙවෙයි" ඔබන්න; මම ප්‍රශ්නය නිලධාරියෙකුට යවන්නම්.\n'
    "• හඬ පණිවිඩයක් හෝ ඡායාරූපයක් (උදා: ලෙඩ වැටුණු කොළයක) එවන්නත් පුළුවන්. "
    "මම ඒක කෘෂිකර්ම නිලධාරියෙකුට යවනවා; එයාගේ උත්තරය මෙතනටම එනවා.\n"
    "• ලියන්න අමාරු නම් /start ඔබලා මාතෘකාවක් (පොහොර, පළිබෝධ, ලෙඩ ...) තෝරන්න; "
    "ගොවීන් වැඩිපුරම අහන ප්‍රශ්න බොත්තම් විදිහට එනවා.\n"
    "• /district — ඔබේ දිස්ත්‍රික්කය (පොහොර වගේ උපදෙස් ඒ අනුව). "
    "/forget — මම ඔබ ගැන තියාගත්ත හැම දෙයක්ම මකන්න.\n\n"
    f"තවත් උදව් ඕන නම්: ප්‍රදේශයේ {OFFICER} හෝ {HOTLINE} ඇමතුම් සේවාව."
)

HELPFUL_BUTTON = "👍 ප්‍රයෝජනවත්"
NOT_HELPFUL_BUTTON = "👎 ප්‍රයෝජන නැහැ"
THANKS_BUTTON = "🙏 ස්තූතියි!"
THANKS_FOR_FEEDBACK = "ඔබේ අදහසට ස්තූතියි!"
SORRY_NOT_HELPFUL = f"සමාවෙන්න. වැඩි විස්තර සඳහා ප්‍රදේශයේ {OFFICER} හමුවෙන්න, නැත්නම් {HOTLINE} අමතන්න."

DID_YOU_MEAN = "🤔 ඔබ අහන්නේ මේ ප්‍රශ්නයක්ද? ගැළපෙන ප්‍රශ්නයේ අංකය ඔබන්න."
NONE_OF_THESE = "❌ මේ එකක්වත් නෙවෙයි"
SENT_TO_OFFICER = (
    "ඔබේ ප්‍රශ්නයට හරි උත්තරයක් දැනට මා ළඟ නැහැ. 🙏\n"
    "මම ප්‍රශ්නය කෘෂිකර්ම නිලධාරියෙකුට යැව්වා. එයා උත්තර දුන්න ගමන් ඒක මෙතනටම එවන්නම්.\n"
    f"හදිසි නම් {HOTLINE} අමතන්න."
)
OTHER_CROP_SENT_TO_OFFICER = (
    "මම උදව් කරන්නේ වී වගාව ගැන විතරයි. 🌾\n"
    "ඔබේ ප්‍රශ්නය කෘෂිකර්ම නිලධාරියෙකුට යැව්වා. එයා උත්තර දුන්න ගමන් ඒක මෙතනටම එවන්නම්.\n"
    f"හදිසි නම් {HOTLINE} අමතන්න."
)
REJECTED_SENT_TO_OFFICER = "හරි. 🙏 මම ඔබේ ප්‍රශ්නය කෘෂිකර්ම නිලධාරියෙකුට යැව්වා. උත්තරය ලැබුණ ගමන් මෙතනටම එවන්නම්."
BUTTON_NOT_VALID = "සමාවෙන්න, මේ බොත්තම දැන් වැඩ කරන්නේ නැහැ. ප්‍රශ්නය ආයෙත් අහන්න."
ANSWER_GONE = "සමාවෙන්න, ඒ උත්තරය දැන් නැහැ. කරුණාකර ප්‍රශ්නය ආයෙත් අහන්න."
ALREADY_ASKED = "ඔබ මේ ප්‍රශ්නය දැන් ටිකකට කලින් ඇහුවා. උත්තරය උඩින් තියෙනවා. 🙂"
ALREADY_WITH_OFFICER = (
    "ඔබ මේ ප්‍රශ්නය දැන් ටිකකට කලින් ඇහුවා. ඒක දැනටමත් නිලධාරියෙකු ළඟ තියෙනවා; "
    "උත්තරය ලැබුණ ගමන් මෙතනටම එවන්නම්. 🙏"
)
SLOW_DOWN = "ඔබ පණිවිඩ ගොඩක් ඉක්මනට එවනවා. කරුණාකර විනාඩියක් ඉඳලා ආයෙත් අහන්න. 🙏"
SOMETHING_WENT_WRONG = f"සමාවෙන්න, පොඩි දෝෂයක් ආවා. 🙏 ටිකකින් ආයෙත් උත්සාහ කරන්න, නැත්නම් {HOTLINE} අමතන්න."

# Voice notes and photos go to an officer; the queue shows these when there are no words.
VOICE_PLACEHOLDER = "🎤 හඬ පණිවිඩයක්"
PHOTO_PLACEHOLDER = "📷 ඡායාරූපයක්"
VOICE_QUEUED = (
    "🎤 ඔබේ හඬ පණිවිඩය ලැබුණා, ස්තූතියි! 🙏\n"
    "මම ඒක කෘෂිකර්ම නිලධාරියෙකුට යැව්වා. එයා අහලා උත්තරය මෙතනටම එවයි.\n"
    f"හදිසි නම් {HOTLINE} අමතන්න."
)
PHOTO_QUEUED = (
    "📷 ඔබේ ඡායාරූපය ලැබුණා, ස්තූතියි! 🙏\n"
    "මම ඒක කෘෂිකර්ම නිලධාරියෙකුට යැව්වා. එයා බලලා උත්තරය මෙතනටම එවයි.\n"
    f"හදිසි නම් {HOTLINE} අමතන්න."
)
VOICE_WRONG_TYPE = (
    "සමාවෙන්න, මේ හඬ පටය මට විවෘත කරන්න බැහැ. 🙏 "
    "Telegram එකේ 🎤 බොත්තම ඔබාගෙන කතා කරලා එවන්න, නැත්නම් ප්‍රශ්නය ලියලා එවන්න."
)
PHOTO_WRONG_TYPE = (
    "සමාවෙන්න, මේ ඡායාරූපය මට විවෘත කරන්න බැහැ. 🙏 "
    "කැමරාවෙන් ගත්ත ඡායාරූපයක් එවන්න, නැත්නම් ලක්ෂණ වචනවලින් ලියලා එවන්න "
    '(උදා: "කොළවල දුඹුරු ලප වැටිලා").'
)
VIDEO_NOT_YET = (
    "සමාවෙන්න, මට තවම වීඩියෝ බලන්න බැහැ. 🙏 "
    "ඡායාරූපයක් හෝ හඬ පණිවිඩයක් එවන්න, නැත්නම් ප්‍රශ්නය ලියලා එවන්න."
)


def media_too_big(limit_mb: float) -> str:
    return (
        f"සමාවෙන්න, මේ ගොනුව ලොකු වැඩියි (MB {limit_mb:g}ට වඩා). 🙏 "
        "කෙටි හඬ පණිවිඩයක් හෝ පොඩි ඡායාරූපයක් එවන්න, නැත්නම් ප්‍රශ්නය ලියලා එවන්න."
    )


STICKER_REPLY = "🙂 ඔබේ ප්‍රශ්නය වචනවලින් ලියලා එවන්න, මම උදව් කරන්නම්."
LOCATION_NOT_YET = (
    "ස්තූතියි, හැබැයි මට තවම ස්ථානය අනුව උපදෙස් දෙන්න බැහැ. ඔබේ ප්‍රශ්නය ලියලා එවන්න. "
    f"ඔබේ ප්‍රදේශයටම ගැළපෙන උපදෙස් ඕන නම් ගොවිජන සේවා මධ්‍යස්ථානයේ {OFFICER} හමුවෙන්න."
)
DOCUMENT_NOT_YET = "සමාවෙන්න, මට ගොනු කියවන්න බැහැ. ඔබේ ප්‍රශ්නය පණිවිඩයක් විදිහට ලියලා එවන්න."
TEXT_ONLY = "දැනට මට තේරෙන්නේ ලියපු ප්‍රශ්න විතරයි. ඔබේ ප්‍රශ්නය සිංහලෙන් ලියලා එවන්න."
ADMINS_ONLY = "සමාවෙන්න, මේ විධානය කෘෂිකර්ම නිලධාරීන්ට විතරයි. 🙏 වී වගාව ගැන ප්‍රශ්නයක් තියෙනවා නම් ඒක ලියලා එවන්න."


ASK_DISTRICT = (
    "📍 මේ උත්තරය කලාපය අනුව වෙනස් වෙනවා (පොහොර ප්‍රමාණ වගේ දේවල්). "
    "ඔබේ කුඹුර තියෙන දිස්ත්‍රික්කය තෝරන්න. මම ඒක මතක තියාගන්නම්; පස්සේ /district එකෙන් වෙනස් කරන්න පුළුවන්."
)
CHOOSE_DISTRICT = "📍 ඔබේ කුඹුර තියෙන දිස්ත්‍රික්කය තෝරන්න."
UNKNOWN_DISTRICT = "සමාවෙන්න, ඒ දිස්ත්‍රික්කය හඳුනාගන්න බැරි වුණා. /district ආයෙත් ඔබන්න."


FORGET_ASK = (
    "🔒 ඔබ මෙතෙක් ඇහුව ප්‍රශ්න, ඔබේ 👍/👎 සහ ඔබේ දිස්ත්‍රික්කය මම මකලා දාන්නද?\n"
    "නිලධාරියෙකුට යවපු, තවම උත්තර නොලැබුණු ප්‍රශ්න තියෙනවා නම් ඒවත් මැකෙනවා; "
    "එතකොට ඒවට උත්තර එන්නේ නැහැ. මකපු දේවල් ආපහු ගන්න බැහැ."
)
FORGET_YES = "🗑️ ඔව්, මකන්න"
FORGET_NO = "❌ එපා"
FORGET_DONE = (
    "✅ හරි, ඔබේ ප්‍රශ්න, 👍/👎 සහ දිස්ත්‍රික්කය ඔක්කොම මැකුවා. "
    "ඕන වෙලාවක ආයෙත් ප්‍රශ්න අහන්න පුළුවන්."
)
FORGET_CANCELLED = "හරි, මුකුත් මැකුවේ නැහැ. 🙂"


def district_saved(name: str, zone_name: str) -> str:
    return f"✅ දිස්ත්‍රික්කය: {name} ({zone_name}). වෙනස් කරන්න ඕන නම් /district ඔබන්න."


def for_zone(zone_name: str) -> str:
    return f"📍 {zone_name}ට (ඔබේ දිස්ත්‍රික්කය අනුව):"


def answer_text(answer: str, source: str | None, zone_name: str | None = None) -> str:
    """What a farmer reads: the zone it is for (if it depends on one), the answer, its source."""
    parts = [for_zone(zone_name)] if zone_name else []
    parts.append(answer)
    if source:
        parts.append(f"\n{source}")
    return "\n".join(parts)


SUGGESTION_CHARS = 1000  # three options and the heading always fit one message


def did_you_mean(questions: Sequence[str]) -> str:
    """The heading, then each option in full, numbered like the buttons under it."""
    options = [f"{n}. {preview(q, SUGGESTION_CHARS)}" for n, q in enumerate(questions, 1)]
    return DID_YOU_MEAN + "\n\n" + "\n\n".join(options)


def you_chose(question: str) -> str:
    return f"✅ ඔබ තෝරාගත්තේ: {question}"


def officer_answer(question: str, answer: str) -> str:
    return f'🌾 ඔබ ඇහුව ප්‍රශ්නයට කෘෂිකර්ම නිලධාරියාගේ උත්තරය:\n\n❓ "{question}"\n\n{answer}'


# --- command menus ------------------------------------------------------------------

FARMER_COMMANDS = [
    ("start", "පටන් ගන්න: මට කරන්න පුළුවන් දේ"),
    ("help", "උදව්: අහන හැටි"),
    ("district", "ඔබේ දිස්ත්‍රික්කය තෝරන්න (පොහොර වගේ උපදෙස් ඒ අනුව)"),
    ("forget", "මා ළඟ තියෙන ඔබේ ප්‍රශ්න සහ තොරතුරු මකන්න"),
]
ADMIN_COMMANDS = [
    ("add", "අලුත් ප්‍රශ්නයක් සහ උත්තරයක් එකතු කරන්න"),
    ("edit", "ප්‍රශ්නයක් හෝ උත්තරයක් වෙනස් කරන්න"),
    ("delete", "ප්‍රශ්නයක් මකන්න"),
    ("find", "ප්‍රශ්න බැංකුවේ සොයන්න"),
    ("export", "ප්‍රශ්න බැංකුව CSV ගොනුවක් ලෙස"),
    ("unanswered", "උත්තර නැති ප්‍රශ්න"),
    ("answer", "ගොවියාගේ ප්‍රශ්නයකට උත්තර දෙන්න"),
    ("link", "ගොවියාගේ ප්‍රශ්නය තියෙන ප්‍රශ්නයකට සම්බන්ධ කරන්න"),
    ("dismiss", "ප්‍රශ්නයක් පෝලිමෙන් ඉවත් කරන්න"),
    ("alerts", "අලුත් ප්‍රශ්න ගැන දැනුම්දීම් (on / off)"),
    ("pending", "ගොවීන් තෝරපු අලුත් අහන විදිහවල් අනුමත කරන්න"),
    ("stats", "සංඛ්‍යා ලේඛන"),
    ("retrain", "ආකෘතිය නැවත පුහුණු කරන්න"),
    ("web", "වෙබ් මේසය (web desk) විවෘත කරන සබැඳිය"),
]

# --- officers (admins) --------------------------------------------------------------

ADMIN_HELP = (
    "\n\n🛠 නිලධාරී විධාන\n"
    "/add ප්‍රශ්නය || උත්තරය\n"
    "/add ප්‍රශ්නය || උත්තරය || වෙනත් විදිහ 1 | වෙනත් විදිහ 2 — අහන වෙනත් විදිහත් එක්ක\n"
    "/edit ID ප්‍රශ්නය || උත්තරය — ප්‍රශ්නය හිස් නම් එලෙසම තියෙනවා: /edit 12 || අලුත් උත්තරය\n"
    "/delete ID — මකන්න\n"
    "/find වචන — ළඟම ප්‍රශ්න සොයන්න (/find 12 — අංක 12 සම්පූර්ණයෙන්)\n"
    "CSV හෝ JSONL ගොනුවක් එවන්න — ආනයනය; වැරදි පේළියක් තිබුණොත් කිසිවක් එකතු වෙන්නේ නැහැ\n"
    "/export — මුළු ප්‍රශ්න බැංකුවම CSV ගොනුවක් ලෙස\n"
    "/unanswered — උත්තර නැති ප්‍රශ්න (පිටු වශයෙන්)\n"
    "/answer ID උත්තරය — ගොවියාට උත්තරය යවා බැංකුවට එකතු කරන්න\n"
    "/link ID QA_ID — ගොවියාගේ ප්‍රශ්නය තියෙන ප්‍රශ්නයකට සම්බන්ධ කර ඒ උත්තරය යවන්න\n"
    "/dismiss ID — පෝලිමෙන් ඉවත් කරන්න (හේතුව තෝරන්න)\n"
    "දැනුම්දීමකට හෝ ✍️ ට reply කරලා උත්තරය ලිව්වත් ඒ ප්‍රශ්නයට උත්තරය යනවා\n"
    "/alerts off · /alerts on — අලුත් ප්‍රශ්න ගැන දැනුම්දීම් නවත්වන්න / පටන් ගන්න\n"
    "/pending — ගොවීන් \"ඔබ අහන්නේ මේකද?\" තෝරපු අහන විදිහවල්: ✅ අනුමත කළොත් විතරයි බැංකුවට\n"
    "/stats — සංඛ්‍යා ලේඛන\n"
    "/retrain — ආකෘතිය නැවත පුහුණු කරන්න\n"
    "/web — වෙබ් මේසයට (web desk) ඇතුළු වන සබැඳියක් (මිනිත්තු 10, එක් වරක්)"
)

USAGE_ADD = "භාවිතය: /add ප්‍රශ්නය || උත්තරය\nවෙනත් විදිහවල් එක්ක: /add ප්‍රශ්නය || උත්තරය || විදිහ 1 | විදිහ 2"
USAGE_EDIT = "භාවිතය: /edit ID ප්‍රශ්නය || උත්තරය   (උත්තරය විතරක්: /edit ID || උත්තරය)"
USAGE_DELETE = "භාවිතය: /delete ID"
USAGE_FIND = "භාවිතය: /find වචන   හෝ   /find ID"
USAGE_ANSWER = "භාවිතය: /answer ID උත්තරය"
USAGE_LINK = "භාවිතය: /link ID QA_ID"
USAGE_DISMISS = "භාවිතය: /dismiss ID"
USAGE_ALERTS = "භාවිතය: /alerts on   හෝ   /alerts off"
ALERTS_ON = "🔔 අලුත් ප්‍රශ්න ආවම දැනුම් දෙන්නම්."
ALERTS_OFF = "🔕 අලුත් ප්‍රශ්න ගැන දැනුම්දීම් නැවැත්තුවා. ආයෙත් පටන් ගන්න: /alerts on"
CANCELLED = "අවලංගු කළා."
CHOOSE_DISMISS_REASON = (
    "ඉවත් කරන්නේ ඇයි? (පෝලිමෙන් ඉවත් වෙනවා; අදාළ නැති හෝ වී ගැන නොවන නම් "
    "ගොවියාට කාරුණිකව කියනවා)"
)
ANSWER_BUTTON = "✍️ උත්තරය"
OFF_TOPIC_BUTTON = "🚫 අදාළ නැහැ"
CANCEL_BUTTON = "✖️ එපා"
DISMISS_REASONS = {
    "off_topic": "🚫 අදාළ නැහැ",
    "not_paddy": "🌴 වී ගැන නොවේ",
    "duplicate": "♊ දෙවරක්",
    "spam": "🗑 spam",
}
FARMER_OFF_TOPIC = (
    "🙏 ඔබේ පණිවිඩය නිලධාරියෙක් බැලුවා. මේ බොට් එකෙන් උත්තර දෙන්නේ වී වගාව ගැන ප්‍රශ්නවලට විතරයි. "
    f"වෙනත් දේවල් ගැන {HOTLINE} අමතන්න."
)
FARMER_NOT_PADDY = (
    "🙏 ඔබේ ප්‍රශ්නය නිලධාරියෙක් බැලුවා. ඒක වී වගාව ගැන නොවන නිසා මෙතනින් උත්තර දෙන්න බැහැ. "
    f"වෙනත් බෝග ගැන ඔබේ ප්‍රදේශයේ කෘෂිකර්ම උපදේශකගෙන් හෝ {HOTLINE} අමතලා අහන්න."
)
NOTHING_FOUND = "ගැළපෙන ප්‍රශ්න හමු වුණේ නැහැ."
QUEUE_EMPTY = "🎉 උත්තර බලාපොරොත්තුවෙන් ඉන්න ප්‍රශ්න නැහැ."
QUEUE_HINT = "උත්තර දෙන්න: /answer ID උත්තරය · සම්බන්ධ කරන්න: /link ID QA_ID"
PREVIOUS_PAGE = "◀ කලින්"
NEXT_PAGE = "ඊළඟ ▶"
IMPORT_WRONG_TYPE = "CSV (.csv) හෝ JSONL (.jsonl) ගොනුවක් එවන්න."
IMPORT_TOO_BIG = "ගොනුව විශාල වැඩියි (MB 20 ට අඩු විය යුතුයි)."
FARMER_UNREACHABLE = "⚠️ සුරැකුවා, හැබැයි ගොවියාට පණිවිඩය යවන්න බැරි වුණා."
RETRAIN_STARTED = "⏳ නැවත පුහුණුව පටන් ගත්තා. ප්‍රගතිය මෙතනට එවන්නම්."
RETRAIN_BUSY = "නැවත පුහුණුවක් දැනටමත් යනවා. ඒක ඉවර වෙනකම් ඉන්න."
RETRAIN_UNAVAILABLE = "මේ ස්ථාපනයේ නැවත පුහුණු කිරීම තවම නැහැ."
RETRAIN_FAILED = "❌ නැවත පුහුණුව අසාර්ථක වුණා. විස්තර ලොග් එකේ තියෙනවා."
STATS_CHART_CAPTION = "📈 පසුගිය දින 30, දිනපතා ප්‍රශ්න (ශ්‍රී ලංකා වේලාවෙන්)"


def queue_find_button(item_id: int) -> str:
    return f"🔎 #{item_id}"


def queue_dismiss_button(item_id: int) -> str:
    return f"🗑 #{item_id}"


def pair_added(pair_id: int, question: str, alternates: int) -> str:
    extra = f" (වෙනත් විදිහ {alternates}ක් එක්ක)" if alternates else ""
    return f"✅ අංක {pair_id} ලෙස එකතු කළා{extra}: {question}"


def pair_updated(pair_id: int) -> str:
    return f"✅ අංක {pair_id} යාවත්කාලීන කළා."


def pair_deleted(pair_id: int) -> str:
    return f"🗑 අංක {pair_id} මැකුවා."


def pair_not_found(pair_id: int | str) -> str:
    return f"අංක {pair_id} ලෙස ප්‍රශ්නයක් බැංකුවේ නැහැ."


def duplicate_question(existing_id: int) -> str:
    return f"මේ ප්‍රශ්නය දැනටමත් බැංකුවේ අංක {existing_id} ලෙස තියෙනවා. වෙනස් කරන්න: /edit {existing_id} ..."


def invalid_pair(reason: str) -> str:
    return f"එකතු කරන්න බැහැ: {reason}"


def pair_details(pair_id: int, question: str, answer: str, alternates: Sequence[str]) -> str:
    others = "".join(f"\n  • {text}" for text in alternates)
    return f"#{pair_id} ❓ {question}\n💬 {answer}" + (f"\nවෙනත් විදිහ:{others}" if others else "")


def find_results(rows: Sequence[tuple[int, float, str]]) -> str:
    lines = [f"#{pair_id} ({score:.2f}) {question}" for pair_id, score, question in rows]
    return "🔎 ළඟම ප්‍රශ්න:\n" + "\n".join(lines)


def import_done(added: int, updated: int, duplicates: Sequence[tuple[int, int]]) -> str:
    text = f"📥 ආනයනය අවසන්: අලුත් {added}, යාවත්කාලීන {updated}, දැනටමත් තිබුණු {len(duplicates)}."
    shown = [f"පේළිය {line} → අංක {pair_id}" for line, pair_id in duplicates[:20]]
    return text + ("\n" + "\n".join(shown) if shown else "")


def import_too_many(rows: int, limit: int) -> str:
    return (
        f"❌ කිසිවක් ආනයනය කළේ නැහැ: ගොනුවේ ප්‍රශ්න {rows}ක් තියෙනවා, එක වරකට {limit}ක් "
        "පමණයි. ගොනුව කොටස්වලට කඩලා එවන්න, නැත්නම් `agribot qa import` භාවිත කරන්න."
    )


def import_rejected(errors: Sequence[RowError]) -> str:
    lines = [f"පේළිය {error.line}: {error.message}" for error in errors[:50]]
    more = f"\n... තවත් {len(errors) - 50}ක්" if len(errors) > 50 else ""
    return f"❌ කිසිවක් ආනයනය කළේ නැහැ. වැරදි පේළි {len(errors)}ක්:\n" + "\n".join(lines) + more


def export_caption(count: int) -> str:
    return f"📤 ප්‍රශ්න බැංකුව: ප්‍රශ්න {count}ක්"


QUEUE_PREVIEW_CHARS = 400  # five previews and the hint always fit one message


def queue_page(items: Sequence[tuple[int, datetime, str]], offset: int, total: int) -> str:
    """A page of the queue; long questions are shown in part (🔎 shows one whole)."""
    lines = [
        f"#{item_id} · {asked:%Y-%m-%d} · {preview(text, QUEUE_PREVIEW_CHARS)}"
        for item_id, asked, text in items
    ]
    header = f"❓ උත්තර නැති ප්‍රශ්න {offset + 1}-{offset + len(items)} / {total}"
    return header + "\n\n" + "\n\n".join(lines) + "\n\n" + QUEUE_HINT


def feedback_mark(given_pair_id: int | None) -> str:
    """How a 👎 item is marked in the queue: the answer it was about."""
    return f"👎 අංක {given_pair_id} උත්තරයට: " if given_pair_id is not None else "👎 "


MEDIA_PREVIEW_CHARS = 400  # a caption holds 1,024 UTF-16 units; emoji take two each
QUEUE_MEDIA_HINT = "🎤/📷: 🔎 ඔබන්න, අහන්න / බලන්න එවන්නම්."
ANSWER_AS_TEXT = (
    "උත්තර ගොවියාට යවන්න පුළුවන් ලියපු පණිවිඩයකින් විතරයි. "
    "❓ # තියෙන පණිවිඩයට උත්තරය ලියලා reply කරන්න."
)


def media_mark(kind: str) -> str:
    return "🎤" if kind == "voice" else "📷"


def media_caption(item_id: int, shown: str) -> str:
    """A farmer's voice note or photo shown again to an officer; replying to it answers it."""
    return (
        f"{item_marker(item_id)} {preview(shown, MEDIA_PREVIEW_CHARS)}\n\n"
        f"උත්තරය මේකට reply එකක් ලෙස ලියන්න (නැත්නම් /answer {item_id} උත්තරය)."
    )


def item_marker(item_id: int) -> str:
    """How a queue item is named in messages an officer may reply to (see ITEM_MARKER)."""
    return f"❓ #{item_id}"


ITEM_MARKER = re.compile(r"❓ #(\d{1,19})")
QUESTION_MARKER = re.compile(r"✏️ #(\d{1,19})")  # a prompt for an item's public question
PREVIEW_ANSWER_CHARS = 1500
PREVIEW_SEND_BUTTON = "✅ යවන්න"
PREVIEW_EDIT_BUTTON = "✏️ ප්‍රශ්නය වෙනස් කරන්න"


def answer_preview(
    item_id: int,
    farmer_text: str,
    answer: str,
    question: str | None,
    others: int,
    keep_words: bool = True,
) -> str:
    """Before an officer's answer goes out: what the farmer and the bank will get."""
    shown = officer_answer(farmer_text, answer)  # as the farmer sees it, lines kept
    if len(shown) > PREVIEW_ANSWER_CHARS:
        shown = shown[: PREVIEW_ANSWER_CHARS - 1].rstrip() + "…"
    also = f" (එකම ප්‍රශ්නය ඇහුව තවත් {others} දෙනෙකුටත්)" if others else ""
    bank_part = (
        f'බැංකුවට එකතු වෙන ප්‍රශ්නය (අනෙක් ගොවීන්ට පේන්නේ මේකයි):\n"{question}"\n'
        + (
            "ගොවියාගේම වචන සැඟවුණු අහන විදිහක් ලෙස විතරක් තියාගන්නවා."
            if keep_words
            else "ගොවියාගේ වචන දැනටමත් තියෙන ප්‍රශ්නයට අයිතියි; ඒවා එතනම තියෙනවා."
        )
        if question is not None
        else "මේක හඬ පණිවිඩයක් / ඡායාරූපයක්: බැංකුවට කිසිවක් එකතු වෙන්නේ නැහැ."
    )
    return (
        f"👀 {item_marker(item_id)} යවන්න කලින් බලන්න.\n\nගොවියාට යන්නේ{also}:\n\n"
        f"{shown}\n\n{bank_part}\n\nඋත්තරය වෙනස් කරන්න නම් මේ පණිවිඩයට reply කරන්න."
    )


def question_prompt(item_id: int, question: str) -> str:
    """The ForceReply prompt for the public wording of item `item_id`'s question."""
    return (
        f'✏️ #{item_id} අනෙක් ගොවීන්ට පේන ප්‍රශ්නය දැන්: "{question}"\n\n'
        "ප්‍රශ්නය කියවිය යුතු විදිහට මේ පණිවිඩයට reply කරන්න."
    )


def queue_alert(new: int, open_total: int, items: Sequence[tuple[int, str]]) -> str:
    """The officers' alert: how many new questions, and the newest few."""
    lines = [
        f"{item_marker(item_id)} {preview(text, ALERT_PREVIEW_CHARS)}" for item_id, text in items
    ]
    head = f"🔔 ගොවීන්ගෙන් අලුත් ප්‍රශ්න {new}ක් (පෝලිමේ මුළු {open_total}ක්)."
    more = "\n\nඅනෙක් ඒවා: /unanswered" if new > len(items) else ""
    hint = "\n\nඋත්තර දෙන්න ✍️ ඔබන්න, නැත්නම් මේ පණිවිඩයට reply කරන්න." if len(items) == 1 else ""
    return head + "\n\n" + "\n\n".join(lines) + more + hint


ALERT_PREVIEW_CHARS = 300


def answer_prompt(item_id: int, question: str, chars: int = 1000) -> str:
    """The ForceReply prompt: the officer's reply to it answers this item (a voice note's or
    photo's prompt is its caption: `chars` keeps it within Telegram's 1,024)."""
    quoted = preview(question, chars)
    return f'{item_marker(item_id)} "{quoted}"\n\nඋත්තරය මේ පණිවිඩයට reply එකක් ලෙස ලියන්න.'



def link_button(item_id: int, pair_id: int) -> str:
    return f"🔗 #{item_id} → {pair_id}"


def answer_would_replace(item_id: int, pair_id: int, question: str, answer: str) -> str:
    return (
        f"⚠️ ප්‍රශ්නය #{item_id} බැංකුවේ දැනටමත් අංක {pair_id} ලෙස තියෙනවා:\n\"{question}\"\n\n"
        f"දැන් තියෙන උත්තරය:\n{preview(answer, 1500)}\n\n"
        "ඔබේ උත්තරයෙන් ඒක මාරු කරන්නද, දැන් තියෙන උත්තරය ගොවියාට යවන්නද, නැත්නම් "
        "වෙනත් ප්‍රශ්නයක් ලෙස අලුත් එකක් හදන්නද?"
    )


REPLACE_BUTTON = "✏️ මගේ උත්තරයෙන් මාරු කරන්න"
SEND_EXISTING_BUTTON = "📨 තියෙන උත්තරය යවන්න"
NEW_PAIR_BUTTON = "🆕 වෙනත් ප්‍රශ්නයක් ලෙස අලුතින්"
ANSWER_EXPIRED = "මේ තේරීම දැන් වලංගු නැහැ. ආයෙත් /answer ID උත්තරය ලෙස එවන්න."
CONFIRM_DELETE_BUTTON = "🗑 ඔව්, මකන්න"


PENDING_EMPTY = "✅ අනුමත කරන්න අහන විදිහවල් නැහැ."
PENDING_HINT = "✅ අනුමත කළොත් ඒ අහන විදිහ ප්‍රශ්නයට එකතු වෙනවා; ❌ නම් මැකෙනවා."
PENDING_SHOWN = 8  # wordings per /pending message


def pending_wordings(rows: Sequence[tuple[int, str, int, str]], total: int) -> str:
    """Farmers' wordings waiting for approval, each with the pair it would join."""
    lines = [
        f"{number}. \"{preview(text, 300)}\"\n   → අංක {pair_id}: {preview(question, 150)}"
        for number, (_, text, pair_id, question) in enumerate(rows, 1)
    ]
    head = f"📝 අනුමැතිය බලාපොරොත්තුවෙන් අහන විදිහවල් {total}ක්"
    return head + "\n\n" + "\n\n".join(lines) + "\n\n" + PENDING_HINT


def wording_reviewed(text: str, pair_id: int, approved: bool) -> str:
    done = f"✅ අංක {pair_id} ට එකතු කළා" if approved else "❌ මැකුවා"
    return f'{done}: "{preview(text, 120)}"'


def confirm_delete(pair_id: int, question: str) -> str:
    return f"අංක {pair_id} මකන්නද? ගොවීන්ට ආයෙත් මේ උත්තරය ලැබෙන්නේ නැහැ.\n\"{question}\""


def dismissed_because(item_id: int, reason: str, others: int = 0) -> str:
    label = DISMISS_REASONS.get(reason, reason)
    also = f" (එකම ප්‍රශ්නය ඇහුව තවත් {others} දෙනෙකුගේ ප්‍රශ්නත් එක්ක)" if others else ""
    return f"🗑 ප්‍රශ්නය #{item_id}{also} පෝලිමෙන් ඉවත් කළා ({label})."


def also_sent(others: int) -> str:
    return f" එකම ප්‍රශ්නය ඇහුව තවත් {others} දෙනෙකුටත් යැව්වා."


def grouped_mark(others: Sequence[str]) -> str:
    """Under a grouped queue item: how many more farmers asked it, and how."""
    shown = "; ".join(f'"{preview(text, 80)}"' for text in others[:3])
    more = " ..." if len(others) > 3 else ""
    return f"\n   👥 තවත් {len(others)} දෙනෙක් මෙයම ඇහුවා: {shown}{more}"


def queue_item_not_found(item_id: int | str) -> str:
    return f"අංක {item_id} ලෙස විවෘත ප්‍රශ්නයක් නැහැ (දැනටමත් විසඳලා හෝ ඉවත් කරලා)."


def queue_candidates(item_id: int, question: str, rows: Sequence[tuple[int, float, str]]) -> str:
    found = find_results(rows) if rows else NOTHING_FOUND
    return (
        f'{item_marker(item_id)} "{question}"\n\n{found}\n\n'
        f"සම්බන්ධ කරන්න: /link {item_id} QA_ID · උත්තර දෙන්න: මේ පණිවිඩයට reply කරන්න"
    )


def answered(item_id: int, pair_id: int | None) -> str:
    if pair_id is None:  # a voice note or photo: never a pair
        return (
            f"✅ ප්‍රශ්නය #{item_id} ට ඔබේ උත්තරය ගොවියාට යැව්වා "
            "(හඬ පණිවිඩ සහ ඡායාරූප බැංකුවට එකතු වෙන්නේ නැහැ)."
        )
    return f"✅ ප්‍රශ්නය #{item_id} බැංකුවට අංක {pair_id} ලෙස එකතු කළා, ගොවියාට උත්තරය යැව්වා."


def linked(item_id: int, pair_id: int) -> str:
    return f"✅ ප්‍රශ්නය #{item_id} අංක {pair_id} ට සම්බන්ධ කළා, ගොවියාට උත්තරය යැව්වා."


def dismissed(item_id: int) -> str:
    return f"🗑 ප්‍රශ්නය #{item_id} පෝලිමෙන් ඉවත් කළා."


def stats_report(stats: Stats) -> str:
    def share(decision: Decision) -> str:
        return f"{stats.share(decision) * 100:.0f}%"

    ratio = stats.helpful_ratio
    thumbs = (
        f"{ratio * 100:.0f}% ({stats.helpful} 👍 / {stats.not_helpful} 👎)"
        if ratio is not None
        else "තවම නැහැ"
    )
    lines = [
        "📊 සංඛ්‍යා ලේඛන (ශ්‍රී ලංකා වේලාවෙන්)",
        f"අද ප්‍රශ්න: {stats.today}",
        f"පසුගිය දින 7: {stats.week}",
        f"• උත්තර දුන්: {share(Decision.ANSWER)}",
        f"• යෝජනා දුන්: {share(Decision.SUGGEST)}",
        f"• උත්තර නොදුන්: {share(Decision.DECLINE)}",
        f"• සුබ පැතුම්, ස්තූති වගේ කතාබහ: {share(Decision.CHIT_CHAT)}",
        f"👍 අනුපාතය: {thumbs}",
        f"උත්තර බලාපොරොත්තුවෙන්: {stats.open_queue}",
    ]
    if stats.median_latency_ms is not None:
        lines.append(f"උත්තරයකට මධ්‍ය කාලය: {stats.median_latency_ms:.0f} ms")
    if stats.stale_pairs:
        shown = ", ".join(f"#{pair_id}" for pair_id in stats.stale_pairs[:10])
        more = f" සහ තවත් {len(stats.stale_pairs) - 10}" if len(stats.stale_pairs) > 10 else ""
        lines.append(
            f"⚠️ නැවත බැලිය යුතු දිනය පහු වූ උත්තර {len(stats.stale_pairs)}: {shown}{more} (/find ID)"
        )
    if stats.top_unanswered:
        lines.append("\nනිතර අහන, උත්තර නැති ප්‍රශ්න:")
        lines += [
            f"{n}. {text} ({count})" for n, (text, count) in enumerate(stats.top_unanswered, 1)
        ]
    if stats.most_disliked:
        lines.append("\nපසුගිය දින 30 තුළ වැඩිපුරම 👎 ලැබුණු උත්තර (/find ID):")
        lines += [
            f"#{p.pair_id} {preview(p.question, 80)} — 👎 {p.not_helpful} / 👍 {p.helpful}"
            for p in stats.most_disliked
        ]
    return "\n".join(lines)


def retrain_progress(text: str) -> str:
    return f"⏳ {text}"


def retrain_finished(promoted: bool, summary: str, model_id: str | None) -> str:
    if promoted:
        return f"✅ අලුත් ආකෘතිය ({model_id}) දැන් පාවිච්චි කරනවා.\n\n{summary}"
    return f"ℹ️ ආකෘතිය මාරු කළේ නැහැ; පරණ ආකෘතියම පාවිච්චි කරනවා.\n\n{summary}"


def error_alert(error: str, where: str) -> str:
    return f"⚠️ දෝෂයක්: {error} ({where})"


# --- splitting ----------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?෴।])\s+|\n+")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def preview(text: str, chars: int) -> str:
    """`text` on one line, cut to `chars` characters with "…" if it is longer."""
    text = " ".join(text.split())
    return text if len(text) <= chars else text[: chars - 1].rstrip() + "…"


def split_message(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Cut `text` into messages of at most `limit` UTF-16 units, at sentence ends if possible.

    Paragraph and sentence ends are preferred; a sentence longer than `limit` is cut at
    spaces, and a word longer than `limit` is cut where it must be.

    Example:
        >>> split_message("පළමු වාක්‍යය. දෙවැනි වාක්‍යය.", limit=16)
        ['පළමු වාක්‍යය.', 'දෙවැනි වාක්‍යය.']
    """
    text = text.strip()
    if utf16_len(text) <= limit:
        return [text] if text else []
    pieces: list[str] = []
    for sentence in _pieces(text):
        pieces.extend(_cut(sentence, limit) if utf16_len(sentence) > limit else [sentence])
    parts: list[str] = []
    current = ""
    for piece in pieces:
        joined = f"{current}{piece}" if current else piece.lstrip()
        if utf16_len(joined.rstrip()) <= limit:
            current = joined
        else:
            parts.append(current.rstrip())
            current = piece.lstrip()
    if current.strip():
        parts.append(current.rstrip())
    return [part for part in parts if part]


def _pieces(text: str) -> list[str]:
    """Sentences with the whitespace that followed each, so joining restores the text."""
    pieces, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        pieces.append(text[start : match.end()])
        start = match.end()
    pieces.append(text[start:])
    return [piece for piece in pieces if piece]


def _cut(sentence: str, limit: int) -> list[str]:
    words = re.findall(r"\S+\s*", sentence)
    out: list[str] = []
    for word in words:
        while utf16_len(word) > limit:
            size = limit
            while utf16_len(word[:size]) > limit:
                size -= 1
            out.append(word[:size])
            word = word[size:]
        out.append(word)
    return out


# --- the web desk ---------------------------------------------------------------------


def web_link(url: str, minutes: int) -> str:
    """/web: the one-time link to the officers' web desk."""
    return (
        f"🖥️ වෙබ් මේසයට (web desk) ඇතුළු වීමේ සබැඳිය:\n{url}\n\n"
        f"මිනිත්තු {minutes} ක් ඇතුළත, එක් වරක් පමණක් වැඩ කරයි. කාටවත් යවන්න එපා."
    )
