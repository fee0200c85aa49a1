"""The staff console through Flask's test client: sign-in, the draft, the publish gate, history, inbox."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_helpers import (
    EDITOR,
    PASSWORD,
    RIGHT_ENTRY,
    VIEWER,
    WRONG_ENTRY,
    WRONG_QUESTION,
    ask,
    console_app,
    console_config,
    console_of,
    copy_corpus,
    csrf_of,
    entry_form,
    sign_in,
)
from flask import Flask
from flask.testing import FlaskClient

from bot.config import Config
from bot.console.accounts import add_account
from bot.console.store import LOCKOUT_FAILURES
from bot.corpus_writer import entry_as_form
from bot.engine import Brain

SCRIPT = "<script>alert(1)</script> how many dorm beds"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return copy_corpus(tmp_path)


@pytest.fixture
def app(config: Config, brain: Brain, corpus: Path, tmp_path: Path) -> Iterator[Flask]:
    app = console_app(console_config(config, corpus, f"sqlite:///{tmp_path / 'faqbot.db'}"), brain)
    yield app
    app.extensions["faqbot"].storage.close()  # stops its upkeep thread


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def editor(client: FlaskClient) -> Iterator[FlaskClient]:
    assert sign_in(client).status_code == 302
    yield client


# --- sign-in ---
@pytest.mark.parametrize("path", ["/admin", "/admin/", "/admin/entries", "/admin/inbox", "/admin/history"])
def test_signed_out_pages_lead_to_the_sign_in_page(client: FlaskClient, path: str) -> None:
    response = client.get(path, follow_redirects=True)
    assert response.request.path == "/admin/sign-in"
    assert 'type="password"' in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "path", ["/admin/publish", "/admin/entries/tuition-fee", "/admin/api/alternate", "/admin/sign-out"]
)
def test_signed_out_writes_are_refused(client: FlaskClient, path: str) -> None:
    assert client.post(path, data={"note": "x"}).status_code == 401


def test_sign_in_sets_a_session_cookie_that_scripts_cannot_read(client: FlaskClient) -> None:
    response = sign_in(client)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("faqbot_console="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert client.get("/admin/").status_code == 200


def test_the_cookie_is_secure_behind_https(client: FlaskClient) -> None:
    form = client.get("/admin/sign-in").get_data(as_text=True)
    token = form.split('name="csrf" value="')[1].split('"')[0]
    response = client.post(
        "/admin/sign-in",
        data={"csrf": token, "name": EDITOR, "password": PASSWORD},
        headers={"X-Forwarded-Proto": "https"},
    )
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("faqbot_console="))
    assert "Secure" in cookie


def test_a_wrong_password_is_refused_and_repeated_failures_lock_the_account(client: FlaskClient) -> None:
    response = sign_in(client, password="not the password")
    assert response.status_code == 401 and "Wrong name or password" in response.get_data(as_text=True)
    for _ in range(LOCKOUT_FAILURES - 1):
        sign_in(client, password="not the password")
    locked = sign_in(client)  # the right password no longer helps
    assert locked.status_code == 401 and "locked" in locked.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_sign_out_ends_the_session(editor: FlaskClient) -> None:
    editor.post("/admin/sign-out", data={"csrf": csrf_of(editor)})
    assert editor.get("/admin/").status_code == 302


def test_the_admin_token_still_works_for_scripts(client: FlaskClient) -> None:
    headers = {"Authorization": "Bearer script-token-9"}
    assert client.get("/admin/stats", headers=headers).status_code == 200
    assert client.get("/admin/stats").status_code == 401


def test_a_form_without_its_csrf_token_is_refused(editor: FlaskClient) -> None:
    form = entry_form("tuition-fee", "How much is the tuition fee?", "学费是多少？")
    assert editor.post("/admin/entries/tuition-fee", data=form).status_code == 403
    json_write = {"entry": "tuition-fee", "lang": "en", "text": "what is the bill"}
    assert editor.post("/admin/api/alternate", json=json_write).status_code == 403
    ok = editor.post("/admin/api/alternate", json=json_write, headers={"X-CSRF-Token": csrf_of(editor)})
    assert ok.status_code == 200


def test_a_viewer_can_read_but_not_change(client: FlaskClient) -> None:
    sign_in(client, VIEWER)
    assert client.get("/admin/entries/tuition-fee").status_code == 200
    response = client.post("/admin/publish", data={"csrf": csrf_of(client), "note": "x"})
    assert response.status_code == 403


# --- entries and the draft ---
def test_entries_are_searched_in_both_languages(editor: FlaskClient) -> None:
    assert "tuition-fee" in editor.get("/admin/entries?q=学费").get_data(as_text=True)
    assert "tuition-fee" in editor.get("/admin/entries?q=tuition").get_data(as_text=True)
    assert "tuition-fee" not in editor.get("/admin/entries?q=Leicester%20campus%20xyz").get_data(as_text=True)


def test_an_edit_goes_to_the_draft_not_to_families(editor: FlaskClient, corpus: Path) -> None:
    before = (corpus / "fees.yaml").read_text(encoding="utf-8")
    form = entry_form("tuition-fee", "How much is the tuition fee?", "学费是多少？", file="fees.yaml")
    editor.post("/admin/entries/tuition-fee", data={**form, "csrf": csrf_of(editor)})
    assert (corpus / "fees.yaml").read_text(encoding="utf-8") == before
    assert "An answer long enough" not in ask(editor, "How much is the tuition fee?")["answer"]
    assert "fees.yaml" in editor.get("/admin/publish").get_data(as_text=True)


@pytest.mark.parametrize("placeholder", ["TODO", "待补充", "...", "x"])
def test_a_placeholder_answer_is_an_error_on_its_field(editor: FlaskClient, placeholder: str) -> None:
    form = entry_form(
        "campus-bus", "Is there a bus between the campuses?", "校区之间有校车吗？", answer_zh=placeholder
    )
    response = editor.post(
        "/admin/entries/new", data={**form, "csrf": csrf_of(editor)}, follow_redirects=True
    )
    page = response.get_data(as_text=True)
    problem = re.search(r'<p class="error field-problem" data-field="answer_zh">([^<]*)</p>', page)
    assert problem and "is a placeholder" in problem.group(1) and "write the real answer" in problem.group(1)
    assert "error" in editor.get("/admin/publish").get_data(as_text=True)


def test_the_answer_length_is_counted_in_characters_against_wechat(editor: FlaskClient) -> None:
    page = editor.get("/admin/entries/tuition-fee").get_data(as_text=True)
    assert "/ 666 characters" in page and "/ 2000 characters" in page


def test_a_new_entry_on_an_out_of_scope_topic_shows_the_clash_and_its_way_out(
    editor: FlaskClient,
) -> None:
    form = entry_form("dormitory-rooms", "How many students share a dormitory room?", "宿舍几人间？")
    page = editor.post(
        "/admin/entries/new", data={**form, "csrf": csrf_of(editor)}, follow_redirects=True
    ).get_data(as_text=True)
    assert 'id="clash"' in page and "dormitory" in page
    terms = page.split('name="term" value="')[1:]
    editor.post(
        "/admin/entries/dormitory-rooms/unlist",
        data={"csrf": csrf_of(editor), "term": [t.split('"')[0] for t in terms]},
    )
    assert 'id="clash"' not in editor.get("/admin/entries/dormitory-rooms").get_data(as_text=True)


# --- try it, publish, history ---
def test_try_it_shows_the_draft_and_the_live_answer_side_by_side(editor: FlaskClient) -> None:
    form = entry_form(
        "alumni-association", "Does the college have an alumni association?", "学院有校友会吗？"
    )
    editor.post("/admin/entries/new", data={**form, "csrf": csrf_of(editor)})
    page = editor.get("/admin/try?q=学院有校友会吗").get_data(as_text=True)
    draft, live = page.split('id="draft"')[1].split('id="live"')
    assert "alumni-association" in draft and "alumni-association" not in live
    assert "Runner-up" in page


def test_a_publish_that_adds_a_wrong_answer_is_refused_until_relabelled(
    editor: FlaskClient, corpus: Path
) -> None:
    editor.post(
        "/admin/api/alternate",
        json={"entry": WRONG_ENTRY, "lang": "zh", "text": WRONG_QUESTION},
        headers={"X-CSRF-Token": csrf_of(editor)},
    )
    before = (corpus / "admissions.yaml").read_text(encoding="utf-8")
    refused = editor.post("/admin/publish", data={"csrf": csrf_of(editor), "note": "more ways to ask"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 409 and "new wrong answer" in page and WRONG_QUESTION in page
    assert (corpus / "admissions.yaml").read_text(encoding="utf-8") == before
    assert ask(editor, WRONG_QUESTION)["faq_id"] == RIGHT_ENTRY
    relabel = {"set": "eval.yaml", "q": WRONG_QUESTION, "lang": "zh", "ids": WRONG_ENTRY}
    editor.post("/admin/publish/relabel", data={"csrf": csrf_of(editor), **relabel})
    published = editor.post("/admin/publish", data={"csrf": csrf_of(editor), "note": "more ways to ask"})
    assert published.status_code == 302
    assert ask(editor, WRONG_QUESTION)["faq_id"] == WRONG_ENTRY
    assert f'q: "{WRONG_QUESTION}"\n    id: {WRONG_ENTRY}' in (corpus / "eval.yaml").read_text(
        encoding="utf-8"
    )


def test_every_publish_is_a_version_with_a_diff_and_one_click_rolls_back(
    editor: FlaskClient, corpus: Path
) -> None:
    editor.post(
        "/admin/api/alternate",
        json={"entry": "contact", "lang": "en", "text": "who answers the phone at the college"},
        headers={"X-CSRF-Token": csrf_of(editor)},
    )
    assert editor.post("/admin/publish", data={"csrf": csrf_of(editor), "note": "phone"}).status_code == 302
    history = editor.get("/admin/history").get_data(as_text=True)
    assert "baseline" in history and "publish: phone" in history and EDITOR in history
    diff = editor.get("/admin/history/2").get_data(as_text=True)
    assert "+      - who answers the phone at the college" in diff
    assert editor.post("/admin/history/1/rollback", data={"csrf": csrf_of(editor)}).status_code == 302
    assert "who answers the phone" not in (corpus / "contact.yaml").read_text(encoding="utf-8")
    assert "rollback: rollback to version 1" in editor.get("/admin/history").get_data(as_text=True)
    audit = editor.get("/admin/audit").get_data(as_text=True)
    for action in ("sign-in", "edit", "publish", "rollback"):
        assert action in audit


def test_a_broken_draft_never_reaches_families(editor: FlaskClient, corpus: Path) -> None:
    form = entry_form("tuition-fee", "How much is the tuition fee?", "学费是多少？", answer_en="")
    editor.post("/admin/entries/tuition-fee", data={**form, "csrf": csrf_of(editor)})
    assert editor.post("/admin/publish", data={"csrf": csrf_of(editor), "note": "x"}).status_code == 409
    assert "62,000" in ask(editor, "How much is the tuition fee?")["answer"]


# --- inbox and dashboard ---
def test_the_inbox_groups_declined_questions_and_shows_them_as_text(editor: FlaskClient) -> None:
    for question in (
        SCRIPT,
        SCRIPT,
        "is there a shuttle bus between campuses",
        "shuttle bus between campuses?",
    ):
        ask(editor, question)
    page = editor.get("/admin/inbox").get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count('class="group"') == 2


def test_an_inbox_group_added_as_an_alternate_is_answered_after_publishing(editor: FlaskClient) -> None:
    question = "whom should I talk to"
    first = ask(editor, question)
    assert first["suggestions"] and not first["matched"]
    page = editor.get("/admin/inbox").get_data(as_text=True)
    gid = page.split('id="group-')[1].split('"')[0]
    editor.post(
        f"/admin/inbox/{gid}", data={"csrf": csrf_of(editor), "action": "alternate", "entry": "contact"}
    )
    assert editor.post("/admin/publish", data={"csrf": csrf_of(editor), "note": "inbox"}).status_code == 302
    assert ask(editor, question)["faq_id"] == "contact"
    assert question not in editor.get("/admin/inbox").get_data(as_text=True)


def test_dismissed_groups_leave_the_inbox(editor: FlaskClient) -> None:
    ask(editor, "can I bring my cat")
    gid = editor.get("/admin/inbox").get_data(as_text=True).split('id="group-')[1].split('"')[0]
    editor.post(f"/admin/inbox/{gid}", data={"csrf": csrf_of(editor), "action": "dismiss"})
    assert "can I bring my cat" not in editor.get("/admin/inbox").get_data(as_text=True)


def test_the_dashboard_charts_have_text_alternatives(editor: FlaskClient) -> None:
    ask(editor, "学费多少")
    ask(editor, "can I bring my cat")
    page = editor.get("/admin/?days=7").get_data(as_text=True)
    assert page.count("<svg") == 2 and 'role="img"' in page
    assert 'id="per-day"' in page and "tuition-fee" in page


def test_the_console_speaks_chinese_when_asked(editor: FlaskClient) -> None:
    editor.get("/admin/language/zh")
    page = editor.get("/admin/entries").get_data(as_text=True)
    assert "问答条目" in page and 'lang="zh-CN"' in page


def test_the_chat_page_and_api_are_unchanged(client: FlaskClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    page.close()
    assert ask(client, "学费多少")["faq_id"] == "tuition-fee"


def test_the_inbox_shows_which_suggestion_families_chose(editor: FlaskClient) -> None:
    offered = editor.post("/api/ask", json={"question": "whom should I talk to", "session": "family-7"})
    first = offered.get_json()["suggestions"][0]["id"]
    chosen = editor.post("/api/ask", json={"question": "1", "session": "family-7"}).get_json()
    assert chosen["faq_id"] == first
    page = editor.get("/admin/inbox").get_data(as_text=True)
    assert f'<span class="picked">{first}</span>' in page


def test_a_new_entry_needs_its_source(editor: FlaskClient) -> None:
    form = entry_form("alumni-association", "Is there an alumni association?", "有校友会吗？", source="")
    response = editor.post("/admin/entries/new", data={**form, "csrf": csrf_of(editor)})
    assert response.status_code == 422 and "source" in response.get_data(as_text=True)


def test_a_draft_started_before_another_change_is_flagged(editor: FlaskClient, corpus: Path) -> None:
    editor.post(
        "/admin/api/alternate",
        json={"entry": "contact", "lang": "en", "text": "who answers the phone at the college"},
        headers={"X-CSRF-Token": csrf_of(editor)},
    )
    assert 'id="stale"' not in editor.get("/admin/publish").get_data(as_text=True)
    with (corpus / "userdict.txt").open("a", encoding="utf-8") as extra:
        extra.write("校友会 1000 n\n")
    assert 'id="stale"' in editor.get("/admin/publish").get_data(as_text=True)


def test_an_inbox_group_marked_out_of_scope_becomes_a_question_to_decline(editor: FlaskClient) -> None:
    ask(editor, "can I bring my cat")
    page = editor.get("/admin/inbox").get_data(as_text=True)
    gid = page.split('id="group-')[1].split('"')[0]
    editor.post(f"/admin/inbox/{gid}", data={"csrf": csrf_of(editor), "action": "out-of-scope"})
    assert "can I bring my cat" not in editor.get("/admin/inbox").get_data(as_text=True)
    diff = editor.get("/admin/publish").get_data(as_text=True).split('id="diff"')[1]
    assert "+  - q: can I bring my cat\n+    id: null\n+    lang: en\n+    style: oos" in diff


def test_start_a_new_entry_from_an_inbox_group(editor: FlaskClient) -> None:
    ask(editor, "can I bring my cat")
    gid = editor.get("/admin/inbox").get_data(as_text=True).split('id="group-')[1].split('"')[0]
    response = editor.post(f"/admin/inbox/{gid}", data={"csrf": csrf_of(editor), "action": "new"})
    page = editor.get(response.location).get_data(as_text=True)
    assert 'id="f-question-en" value="can I bring my cat"' in page


# --- two editors at once ---
REVISION = re.compile(r'name="revision" value="(\d+)"')


def test_a_save_over_a_draft_changed_since_the_page_was_opened_is_refused(
    app: Flask, editor: FlaskClient
) -> None:
    add_account(console_of(app).store, "li.editor", PASSWORD, "editor")
    other = app.test_client()
    sign_in(other, "li.editor")
    page = editor.get("/admin/entries/contact").get_data(as_text=True)
    seen = REVISION.search(page).group(1)
    other.post(
        "/admin/api/alternate",
        json={"entry": "tuition-fee", "lang": "en", "text": "what do I pay each year"},
        headers={"X-CSRF-Token": csrf_of(other)},
    )
    form = {
        **contact_form(editor),
        "answer_en": "Call the office.",
        "revision": seen,
        "csrf": csrf_of(editor),
    }
    refused = editor.post("/admin/entries/contact", data=form)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 409 and "changed by li.editor" in page and "Call the office." in page
    assert "what do I pay each year" in console_of(app).draft_files()["fees.yaml"]
    again = {**form, "revision": REVISION.search(page).group(1)}
    assert editor.post("/admin/entries/contact", data=again).status_code == 302
    files = console_of(app).draft_files()
    assert "Call the office." in files["contact.yaml"] and "what do I pay each year" in files["fees.yaml"]


def test_a_publish_while_another_is_under_way_is_refused(
    app: Flask, editor: FlaskClient, corpus: Path
) -> None:
    editor.post(
        "/admin/api/alternate",
        json={"entry": "contact", "lang": "en", "text": "who answers the phone at the college"},
        headers={"X-CSRF-Token": csrf_of(editor)},
    )
    store = console_of(app).store
    token = store.take_publish_lock("li.editor")  # another worker in the middle of its publish
    refused = editor.post("/admin/publish", data={"csrf": csrf_of(editor), "note": "phone"})
    assert refused.status_code == 409 and "li.editor is publishing" in refused.get_data(as_text=True)
    assert store.latest_version() == 0
    assert "who answers the phone" not in (corpus / "contact.yaml").read_text(encoding="utf-8")
    editor.get("/admin/language/zh")
    in_chinese = editor.post("/admin/publish", data={"csrf": csrf_of(editor), "note": "phone"})
    assert in_chinese.status_code == 409 and "li.editor正在发布" in in_chinese.get_data(as_text=True)
    store.release_publish_lock(token)
    assert editor.post("/admin/publish", data={"csrf": csrf_of(editor), "note": "phone"}).status_code == 302
    assert store.publish_lock() is None and store.latest_version() == 2


def test_a_publish_of_a_draft_changed_since_it_was_reviewed_is_refused(
    app: Flask, editor: FlaskClient, corpus: Path
) -> None:
    write = {"headers": {"X-CSRF-Token": csrf_of(editor)}}
    editor.post(
        "/admin/api/alternate", json={"entry": "contact", "lang": "en", "text": "phone the office"}, **write
    )
    reviewed = REVISION.search(editor.get("/admin/publish").get_data(as_text=True)).group(1)
    editor.post(
        "/admin/api/alternate", json={"entry": "contact", "lang": "en", "text": "ring the college"}, **write
    )
    refused = editor.post("/admin/publish", data={"csrf": csrf_of(editor), "note": "x", "revision": reviewed})
    assert refused.status_code == 409 and "after you opened this page" in refused.get_data(as_text=True)
    assert "phone the office" not in (corpus / "contact.yaml").read_text(encoding="utf-8")
    assert console_of(app).has_draft()


def contact_form(client: FlaskClient) -> dict[str, str]:
    """The contact entry's form as its page shows it."""
    form = entry_as_form(console_of(client.application).draft_files(), "contact")
    return {
        "id": "contact",
        "category": form["category"],
        "source": form["source"],
        **{f"{key}_{lang}": form[key][lang] for key in ("question", "answer") for lang in ("en", "zh")},
        **{
            f"{key}_{lang}": "\n".join(form[key][lang])
            for key in ("alternates", "keywords")
            for lang in ("en", "zh")
        },
        "related": "\n".join(form["related"]),
        "variants": form["variants"],
    }
