"""The web chat page in a real headless Chromium, talking to the real app on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from werkzeug.serving import make_server

from bot.config import load_config
from server import create_app

REPO_ROOT = Path(__file__).resolve().parent.parent
WAIT_SECONDS = 10
PHONE = "023-68480331"
EMAIL = "int.med@cqmu.edu.cn"
HAN = re.compile(r"[\u4e00-\u9fff]")
PHONE_WIDTH = 390
PHONE_HEIGHT = 844
LOCAL_SCHEMES = {"data", "about", "blob", "tel", "mailto", "javascript"}


def _browser_paths() -> tuple[str, str]:
    """Locate Debian's chromium and chromedriver, or skip (fail when FAQBOT_REQUIRE_BROWSER=1)."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    chromedriver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    missing = [path for path in (chromium, chromedriver) if not Path(path).is_file()]
    if missing:
        reason = f"real-browser test needs {' and '.join(missing)} (apt install chromium chromium-driver)"
        if os.environ.get("FAQBOT_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return chromium, chromedriver


@pytest.fixture(scope="module")
def browser_paths() -> tuple[str, str]:
    return _browser_paths()


@pytest.fixture(scope="module")
def faqbot_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The real app from config.yaml, its database in a temporary folder and no corpus watcher thread."""
    database = tmp_path_factory.mktemp("web-db") / "faqbot.db"
    config = load_config(REPO_ROOT / "config.yaml", env={"FAQBOT_STORAGE": f"sqlite:///{database}"})
    return create_app(replace(config, server=replace(config.server, watch_corpus=False)))


@pytest.fixture(scope="module")
def base_url(browser_paths: tuple[str, str], faqbot_app: Flask) -> Iterator[str]:
    """Serve the app on an ephemeral 127.0.0.1 port from a background thread."""
    server = make_server(host="127.0.0.1", port=0, app=faqbot_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="web-page-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=WAIT_SECONDS)


@pytest.fixture
def driver(browser_paths: tuple[str, str], tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """A fresh headless Chromium with a phone-sized window and its own profile."""
    chromium, chromedriver = browser_paths
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=390,844",
        "--lang=en-US",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    service = Service(executable_path=chromedriver, log_output=str(tmp_path / "chromedriver.log"))
    try:
        browser = webdriver.Chrome(service=service, options=options)
    except WebDriverException as exc:
        pytest.fail(f"chromium could not start: {exc.msg}")
    try:
        emulate_phone(browser, PHONE_WIDTH)
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def page(driver: webdriver.Chrome, base_url: str) -> webdriver.Chrome:
    """The chat page loaded and ready for typing."""
    driver.get(f"{base_url}/")
    wait(driver).until(ec.element_to_be_clickable((By.ID, "question")))
    wait(driver).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#messages .msg.bot"))
    return driver


def emulate_phone(driver: webdriver.Chrome, width: int) -> None:
    """Give the page a phone viewport; a desktop window cannot be narrower than 500 px."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": PHONE_HEIGHT, "deviceScaleFactor": 2, "mobile": True},
    )


def wait(driver: webdriver.Chrome) -> WebDriverWait:
    return WebDriverWait(driver, WAIT_SECONDS)


def bot_messages(driver: webdriver.Chrome) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, "#messages .msg.bot")


def next_bot_message(driver: webdriver.Chrome, count_before: int) -> WebElement:
    """Wait for the bot's reply after count_before bot bubbles and return it."""
    wait(driver).until(lambda d: len(bot_messages(d)) > count_before)
    return bot_messages(driver)[-1]


def ask(driver: webdriver.Chrome, question: str) -> WebElement:
    """Type a question, press Enter, and return the bot bubble that answers it."""
    count_before = len(bot_messages(driver))
    box = driver.find_element(By.ID, "question")
    box.clear()
    box.send_keys(question, Keys.ENTER)
    return next_bot_message(driver, count_before)


def bubble_text(message: WebElement) -> str:
    return message.find_element(By.CSS_SELECTOR, ".bubble").text


def requested_urls(driver: webdriver.Chrome, document_url: str) -> list[str]:
    """Every URL the document at document_url asked for, from Chromium's network log."""
    urls = []
    for entry in driver.get_log("performance"):
        event = json.loads(entry["message"])["message"]
        if (
            event.get("method") == "Network.requestWillBeSent"
            and event["params"]["documentURL"] == document_url
        ):
            urls.append(event["params"]["request"]["url"])
    return urls


def api_request_bodies(driver: webdriver.Chrome) -> list[dict]:
    """The JSON bodies the page posted to /api/ask, from Chromium's network log."""
    bodies = []
    for entry in driver.get_log("performance"):
        event = json.loads(entry["message"])["message"]
        if event.get("method") != "Network.requestWillBeSent":
            continue
        request = event["params"]["request"]
        if urlsplit(request["url"]).path == "/api/ask" and request.get("postData"):
            bodies.append(json.loads(request["postData"]))
    return bodies


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in LOCAL_SCHEMES or parts.hostname == "127.0.0.1"


def test_page_requests_nothing_but_the_local_server(page: webdriver.Chrome, base_url: str) -> None:
    ask(page, "How much is the tuition fee?")
    network = requested_urls(page, f"{base_url}/")
    timing = page.execute_script(
        "return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
        ".map(e => e.name)"
    )
    assert f"{base_url}/static/chat.js" in network, "the network log did not record the page's own requests"
    assert [url for url in network + timing if not is_local(url)] == []


