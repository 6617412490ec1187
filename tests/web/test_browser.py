"""The desk in a real Chromium (Debian's chromium and chromium-driver, no download):
log in through the link the bot sent, answer a queued question, edit a pair with the
near-duplicate warning, read the stats; Sinhala must be shaped and the charts drawn.

Selenium blocks, so its calls run in a thread while the bot and the desk serve on the
test's event loop. Chromium that cannot start fails the test with the reason: CI must
not pass by skipping it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.web.server import start_beside_bot
from tests.telegram.conftest import ANSWERED, HARVEST, OFF_TOPIC
from tests.web.conftest import TOKEN

CHROMIUM = os.environ.get("AGRIBOT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("AGRIBOT_CHROMEDRIVER", "/usr/bin/chromedriver")
# Set to a folder (e.g. docs) to keep the screenshots; otherwise they go to tmp_path.
SCREENSHOTS = os.environ.get("AGRIBOT_DESK_SCREENSHOTS")
FARMER = 7101
OFFICER_ANSWER = "ඔව්, ඒ ගැන කෘෂිකර්ම නිලධාරියාගෙන් අහන්න; වී ගැන මෙතනින් උදව් කරන්නම්."
EDITED_ANSWER = "බීජ වී පැය 30 ක් පොඟවා, පැය 48 ක් පැළ වීමට තබන්න (සංස්කරණය කළා)."
WAIT_S = 10

# Canvas widths of a Sinhala conjunct drawn as one word and as its separate characters:
# shaped, the virama, ZWJ and rakaransaya fold into the letter, so the word is narrower.
SHAPING = """
return (async () => {
const family = '"Noto Sans Sinhala"';
await document.fonts.load('32px ' + family, 'ශ්‍රී ලංකා');
await document.fonts.ready;
const ctx = document.createElement('canvas').getContext('2d');
ctx.font = '32px ' + family;
const word = 'ශ්‍රී';
const whole = ctx.measureText(word).width;
const parts = [...word].reduce((sum, ch) => sum + ctx.measureText(ch).width, 0);
const loaded = [...document.fonts].some(
    f => f.family.replaceAll('"', '') === 'Noto Sans Sinhala' && f.status === 'loaded');
return {check: document.fonts.check('16px ' + family, 'සිංහල'), loaded, whole, parts};
})();
"""


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the module."""
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if missing:
        pytest.fail(
            f"the browser tests need Debian's chromium and chromium-driver ({', '.join(missing)} "
            "missing): apt-get install -y chromium chromium-driver fonts-noto-core",
            pytrace=False,
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1100,1000",
        "--lang=si",
    ):
        options.add_argument(argument)
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except WebDriverException as error:
        pytest.fail(f"Chromium could not start: {error.msg}", pytrace=False)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


async def in_browser(function: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(function, *args)


def wait_for(driver: Any, css: str, text: str | None = None) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, WAIT_S)
    if text is None:
        return wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
    return driver.find_element(By.CSS_SELECTOR, css)


def shoot(driver: Any, folder: Path, name: str) -> Path:
    path = folder / name
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 5000  # a page, not a blank
    return path


