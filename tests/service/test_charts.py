from __future__ import annotations

import io
from datetime import date, timedelta

from bot.service.charts import HEIGHT_PX, WIDTH_PX, render_daily_chart
from bot.storage.stats import DayStats


def test_the_chart_is_a_png_sized_for_a_phone():
    first = date(2026, 11, 4)
    days = [DayStats(first + timedelta(n)) for n in range(29)] + [
        DayStats(
            first + timedelta(29),
            {"answer": 5, "suggest": 2, "decline": 1, "chit_chat": 3, "unheard_of": 1},
            helpful=2,
            not_helpful=1,
        )
    ]
    png = render_daily_chart(days)

    from PIL import Image

    image = Image.open(io.BytesIO(png))
    assert (image.format, image.size) == ("PNG", (WIDTH_PX, HEIGHT_PX)) == ("PNG", (1200, 700))