def test_page_markup_and_styles_reference_no_external_url(page: webdriver.Chrome) -> None:
    referenced = page.execute_script(
        """
        const urls = [];
        for (const el of document.querySelectorAll('[src], [href], [srcset], [poster], [action]')) {
          for (const name of ['src', 'href', 'poster', 'action']) {
            if (el.hasAttribute(name)) urls.push(new URL(el.getAttribute(name), document.baseURI).href);
          }
        }
        for (const sheet of document.styleSheets) {
          for (const rule of sheet.cssRules) {
            for (const m of rule.cssText.matchAll(/url\\(["']?([^"')]+)/g)) {
              urls.push(new URL(m[1], sheet.href || document.baseURI).href);
            }
          }
        }
        return urls;
        """
    )
    assert [url for url in referenced if not is_local(url)] == []


def test_english_fee_question_shows_the_fee(page: webdriver.Chrome) -> None:
    answer = bubble_text(ask(page, "How much is the tuition fee?"))
    assert "62,000" in answer or "62000" in answer


def test_chinese_fee_question_gets_a_chinese_answer(page: webdriver.Chrome) -> None:
    answer = bubble_text(ask(page, "学费多少"))
    assert HAN.search(answer), answer
    assert "62,000" in answer or "62000" in answer


@pytest.mark.parametrize("question", ["menu", "菜单"])
def test_menu_question_offers_tappable_suggestions(page: webdriver.Chrome, question: str) -> None:
    reply = ask(page, question)
    buttons = reply.find_elements(By.CSS_SELECTOR, ".suggestion")
    assert buttons
    assert all(button.is_displayed() and button.text.strip() for button in buttons)


def test_tapping_a_suggestion_asks_it_and_gets_an_answer(page: webdriver.Chrome, tmp_path: Path) -> None:
    menu = ask(page, "menu")
    choice = menu.find_elements(By.CSS_SELECTOR, ".suggestion")[0]
    label = choice.text
    count_before = len(bot_messages(page))
    choice.click()
    answer = next_bot_message(page, count_before)
    page.save_screenshot(str(tmp_path / "chat.png"))
    users = page.find_elements(By.CSS_SELECTOR, "#messages .msg.user")
    assert users[-1].find_element(By.CSS_SELECTOR, ".bubble").text == label
    assert bubble_text(answer).strip()


def test_contact_details_are_visible_with_the_phone_number(page: webdriver.Chrome) -> None:
    contact = page.find_element(By.ID, "contact")
    assert contact.is_displayed()
    assert PHONE in contact.text
    assert EMAIL in contact.text


def test_language_toggle_switches_the_interface_to_chinese(page: webdriver.Chrome) -> None:
    page.find_element(By.ID, "lang-toggle").click()
    wait(page).until(lambda d: "联系我们" in d.find_element(By.ID, "contact").text)
    assert HAN.search(bubble_text(bot_messages(page)[0]))
    assert HAN.search(page.find_element(By.ID, "question").get_attribute("placeholder"))
    assert page.find_element(By.ID, "lang-toggle").text == "EN"


def test_request_carries_question_stored_session_and_language_hint(page: webdriver.Chrome) -> None:
    page.find_element(By.ID, "lang-toggle").click()
    ask(page, "学费多少")
    session = page.execute_script("return localStorage.getItem('faqbot.session')")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", session)
    assert api_request_bodies(page) == [{"question": "学费多少", "session": session, "lang": "zh"}]


def test_session_id_survives_a_reload(page: webdriver.Chrome) -> None:
    session = page.execute_script("return localStorage.getItem('faqbot.session')")
    page.refresh()
    wait(page).until(ec.element_to_be_clickable((By.ID, "question")))
    ask(page, "How much is the tuition fee?")
    assert [body["session"] for body in api_request_bodies(page)] == [session]


def test_send_button_sends_the_question(page: webdriver.Chrome) -> None:
    count_before = len(bot_messages(page))
    page.find_element(By.ID, "question").send_keys("How much is the tuition fee?")
    page.find_element(By.ID, "send").click()
    answer = next_bot_message(page, count_before)
    assert "62,000" in bubble_text(answer) or "62000" in bubble_text(answer)


def test_typed_markup_is_shown_as_text(page: webdriver.Chrome) -> None:
    ask(page, "<b>fee</b>")
    mine = page.find_elements(By.CSS_SELECTOR, "#messages .msg.user .bubble")[-1]
    assert mine.text == "<b>fee</b>"
    assert mine.find_elements(By.CSS_SELECTOR, "*") == []


def test_network_failure_shows_a_polite_message_with_contact_details(page: webdriver.Chrome) -> None:
    page.execute_cdp_cmd("Network.enable", {})
    page.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/api/ask"]})
    message = bubble_text(ask(page, "How much is the tuition fee?"))
    assert PHONE in message
    assert EMAIL in message


@pytest.mark.parametrize("width", [PHONE_WIDTH, 360])
def test_layout_fits_a_phone_without_sideways_scrolling(page: webdriver.Chrome, width: int) -> None:
    emulate_phone(page, width)
    ask(page, "menu")
    scroll_width, inner_width = page.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert inner_width == width
    assert scroll_width <= inner_width


def test_question_box_stays_on_screen_after_a_long_conversation(page: webdriver.Chrome) -> None:
    for question in ("menu", "How much is the tuition fee?", "菜单"):
        ask(page, question)
    bottom, viewport_height = page.execute_script(
        "return [document.getElementById('question').getBoundingClientRect().bottom, window.innerHeight]"
    )
    assert 0 < bottom <= viewport_height
