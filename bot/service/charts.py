"""The /stats chart: questions per Colombo day by decision, with answer rate and 👍 share.

Labels are English: matplotlib does not shape Sinhala conjuncts, and its bundled font
has no Sinhala glyphs (a test render showed only boxes). Rendering takes about 0.5 s,
so the bot calls `render_daily_chart` in a worker thread; it uses `Figure` directly, not
pyplot, so no global state is shared between threads.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from bot.retrieval.decision import Decision
from bot.storage.stats import DayStats

WIDTH_PX, HEIGHT_PX, DPI = 1200, 700, 150  # readable on a phone held sideways

# Stacked bottom to top; a decision added later gets a grey bar of its own name.
BARS = {
    Decision.ANSWER.value: ("answered", "#2e7d32"),
    Decision.SUGGEST.value: ("did you mean", "#f9a825"),
    Decision.DECLINE.value: ("sent to an officer", "#c62828"),
    Decision.CHIT_CHAT.value: ("chit-chat", "#b0bec5"),
}
ANSWER_RATE_COLOR, HELPFUL_COLOR = "#1b5e20", "#1565c0"


def render_daily_chart(days: Sequence[DayStats]) -> bytes:
    """A PNG of WIDTH_PX x HEIGHT_PX: stacked bars of questions per day by decision, and
    on a 0-100 % axis the answer rate (chit-chat left out) and the 👍 share of the day.
    """
    from matplotlib.figure import Figure  # ~1 s to import: only when a chart is asked for
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, layout="constrained")
    bars = figure.add_subplot()
    positions = range(len(days))
    kinds = list(BARS) + sorted({k for day in days for k in day.decisions} - set(BARS))
    bottom = [0] * len(days)
    for kind in kinds:
        label, color = BARS.get(kind, (kind, "#757575"))
        heights = [day.decisions.get(kind, 0) for day in days]
        bars.bar(positions, heights, bottom=bottom, color=color, label=label, width=0.8)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    bars.set_ylabel("questions (bars)")
    bars.set_ylim(0, max([*bottom, 1]) * 1.05)
    locator = bars.yaxis.get_major_locator()
    if isinstance(locator, MaxNLocator):  # the default AutoLocator is one
        locator.set_params(integer=True)
    every = max(1, math.ceil(len(days) / 10))
    ticks = [n for n in positions if (len(days) - 1 - n) % every == 0]
    bars.set_xticks(ticks, [f"{days[n].day:%d %b}" for n in ticks], fontsize=8)
    bars.set_xlim(-0.6, len(days) - 0.4)

    rates = bars.twinx()
    rates.plot(
        positions,
        [_percent(day.answer_rate) for day in days],
        color=ANSWER_RATE_COLOR,
        marker="o",
        markersize=3,
        label="answer rate (chit-chat left out)",
    )
    rates.plot(
        positions,
        [_percent(day.helpful_ratio) for day in days],
        color=HELPFUL_COLOR,
        marker="s",
        markersize=3,
        linestyle="--",
        label="thumbs-up share",
    )
    rates.set_ylim(0, 105)
    rates.set_ylabel("% (lines)")

    first, last = days[0].day, days[-1].day
    figure.suptitle(f"Questions per day, {first:%d %b} - {last:%d %b %Y} (Sri Lanka time)")
    handles = [*bars.get_legend_handles_labels()[0], *rates.get_legend_handles_labels()[0]]
    figure.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _percent(ratio: float | None) -> float:
    return ratio * 100 if ratio is not None else math.nan  # a gap in the line
