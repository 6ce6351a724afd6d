"""The console's languages: one catalogue with both texts for every key, no page showing an untranslated key,
the pipeline's English sentences translated for German pages, times in Europe/Berlin, German by default.

The pages are fetched from a running gateway (the conftest's, SQLite and PostgreSQL) in both languages with
messages the real worker took through the pipeline, so the event texts checked are the ones it writes.
"""

from __future__ import annotations

import re
import string
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, select
from starlette.requests import Request

from gateway.console import i18n
from gateway.console.i18n import CATALOGUE, MISSING, SAME_IN_BOTH, phrase, pick_language, translate
from gateway.console.web import age, local_time, make_environment, number
from gateway.pipeline.worker import run_in_thread
from gateway.store.models import Message, MessageEvent, MessageState
from tests.api.support import ALTENBURG, Gateway
from tests.console.support import PASSWORD, csrf_of, fail, sign_in, submit

#: reasons written by tests/console/support.py, not by the gateway: they stay English (and are marked so)
TEST_REASONS = {"queued for sending", "refused by the peer"}


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_has_both_texts_and_german_differs_where_it_should() -> None:
    for key, (english, german) in CATALOGUE.items():
        assert english.strip() and german.strip(), key
        assert _fields(english) == _fields(german), key
        if key not in SAME_IN_BOTH:
            assert english != german, f"{key}: German text is the English one ({german!r})"
    assert set(CATALOGUE) >= SAME_IN_BOTH


def test_a_missing_key_is_shown_marked_and_recorded() -> None:
    shown = translate("de", "no-such-key-for-this-test")
    assert shown == "⟦no-such-key-for-this-test⟧"
    assert "no-such-key-for-this-test" in MISSING
    MISSING.discard("no-such-key-for-this-test")


def _request(headers: dict[str, str], query: str = "") -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "headers": raw, "query_string": query.encode(), "path": "/console/"})


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        ({}, "", "de"),  # German users: the default
        ({"Accept-Language": "en-US,en;q=0.9"}, "", "en"),
        ({"Accept-Language": "de-DE,de;q=0.9,en;q=0.8"}, "", "de"),
        ({"Accept-Language": "fr-FR, en;q=0.5, de;q=0.7"}, "", "de"),
        ({"Accept-Language": "fr-FR, de;q=0.5, en;q=0.7"}, "", "en"),
        ({"Accept-Language": "fr-FR"}, "", "de"),
        ({"Accept-Language": "en-GB"}, "lang=de", "de"),  # the user's switch wins
        ({"Accept-Language": "de-DE", "Cookie": "xgw_console_lang=en"}, "", "en"),
        ({}, "lang=xx", "de"),
    ],
)
def test_the_language_is_german_unless_asked_otherwise(headers: dict[str, str], query: str, expected: str) -> None:
    assert pick_language(_request(headers, query)) == expected


def test_times_are_berlin_local_time_in_german_and_english_formats() -> None:
    winter = datetime(2026, 12, 3, 21, 5, 7, tzinfo=UTC)
    summer = datetime(2026, 7, 1, 21, 5, 7, tzinfo=UTC)
    assert local_time("de", winter) == "03.12.2026, 22:05:07"  # CET, UTC+1
    assert local_time("de", summer) == "01.07.2026, 23:05:07"  # CEST, UTC+2
    assert local_time("en", winter) == "3 Dec 2026, 22:05:07"
    assert local_time("de", winter.replace(tzinfo=None)) == "03.12.2026, 22:05:07"  # naive = UTC (as stored)
    assert local_time("de", None) == "–"
    assert number("de", 1234567) == "1.234.567" and number("en", 1234567) == "1,234,567"
    assert number("de", "2.5") == "2,5"
    assert age("de", 300) == "5 Min." and age("en", 300) == "5 mins"