async def test_an_officer_works_the_desk_in_chromium(
    chromium: Any, start_bot, unused_tcp_port: int, tmp_path: Path
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    shots = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    bot = await start_bot(web_port=unused_tcp_port)
    stop = await start_beside_bot(bot.services.settings, bot.services, bot.app.bot)
    try:
        await bot.send(FARMER, OFF_TOPIC)  # goes to the queue
        [link] = await bot.send(9001, "/web", user_id=9001)
        [url] = [word for word in link["text"].split() if word.startswith("http")]
        assert TOKEN.search(url) and url.startswith(f"http://127.0.0.1:{unused_tcp_port}/login")

        def log_in_and_check_fonts() -> dict[str, Any]:
            chromium.get(url)
            wait_for(chromium, "#login").click()
            wait_for(chromium, "main h2", "Queue")
            assert OFF_TOPIC in chromium.find_element(By.CSS_SELECTOR, "main").text
            return chromium.execute_script(SHAPING)

        fonts = await in_browser(log_in_and_check_fonts)
        assert fonts["check"] and fonts["loaded"], fonts
        assert fonts["whole"] < 0.8 * fonts["parts"], f"Sinhala not shaped: {fonts}"
        await in_browser(shoot, chromium, shots, "desk-queue.png")

        def answer_the_question() -> None:
            item = chromium.find_element(By.CSS_SELECTOR, "section.card")
            item.find_element(By.CSS_SELECTOR, "details summary").click()
            item.find_element(By.NAME, "answer").send_keys(OFFICER_ANSWER)
            item.find_element(By.CSS_SELECTOR, ".answer-form button").click()
            wait_for(chromium, "#note", "✅")

        before = len(bot.fake.sent_messages(FARMER))
        await in_browser(answer_the_question)
        [sent] = (await bot.fake.wait_for_messages(FARMER, before + 1))[before:]
        assert OFFICER_ANSWER in sent["text"]

        [pair] = bot.services.bank.find(ANSWERED, 1)
        [other] = bot.services.bank.find(HARVEST, 1)

        def edit_with_the_warning() -> None:
            chromium.get(f"http://127.0.0.1:{unused_tcp_port}/bank/{pair.pair_id}")
            question = wait_for(chromium, "#question")
            original = question.get_attribute("value")
            question.send_keys(Keys.CONTROL, "a")
            question.send_keys(HARVEST)  # another pair's question: a near-duplicate
            warning = wait_for(chromium, "#near-list", f"#{other.pair_id} {HARVEST} · 1.00")
            assert "⚠️" in warning.text
            shoot(chromium, shots, "desk-near-duplicate.png")
            question.send_keys(Keys.CONTROL, "a")
            question.send_keys(original)
            answer = chromium.find_element(By.NAME, "answer")
            answer.clear()
            answer.send_keys(EDITED_ANSWER)
            chromium.find_element(By.ID, "save").click()
            wait_for(chromium, "#note", "💾")

        await in_browser(edit_with_the_warning)
        [reply] = await bot.send(FARMER + 1, ANSWERED)
        assert EDITED_ANSWER in reply["text"]

        def open_stats() -> dict[str, Any]:
            chromium.get(f"http://127.0.0.1:{unused_tcp_port}/stats?days=7")
            wait_for(chromium, "#chart-daily svg")
            return chromium.execute_script(
                "const bars = [...document.querySelectorAll('#chart-daily rect.bar')];"
                "const box = document.querySelector('#chart-daily svg').getBoundingClientRect();"
                "return {bars: bars.length,"
                " drawn: bars.filter(b => b.getBoundingClientRect().height > 0).length,"
                " width: box.width, height: box.height};"
            )

        chart = await in_browser(open_stats)
        assert chart["bars"] >= 2 and chart["drawn"] == chart["bars"], chart
        assert chart["width"] > 300 and chart["height"] > 100, chart
        await in_browser(shoot, chromium, shots, "desk-stats.png")

        def on_a_phone() -> dict[str, Any]:
            chromium.set_window_size(400, 800)
            try:
                chromium.refresh()
                wait_for(chromium, "#chart-daily svg")
                return chromium.execute_script(
                    "const svg = document.querySelector('#chart-daily svg');"
                    "return {page: document.documentElement.scrollWidth,"
                    " view: document.documentElement.clientWidth,"
                    " chart: svg.getBoundingClientRect().width};"
                )
            finally:
                chromium.set_window_size(1100, 1000)

        phone = await in_browser(on_a_phone)
        assert phone["page"] <= phone["view"] and 0 < phone["chart"] <= phone["view"], phone
        console = await in_browser(chromium.get_log, "browser")
        refused = [e["message"] for e in console if e["level"] == "SEVERE"]
        assert not refused, refused  # no script error, nothing the CSP blocked
    finally:
        await stop()
