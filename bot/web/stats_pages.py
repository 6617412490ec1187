"""The stats page: 7, 30 or 90 Colombo days as server-drawn SVG charts."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.web import charts
from bot.web.app import desk_state, guarded, render, run
from bot.web.auth import Officer

PERIODS = (7, 30, 90)


def routes() -> list[Route]:
    return [Route("/stats", guarded(stats_page))]


async def stats_page(request: Request, officer: Officer) -> Response:
    asked = request.query_params.get("days", "30")
    days = int(asked) if asked.isdigit() and int(asked) in PERIODS else 30
    stats = await run(desk_state(request).desk.stats, days)
    asked_total = sum(day.questions for day in stats.days)
    context = {
        "days": days,
        "periods": PERIODS,
        "stats": stats,
        "asked": asked_total,
        "bars": charts.daily_bars(stats.days),
        "rates": charts.rate_lines(stats.days),
        "unanswered": charts.ranked_bars(stats.top_unanswered, "top unanswered", "#c62828"),
        "topics": charts.ranked_bars(stats.by_topic, "by topic"),
        "districts": charts.ranked_bars(stats.by_district, "by district", "#1565c0"),
    }
    return render(request, officer, "stats.html", context)