def test_templates_get_the_filters_in_the_pages_language() -> None:
    env = make_environment()
    template = env.from_string(
        "{{ s | state_label }}|{{ d | direction_label }}|{{ a | audit_action }}|{{ r | audit_result }}|"
        "{{ at | when }}|{{ reason | event_text }}|{{ short_id(pid) }}"
    )
    values: dict[str, Any] = {
        "s": MessageState.DEAD_LETTERED,
        "d": "in",
        "a": "sign-in",
        "r": "refused",
        "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "reason": "given up after 5 tries; something new",
        "pid": "c98474dc-7ef4-4f50-9412-f85130c754f7",
    }
    german = template.render(lang="de", **values).split("|")
    assert german[:5] == ["unzustellbar", "Eingang", "Anmeldung", "abgelehnt", "02.01.2026, 04:04:05"]
    assert german[5] == 'nach 5 Versuchen aufgegeben; <span lang="en">something new</span>'
    assert 'title="c98474dc-7ef4-4f50-9412-f85130c754f7"' in german[6] and "c98474dc…" in german[6]
    assert "Kopieren" in german[6]
    english = template.render(lang="en", **values).split("|")
    assert english[:4] == ["dead-lettered", "in", "sign-in", "refused"]
    assert english[5] == "given up after 5 tries; something new"
    # a value this version does not know is shown as it is, not as a missing key
    assert env.from_string("{{ 'ldap-sync' | audit_action }}").render(lang="de") == "ldap-sync"


def test_event_texts_are_escaped_also_when_translated() -> None:
    assert "<script>" not in phrase("de", "cancelled by console:x: <script>alert(1)</script>")
    assert "&lt;script&gt;" in phrase("de", "<script>")
    assert "&lt;b&gt;" in phrase("en", "<b>")


SENTENCES = [
    "received via rest as x.xml (4255 bytes, SHA-256 34add1b27767b2c7)",
    "received via xta (12 bytes, SHA-256 00ff)",
    "signature verified by certificate 0a:1b",
    "signature unsigned",
    "valid xdomea 3.0.0 0501 (2 warning(s))",
    "already signed by the sender (signature verified at intake)",
    "not signed: packages carry no signature in this version",
    "not signed: no signing key for psw:16067000, its policy allows unsigned messages",
    "signed with certificate ab12",
    "route xta to psw:16000001",
    "in the mailbox as dc6a8fa1-1e6b-4e4f-827d-ea27a21404df",
    "XTA abc accepted by peer-1, report status 1 (already there: 9024 confirmed by the report)",
    "in the mailbox of psw:16000001; acknowledges message dc6a8fa1-1e6b-4e4f-827d-ea27a21404df",
    "imported into the DMS of psw:1 (hotfolder, imported) as /in/x.zip",
    "Empfangsbestaetigung 0507 sent as message dc6a8fa1-1e6b-4e4f-827d-ea27a21404df; "
    "Importbestaetigung 0502 (3 imported, 1 failed) sent as message dc6a8fa1-1e6b-4e4f-827d-ea27a21404df",
    "fetched by psw:1 from its XTA MsgBox as x-1",
    "receipt confirmed by psw:1 (XTA close of x-1); the pipeline confirms it once its answer is made",
    "try 2 failed; next try in 30 s",
    "lease of worker w-1 expired at 2026-01-01T00:00:00+00:00",
    "retry from queued by console:root: the peer is back",
    "requeued from sent to queued: do it again by cli:ops",
    "moved to the dead letter by console:root",
    "a message in state sent cannot be cancelled (any more)",
    "failed -> queued; note: the peer is back",
    "sent: only failed or dead-lettered messages are retried, not sent",
    "since: not a date and time like 2026-11-25T14:00",
    "type: a Nachrichtentyp code of four digits, e.g. 0503",
]


@pytest.mark.parametrize("sentence", SENTENCES)
def test_the_pipelines_sentences_are_german_on_a_german_page(sentence: str) -> None:
    german = str(phrase("de", sentence, lambda n: number("de", n)))
    assert 'lang="en"' not in german, german
    assert german != sentence
    assert "{" not in german and "}" not in german, german


def test_every_phrase_pattern_compiles_and_names_only_known_fields() -> None:
    helpers = {"file_as", "fp_by", "location_as", "again_de", "note_colon", "note_semicolon", "refusal_phrase"}
    helpers |= {"field_label"}
    for pattern, german in i18n.PHRASES:
        groups = set(re.compile(pattern).groupindex)
        assert _fields(german) <= groups | helpers, (pattern, german)


# -- the pages, fetched from a running gateway -------------------------------------------------------------


