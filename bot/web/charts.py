"""Server-drawn SVG charts for the desk's stats page: no JavaScript, readable on a phone.

The browser shapes the Sinhala labels with the desk's own font, which matplotlib (the
Telegram /stats chart) cannot do.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

from markupsafe import Markup

from bot.retrieval.decision import Decision
from bot.storage.stats import DayStats

WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 16, 40

# Stacked bottom to top, with the colours of the Telegram chart (bot/service/charts.py).
DECISIONS = {
    Decision.ANSWER.value: ("පිළිතුරු දුන් (answered)", "#2e7d32"),
    Decision.SUGGEST.value: ("ඔබ අදහස් කළේ (did you mean)", "#f9a825"),
    Decision.DECLINE.value: ("නිලධාරියාට (to an officer)", "#c62828"),
    Decision.CHIT_CHAT.value: ("සුබ පැතුම් (chit-chat)", "#b0bec5"),
}
ANSWER_RATE = ("පිළිතුරු අනුපාතය (answer rate)", "#1b5e20")
HELPFUL = ("👍 කොටස (👍 share)", "#1565c0")


def _svg(body: list[str], label: str, height: int = HEIGHT) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-label="{escape(label)}" class="chart">'
    )
    return Markup(head + "".join(body) + "</svg>")  # every text in it went through escape()


def _text(x: float, y: float, text: str, *, size: int = 11, anchor: str = "middle") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}">'
        f"{escape(text)}</text>"
    )


def _legend(items: Sequence[tuple[str, str]], y: float) -> list[str]:
    """Two names a row (Sinhala with English is long; a phone shows the chart narrow)."""
    parts, column = [], (WIDTH - LEFT) / 2
    for n, (name, colour) in enumerate(items):
        x, row_y = LEFT + column * (n % 2), y + 18 * (n // 2)
        parts.append(f'<rect x="{x:.1f}" y="{row_y - 9}" width="10" height="10" fill="{colour}"/>')
        parts.append(_text(x + 14, row_y, name, anchor="start"))
    return parts


def _day_labels(days: Sequence[DayStats], step: float, height: float) -> list[str]:
    every = max(1, len(days) // 10)
    return [
        _text(LEFT + step * (n + 0.5), height - BOTTOM + 14, day.day.strftime("%m-%d"), size=10)
        for n, day in enumerate(days)
        if n % every == 0 or n == len(days) - 1
    ]


def daily_bars(days: Sequence[DayStats]) -> Markup:
    """Questions per day, stacked by what the bot decided."""
    height = HEIGHT + 40
    plot_h = HEIGHT - TOP - BOTTOM
    top = max([day.questions for day in days] + [1])
    step = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    body = [
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" '
        'stroke="#889"/>',
        _text(LEFT - 6, TOP + 8, str(top), anchor="end"),
        _text(LEFT - 6, TOP + plot_h, "0", anchor="end"),
    ]
    for n, day in enumerate(days):
        y: float = TOP + plot_h
        for kind, (name, colour) in DECISIONS.items():
            count = day.decisions.get(kind, 0)
            if not count:
                continue
            h = plot_h * count / top
            y -= h
            body.append(
                f'<rect class="bar" x="{LEFT + step * n + 1:.1f}" y="{y:.1f}" '
                f'width="{max(step - 2, 1):.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{escape(f'{day.day} {name}: {count}')}</title></rect>"
            )
    body += _day_labels(days, step, HEIGHT)
    body += _legend(list(DECISIONS.values()), HEIGHT + 14)
    return _svg(body, "questions per day by decision", height)


def rate_lines(days: Sequence[DayStats]) -> Markup:
    """Answer rate and 👍 share per day on a 0-100 % axis (a day without any: a gap)."""
    height = HEIGHT + 24
    plot_h = HEIGHT - TOP - BOTTOM
    step = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    body = [
        _text(LEFT - 6, TOP + 8, "100%", anchor="end"),
        _text(LEFT - 6, TOP + plot_h, "0%", anchor="end"),
    ]
    for fraction in (0.25, 0.5, 0.75):
        y = TOP + plot_h * (1 - fraction)
        body.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#dde"/>'
        )
    for values, (name, colour) in (
        ([day.answer_rate for day in days], ANSWER_RATE),
        ([day.helpful_ratio for day in days], HELPFUL),
    ):
        points = [
            (LEFT + step * (n + 0.5), TOP + plot_h * (1 - value))
            for n, value in enumerate(values)
            if value is not None
        ]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            body.append(
                f'<polyline class="line" points="{path}" fill="none" stroke="{colour}" '
                'stroke-width="2"/>'
            )
        body += [
            f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
            f"<title>{escape(name)}</title></circle>"
            for x, y in points
        ]
    body += _day_labels(days, step, HEIGHT)
    body += _legend([ANSWER_RATE, HELPFUL], HEIGHT + 14)
    return _svg(body, "answer rate and thumbs-up share per day", height)


def ranked_bars(rows: Sequence[tuple[str, int]], label: str, colour: str = "#2f6b2f") -> Markup:
    """Horizontal bars, one row per name (top unanswered, by topic, by district)."""
    row_h = 26
    height = TOP + row_h * max(len(rows), 1) + 8
    top = max([count for _, count in rows] + [1])
    name_w = 300
    body = []
    for n, (name, count) in enumerate(rows):
        y = TOP + row_h * n
        shown = name if len(name) <= 40 else name[:39] + "…"
        body.append(_text(name_w - 6, y + 15, shown, size=12, anchor="end"))
        w = (WIDTH - name_w - 50) * count / top
        body.append(
            f'<rect class="bar" x="{name_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" '
            f'fill="{colour}"><title>{escape(name)}: {count}</title></rect>'
        )
        body.append(_text(name_w + w + 6, y + 15, str(count), size=12, anchor="start"))
    return _svg(body, label, height)
