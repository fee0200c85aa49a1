"""The staff console in a real headless Chromium, on the real app over a copy of faq_corpus."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from console_helpers import (
    EDITOR,
    PASSWORD,
    RIGHT_ENTRY,
    WRONG_ENTRY,
    WRONG_QUESTION,
    console_app,
    console_config,
    copy_corpus,
)
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait
from test_web_page import browser_paths, driver  # noqa: F401 (fixtures)
from werkzeug.serving import make_server

from bot.config import Config
from bot.console.accounts import add_account
from bot.console.store import LOCKOUT_FAILURES
from bot.engine import Brain

SLOW_SECONDS = 90  # a publish runs both evaluation sets twice
SCRIPT_QUESTION = '<script>document.title="owned"</script> how many dorm beds'
INBOX_QUESTION = "whom should I talk to"


@pytest.fixture
def base_url(
    browser_paths: tuple[str, str],  # noqa: F811
    config: Config,
    brain: Brain,
    tmp_path: Path,
) -> Iterator[str]:
    app = console_app(console_config(config, copy_corpus(tmp_path), f"sqlite:///{tmp_path / 'f.db'}"), brain)
    add_account(app.extensions["faqbot_console"].store, "locked.out", PASSWORD)
    server = make_server(host="127.0.0.1", port=0, app=app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        app.extensions["faqbot"].storage.close()


def wait(browser: webdriver.Chrome, seconds: float = 40) -> WebDriverWait:
    return WebDriverWait(browser, seconds)


def sign_in(browser: webdriver.Chrome, base_url: str, name: str = EDITOR, password: str = PASSWORD) -> None:
    browser.get(f"{base_url}/admin/")
    wait(browser).until(ec.element_to_be_clickable((By.ID, "name")))
    browser.find_element(By.ID, "name").send_keys(name)
    browser.find_element(By.ID, "password").send_keys(password)
    click_and_wait_for_next_page(browser, browser.find_element(By.ID, "sign-in"))


def click_and_wait_for_next_page(browser: webdriver.Chrome, button: Any, seconds: float = 15) -> None:
    """Click a button that submits a form and wait until the page it leads to has loaded."""
    browser.execute_script("window.leaving = true;")
    button.click()
    # The next page has loaded when the flag is gone; a check made mid-navigation may fail and is retried.
    WebDriverWait(browser, seconds, ignored_exceptions=(WebDriverException,)).until(
        lambda b: b.execute_script(
            "return window.leaving === undefined && document.readyState === 'complete'"
        )
    )


def ask(base_url: str, question: str) -> dict:
    return requests.post(f"{base_url}/api/ask", json={"question": question}, timeout=30).json()


def publish(browser: webdriver.Chrome, base_url: str, note: str) -> None:
    browser.get(f"{base_url}/admin/publish")
    wait(browser, SLOW_SECONDS).until(ec.element_to_be_clickable((By.ID, "publish")))
    browser.find_element(By.ID, "note").send_keys(note)
    browser.find_element(By.ID, "publish").click()


def test_sign_in_a_wrong_password_and_the_lockout(driver: webdriver.Chrome, base_url: str) -> None:  # noqa: F811
    sign_in(driver, base_url, "locked.out", "not the password")
    error = wait(driver).until(ec.visibility_of_element_located((By.ID, "sign-in-error")))
    assert "Wrong name or password" in error.text
    for _ in range(LOCKOUT_FAILURES - 1):
        sign_in(driver, base_url, "locked.out", "not the password")
    sign_in(driver, base_url, "locked.out", PASSWORD)
    assert "locked" in wait(driver).until(ec.visibility_of_element_located((By.ID, "sign-in-error"))).text
    sign_in(driver, base_url)
    wait(driver).until(ec.element_to_be_clickable((By.ID, "sign-out"))).click()
    wait(driver).until(ec.element_to_be_clickable((By.ID, "name")))
    assert driver.current_url.endswith("/admin/sign-in")


def test_the_console_in_both_languages(driver: webdriver.Chrome, base_url: str) -> None:  # noqa: F811
    sign_in(driver, base_url)
    wait(driver).until(ec.element_to_be_clickable((By.ID, "lang-toggle"))).click()
    wait(driver).until(ec.text_to_be_present_in_element((By.TAG_NAME, "nav"), "问答条目"))
    assert driver.find_element(By.TAG_NAME, "h1").text == "概览"
    driver.find_element(By.ID, "lang-toggle").click()
    wait(driver).until(ec.text_to_be_present_in_element((By.TAG_NAME, "nav"), "Entries"))


def test_writes_without_the_csrf_token_or_signed_out_are_refused(
    driver: webdriver.Chrome,  # noqa: F811
    base_url: str,
) -> None:
    post = (
        "const done = arguments[arguments.length - 1];"
        "fetch('/admin/api/alternate', {method: 'POST', headers: {'Content-Type': 'application/json'},"
        " body: JSON.stringify({entry: 'contact', lang: 'en', text: 'x'})}).then(r => done(r.status));"
    )
    driver.get(f"{base_url}/admin/sign-in")
    assert driver.execute_async_script(post) == 401
    sign_in(driver, base_url)
    wait(driver).until(ec.element_to_be_clickable((By.ID, "sign-out")))
    assert driver.execute_async_script(post) == 403


def test_an_inbox_group_becomes_an_alternate_is_published_and_rolled_back(
    driver: webdriver.Chrome,  # noqa: F811
    base_url: str,
) -> None:
    assert not ask(base_url, INBOX_QUESTION)["matched"]
    ask(base_url, SCRIPT_QUESTION)
    sign_in(driver, base_url)
    driver.get(f"{base_url}/admin/inbox")
    samples = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".group .sample")]
    assert SCRIPT_QUESTION in samples and driver.title != "owned"  # shown as text, never run
    group = next(
        g
        for g in driver.find_elements(By.CSS_SELECTOR, ".group")
        if g.find_element(By.CLASS_NAME, "sample").text == INBOX_QUESTION
    )
    Select(group.find_element(By.CLASS_NAME, "entry-choice")).select_by_value("contact")
    group.find_element(By.CLASS_NAME, "add-alternate").click()
    wait(driver).until(ec.visibility_of_element_located((By.ID, "saved")))
    assert INBOX_QUESTION in driver.find_element(By.ID, "f-alternates-en").get_attribute("value")
    publish(driver, base_url, "a way of asking from the inbox")
    wait(driver, SLOW_SECONDS).until(ec.visibility_of_element_located((By.ID, "published")))
    assert ask(base_url, INBOX_QUESTION)["faq_id"] == "contact"
    rollback = driver.find_element(By.CSS_SELECTOR, 'button.rollback[data-version="1"]')
    click_and_wait_for_next_page(driver, rollback, SLOW_SECONDS)
    wait(driver, SLOW_SECONDS).until(ec.visibility_of_element_located((By.ID, "published")))
    assert "rollback to version 1" in driver.find_element(By.ID, "versions").text
    assert ask(base_url, INBOX_QUESTION)["faq_id"] != "contact"


def test_a_new_entry_on_an_out_of_scope_topic_and_its_clash_resolved(
    driver: webdriver.Chrome,  # noqa: F811
    base_url: str,
) -> None:
    sign_in(driver, base_url)
    driver.get(f"{base_url}/admin/entries/new")
    fields = {
        "f-id": "dormitory-rooms",
        "f-source": "Admissions office",
        "f-question-en": "How many students share a dormitory room?",
        "f-question-zh": "宿舍几人间？",
        "f-alternates-en": "dorm room size",
        "f-alternates-zh": "宿舍住几个人",
        "f-answer-en": "Rooms are shared by four students.",
        "f-answer-zh": "宿舍为四人间。",
    }
    for element_id, text in fields.items():
        driver.find_element(By.ID, element_id).send_keys(text)
    driver.find_element(By.ID, "save").click()
    clash = wait(driver).until(ec.visibility_of_element_located((By.ID, "clash")))
    assert "out of scope" in clash.text and "宿舍" in clash.text
    driver.find_element(By.ID, "unlist").click()
    wait(driver).until(ec.visibility_of_element_located((By.ID, "saved")))
    assert not driver.find_elements(By.ID, "clash")
    assert driver.find_element(By.ID, "count-zh").text.startswith("7 / 666")


def test_a_publish_that_adds_a_wrong_answer_is_refused_with_the_failure_shown(
    driver: webdriver.Chrome,  # noqa: F811
    base_url: str,
) -> None:
    sign_in(driver, base_url)
    driver.get(f"{base_url}/admin/entries/{WRONG_ENTRY}")
    driver.find_element(By.ID, "f-alternates-zh").send_keys("\n" + WRONG_QUESTION)
    driver.find_element(By.ID, "save").click()
    wait(driver).until(ec.visibility_of_element_located((By.ID, "saved")))
    publish(driver, base_url, "one more way to ask")
    refused = wait(driver, SLOW_SECONDS).until(ec.visibility_of_element_located((By.ID, "gate-failed")))
    assert "new wrong answer" in refused.text
    failures = driver.find_element(By.CSS_SELECTOR, "#set-eval-yaml .new-failures").text
    assert WRONG_QUESTION in failures and RIGHT_ENTRY in failures
    assert ask(base_url, WRONG_QUESTION)["faq_id"] == RIGHT_ENTRY