@pytest.fixture(scope="module")
def worked(gateway: Gateway) -> dict[str, str]:
    """Messages through the real pipeline (worker), a failed one, and audited sign-ins and a refused action."""
    failed = submit(gateway, 700)
    fail(gateway, failed)
    done = submit(gateway, 701)
    submit(gateway, 702, altenburg=True)
    stop = threading.Event()
    worker = threading.Thread(target=run_in_thread, args=(gateway.ctx, stop), daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with Session(gateway.ctx.engine) as session:
                message = session.get(Message, uuid.UUID(done))
                if message is not None and message.state is MessageState.SENT:
                    break
            time.sleep(0.2)
    finally:
        stop.set()
        worker.join(timeout=30)
    with sign_in(gateway, "root") as admin:
        page = admin.get(f"/console/messages/{done}/confirm/cancel")
        admin.post(f"/console/messages/{done}/cancel", data={"csrf": csrf_of(page.text)})  # refused or done
    return {"failed": failed, "done": done}


PAGES = [
    "/console/",
    "/console/dashboard/panel",
    "/console/messages",
    "/console/messages?state=failed&direction=out",
    "/console/messages?type=abc",
    "/console/messages?since=tomorrow",
    "/console/messages/{failed}",
    "/console/messages/{done}",
    "/console/messages/{failed}/confirm/retry",
    "/console/messages/{failed}/confirm/dead_letter",
    "/console/participants",
    f"/console/participants/{ALTENBURG}",
    "/console/audit",
    "/console/messages/00000000-0000-0000-0000-000000000000",
]


def test_no_page_shows_an_untranslated_key(gateway: Gateway, worked: dict[str, str]) -> None:
    MISSING.clear()
    seen = 0
    for lang in ("de", "en"):
        with httpx_client(gateway, lang) as anonymous:
            login = anonymous.get("/console/login")
            assert f'lang="{lang}"' in login.text and "⟦" not in login.text
        with sign_in(gateway, "root", headers={"Accept-Language": lang}) as admin:
            for path in PAGES:
                response = admin.get(path.format(**worked))
                assert response.status_code in (200, 400, 404), (path, response.status_code)
                assert "⟦" not in response.text, (lang, path, re.findall("⟦[^⟧]*⟧", response.text))
                if not path.endswith("/panel"):
                    assert f'<html lang="{lang}">' in response.text, (lang, path)
                seen += 1
    assert seen == 2 * len(PAGES)
    assert not MISSING, sorted(MISSING)


def test_the_reasons_the_pipeline_wrote_are_all_translated(gateway: Gateway, worked: dict[str, str]) -> None:
    with Session(gateway.ctx.engine) as session:
        reasons = {e.reason for e in session.exec(select(MessageEvent).where(col(MessageEvent.reason) != "")).all()}
    written = reasons - TEST_REASONS
    assert len(written) >= 5, written  # received, validated, queued/signed, sent, delivered ...
    untranslated = [r for r in written if 'lang="en"' in str(phrase("de", r))]
    assert not untranslated, untranslated


def test_the_search_page_reads_a_date_without_zone_as_berlin_time(gateway: Gateway, worked: dict[str, str]) -> None:
    """The form's datetime-local fields send no zone: they mean the Berlin time the pages show. Were they read
    as UTC, the bound would move by one or two hours and the newest message would be on the wrong side."""
    with Session(gateway.ctx.engine) as session:
        newest = session.exec(select(Message).order_by(col(Message.created_at).desc()).limit(1)).one()
    berlin = newest.created_at.astimezone(ZoneInfo("Europe/Berlin")).replace(tzinfo=None, microsecond=0)
    link = f"/console/messages/{newest.id}"
    with sign_in(gateway, "root", headers={"Accept-Language": "de"}) as admin:
        after = admin.get("/console/messages", params={"since": (berlin + timedelta(seconds=1)).isoformat()})
        before = admin.get("/console/messages", params={"since": (berlin - timedelta(seconds=1)).isoformat()})
    assert after.status_code == 200 and link not in after.text and "Keine passenden Nachrichten" in after.text
    assert before.status_code == 200 and link in before.text


def httpx_client(gateway: Gateway, lang: str) -> Any:
    import httpx

    return httpx.Client(base_url=gateway.url, timeout=60, headers={"Accept-Language": lang})


def test_the_sign_in_form_in_german_is_the_default(gateway: Gateway) -> None:
    with httpx_client(gateway, "") as client:
        client.headers.pop("Accept-Language")
        form = client.get("/console/login")
        assert '<html lang="de">' in form.text and "Benutzername" in form.text and "Anmelden" in form.text
        switched = client.get("/console/login", params={"lang": "en"})
        assert "User name" in switched.text and 'hreflang="de"' in switched.text
        again = client.get("/console/login")  # the choice is remembered
        assert '<html lang="en">' in again.text
        bad = client.post("/console/login", data={"csrf": csrf_of(again.text), "username": "x", "password": PASSWORD})
        assert bad.status_code == 401 and "wrong" in bad.text
        # the answer to a POST cannot be fetched again: its language switch goes to the sign-in form
        assert 'href="/console/login?lang=de"' in bad.text
