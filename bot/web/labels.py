"""Every word the desk shows: Sinhala, with the English officers use beside it."""

from __future__ import annotations

from bot.retrieval.decision import Thresholds

TITLE = "agribot · නිලධාරී මේසය"
NAV = [
    ("/queue", "පෝලිම (Queue)"),
    ("/bank", "ප්‍රශ්න බැංකුව (Bank)"),
    ("/stats", "සංඛ්‍යා (Stats)"),
    ("/models", "ආකෘති (Models)"),
    ("/audit", "ලොගය (Audit)"),
]

NOT_LOGGED_IN = (
    "ඇතුළු වී නැත. Telegram හි බොට්ට /web යවා ලැබෙන සබැඳියෙන් ඇතුළු වන්න. "
    "(Not logged in: send /web to the bot.)"
)
BAD_CSRF = "ආකෘති පත්‍රය කල් ඉකුත් වී ඇත; පිටුව නැවත විවෘත කරන්න. (Form expired: reload the page.)"
BAD_LINK = (
    "මෙම සබැඳිය වලංගු නැත: කල් ඉකුත් වී හෝ දැනටමත් භාවිත කර ඇත. /web යවා අලුත් එකක් ගන්න. "
    "(This link is expired, used or not yours.)"
)
LOGGED_OUT = "ඔබ ඉවත් විය. (Logged out.)"
LOGIN_BUTTON = "ඇතුළු වන්න (Log in)"

DISMISS_REASONS = {
    "off_topic": "මාතෘකාවට අදාළ නැත (off topic) — ගොවියාට කියනවා",
    "not_paddy": "වී වගාව නොවේ (not paddy) — ගොවියාට කියනවා",
    "duplicate": "දෙවරක් (duplicate)",
    "spam": "ස්පෑම් (spam)",
}

ZONES = {
    "wet": "තෙත් කලාපය (wet zone)",
    "intermediate": "අතරමැදි කලාපය (intermediate zone)",
    "dry": "වියළි කලාපය (dry zone)",
}

KINDS = {"question": "❓", "feedback": "👎", "voice": "🎤", "photo": "📷"}

NOTES = {
    "answered": "✅ පිළිතුර ගොවියාට යැව්වා. (Answer sent to the farmer.)",
    "linked": "🔗 සම්බන්ධ කර පිළිතුර ගොවියාට යැව්වා. (Linked; the farmer got its answer.)",
    "dismissed": "🚫 ඉවත් කළා. (Dismissed.)",
    "unreachable": "⚠️ ගොවියාට පණිවිඩය යැවිය නොහැකි විය. (The farmer could not be reached.)",
    "no_line": "⚠️ Telegram සම්බන්ධතාවය නැත: ගොවියාට කිව්වේ නැහැ. (No Telegram line: not sent.)",
    "saved": "💾 සුරැකුවා; බොට් දැන් මෙය භාවිත කරයි. (Saved: the bot answers with it now.)",
    "added": "➕ අලුත් ප්‍රශ්නය එකතු කළා. (Pair added.)",
    "deleted": "🗑️ මකා දැමුවා. (Deleted.)",
    "undone": "↩️ ආපසු හැරෙව්වා. (Undone.)",
    "imported": "📥 ආනයනය කළා. (Imported.)",
    "activated": "🧠 ආකෘතිය සක්‍රිය කළා; බොට් එය භාවිත කරයි. (Model activated.)",
    "gone": "⚠️ එය දැන් නැත: වෙනත් නිලධාරියෙක් කළා විය හැක. (It is gone already.)",
}


def score_words(
    score: float, thresholds: Thresholds, *, runner_up: float = 0.0, text: str = ""
) -> str:
    """A retrieval score as an officer reads it, against the bot's own thresholds (with a
    confidence model: how sure it is of this pair for `text`, beside the best other pair's
    score `runner_up`)."""
    if thresholds.sure(score, runner_up, text) and score - runner_up >= thresholds.margin:
        return "ඉතා සමීපයි: බොට් මෙයින් පිළිතුරු දෙයි (very close: the bot would answer with it)"
    if score >= thresholds.suggest:
        return "සමීපයි: 'ඔබ අදහස් කළේ' ලෙස පෙන්වයි (close: offered as 'did you mean')"
    return "දුරස්: බොට් මෙය යෝජනා නොකරයි (far: the bot would not offer it)"
