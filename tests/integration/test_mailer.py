"""The outbox sender against a real SMTP server process (aiosmtpd) on loopback."""

from __future__ import annotations

import asyncio
import email
import email.policy
import mailbox
import os
import subprocess
import sys
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import asyncpg
import httpx
import pytest
from litestar import Litestar

from survey_service.apikeys.service import create_key
from survey_service.invitations.sender import send_due
from survey_service.settings import SmtpSettings
from tests.helpers import free_port, hidden, start_smtp

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """aiosmtpd delivering every message into a Maildir."""
    box = tmp_path / "mbox"
    port, process = start_smtp("aiosmtpd.handlers.Mailbox", str(box))
    yield port, box
    process.terminate()
    process.wait(timeout=10)


def messages(box: Path) -> list[Message]:
    return (
        [
            email.message_from_bytes(m.as_bytes(), policy=email.policy.default)
            for m in mailbox.Maildir(box)
        ]
        if box.exists()
        else []
    )


async def queue(
    app: Litestar, client: httpx.AsyncClient, rows: list[dict[str, object]]
) -> list[int]:
    key = await create_key(app.state.db, "mail", ["invitations:write"])
    response = await client.post(
        "/api/v1/invitations", json=rows, headers={"Authorization": f"Bearer {key.key}"}
    )
    created: list[int] = response.json()["created"]
    return created


async def test_invitations_go_out_once_with_safe_headers_and_working_links(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection, smtp_server: tuple[int, Path]
) -> None:
    port, box = smtp_server
    ids = await queue(
        app,
        client,
        [
            {
                "survey": "nps-empathy",
                "email": f"u{i}@example.com",
                "name": "Ana\r\nBcc: evil@example.com" if i == 0 else f"User {i}",
                "language": "es" if i == 0 else "en",
            }
            for i in range(12)
        ],
    )
    smtp = SmtpSettings(
        host="127.0.0.1", port=port, sender="Survey <survey@example.com>", per_second=1000
    )
    service = app.state.invitations
    # Two senders at once: SKIP LOCKED gives each row to one of them.
    reports = await asyncio.gather(send_due(service, smtp, 5), send_due(service, smtp, 5))
    reports += [await send_due(service, smtp)]
    assert sum(r.sent for r in reports) == 12
    assert (await send_due(service, smtp)).claimed == 0  # nothing twice
    received = messages(box)
    assert sorted(m["To"] for m in received) == sorted(
        [f"User {i} <u{i}@example.com>" for i in range(1, 12)]
        + ['"Ana  Bcc: evil@example.com" <u0@example.com>']
    )
    assert all(m["Bcc"] is None for m in received)
    spanish = next(m for m in received if "u0@" in m["To"])
    assert spanish["Subject"] == "¿Nos recomendaría?"
    assert spanish["List-Unsubscribe"] == f"<{service.unsubscribe_url(ids[0])}>"
    assert spanish["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    parts = {
        p.get_content_type(): p.get_payload(decode=True).decode()
        for p in spanish.walk()
        if not p.is_multipart()
    }
    assert set(parts) == {"text/plain", "text/html"}
    assert "Hola Ana  Bcc: evil@example.com," in parts["text/plain"]
    tap = next(
        line.split(": ", 1)[1]
        for line in parts["text/plain"].splitlines()
        if line.startswith("  9: ")
    )
    page = await client.get(tap.removeprefix(app.state.settings.base_url))
    assert page.status_code == 200
    claims = app.state.surveys.signer.verify(hidden(page.text, "token"))
    assert claims.channel == "email"
    statuses = await db.fetch("SELECT status, attempts FROM invitation")
    # Every message went once; the one whose link was followed shows it.
    assert (
        sorted((r["status"], r["attempts"]) for r in statuses)
        == [("opened-form", 1)] + [("sent", 1)] * 11
    )


async def test_unreachable_server_requeues_with_backoff(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await queue(app, client, [{"survey": "nps-empathy", "email": "late@example.com"}])
    smtp = SmtpSettings(host="127.0.0.1", port=free_port(), sender="s@example.com")
    report = await send_due(app.state.invitations, smtp)
    assert (report.sent, report.failed, report.deferred) == (0, 0, 1)
    row = await db.fetchrow(
        "SELECT status, attempts, last_error, send_at > now() AS later FROM invitation"
    )
    assert (row["status"], row["attempts"], row["later"]) == ("queued", 1, True)
    assert "cannot connect" in row["last_error"]


async def test_one_click_unsubscribe_suppresses_the_address(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    ids = await queue(
        app,
        client,
        [
            {"survey": "nps-empathy", "email": "bye@example.com"},
            {"survey": "counter-check", "email": "bye@example.com"},
        ],
    )
    service = app.state.invitations
    url = service.unsubscribe_url(ids[0]).removeprefix(app.state.settings.base_url)
    assert (await client.get(url)).status_code == 200  # a mail scanner opening it changes nothing
    assert await db.fetchval("SELECT count(*) FROM suppression") == 0
    forged = await client.post(url[:-2] + ("00" if not url.endswith("00") else "11"))
    assert forged.status_code == 400
    done = await client.post(url)  # RFC 8058: a plain POST, no CSRF token
    assert done.status_code == 200
    assert "You are unsubscribed" in done.text
    assert await db.fetchval("SELECT email FROM suppression") == "bye@example.com"
    assert {r["status"] for r in await db.fetch("SELECT status FROM invitation")} == {
        "unsubscribed"
    }
    again = await queue(app, client, [{"survey": "nps-empathy", "email": "bye@example.com"}])
    assert again == []  # every later invitation respects the suppression list


async def test_unsubscribe_pages_speak_the_invitations_language(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    [spanish] = await queue(
        app, client, [{"survey": "nps-empathy", "email": "adios@example.com", "language": "es"}]
    )
    url = app.state.invitations.unsubscribe_url(spanish).removeprefix(app.state.settings.base_url)
    asked = await client.get(url)
    assert 'lang="es"' in asked.text
    assert "¿Dejar de recibir invitaciones" in asked.text
    done = await client.post(url)
    assert "Se ha dado de baja" in done.text
    forged = await client.post(url[:-2] + ("00" if not url.endswith("00") else "11"))
    assert forged.status_code == 400  # a bad link: the browser's language, English here
    assert 'lang="en"' in forged.text


async def test_one_tap_link_preselects_but_stores_nothing(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    [invitation_id] = await queue(
        app, client, [{"survey": "nps-empathy", "email": "tap@example.com"}]
    )
    link = app.state.invitations.link(
        dict(await db.fetchrow("SELECT * FROM invitation WHERE id = $1", invitation_id))
    )
    page = await client.get(link.removeprefix(app.state.settings.base_url) + "&recommend=9")
    assert 'value="9" checked' in page.text
    assert page.text.count(" checked") == 1
    ignored = await client.get(link.removeprefix(app.state.settings.base_url) + "&recommend=99")
    assert " checked" not in ignored.text
    assert await db.fetchval("SELECT count(*) FROM response") == 0


async def test_temporary_refusals_are_retried_and_permanent_ones_fail(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    port, process = start_smtp("tests.smtp_handlers.Flaky")
    try:
        await queue(
            app,
            client,
            [
                {"survey": "nps-empathy", "email": "temp@example.com"},
                {"survey": "nps-empathy", "email": "perm@example.com"},
            ],
        )
        smtp = SmtpSettings(host="127.0.0.1", port=port, sender="s@example.com", per_second=1000)
        service = app.state.invitations
        for _ in range(3):
            await send_due(service, smtp)
            await db.execute(
                "UPDATE invitation SET send_at = now() WHERE status = 'queued'"
            )  # skip the wait
        rows = {
            r["email"]: r
            for r in await db.fetch("SELECT email, status, attempts, last_error FROM invitation")
        }
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert (rows["perm@example.com"]["status"], rows["perm@example.com"]["attempts"]) == (
        "failed",
        1,
    )
    assert rows["perm@example.com"]["last_error"].startswith("550")
    assert (rows["temp@example.com"]["status"], rows["temp@example.com"]["attempts"]) == ("sent", 3)


async def test_status_follows_the_invitation(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection, smtp_server: tuple[int, Path]
) -> None:
    port, _ = smtp_server
    [invitation_id] = await queue(
        app, client, [{"survey": "nps-empathy", "email": "s@example.com"}]
    )
    service = app.state.invitations
    key = await create_key(app.state.db, "status", ["invitations:write"])
    headers = {"Authorization": f"Bearer {key.key}"}

    async def status() -> str:
        body = (await client.get(f"/api/v1/invitations/{invitation_id}", headers=headers)).json()
        value: str = body["status"]
        return value

    assert await status() == "queued"
    await send_due(service, SmtpSettings(host="127.0.0.1", port=port, sender="s@example.com"))
    assert await status() == "sent"
    link = (await client.get(f"/api/v1/invitations/{invitation_id}", headers=headers)).json()[
        "link"
    ]
    page = await client.get(link.removeprefix(app.state.settings.base_url))
    assert await status() == "opened-form"
    await client.post(
        "/s/nps-empathy",
        data={
            "token": hidden(page.text, "token"),
            "_csrf_token": hidden(page.text, "_csrf_token"),
            "recommend": "10",
        },
    )
    assert await status() == "responded"
    await db.execute("UPDATE invitation SET status = 'sent', expires_at = now() - interval '1 day'")
    assert await status() == "expired"


async def test_one_reminder_to_those_who_have_not_answered(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection, smtp_server: tuple[int, Path]
) -> None:
    port, box = smtp_server
    ids = await queue(
        app,
        client,
        [
            {"survey": "split-50-50", "email": f"{who}@example.com"}
            for who in ("answered", "leaver", "quiet")
        ]
        + [{"survey": "nps-empathy", "email": "no-reminders@example.com"}],
    )  # that survey asks for none
    service = app.state.invitations
    smtp = SmtpSettings(host="127.0.0.1", port=port, sender="s@example.com", per_second=1000)
    assert (await send_due(service, smtp)).sent == 4
    await db.execute("UPDATE invitation SET status = 'responded' WHERE id = $1", ids[0])
    assert await service.unsubscribe(service.unsubscribe_url(ids[1]).rsplit("/", 1)[1])
    assert (await send_due(service, smtp)).sent == 0  # too early: 3 days not yet passed
    await db.execute("UPDATE invitation SET sent_at = now() - interval '4 days'")
    assert (await send_due(service, smtp)).sent == 1
    assert (await send_due(service, smtp)).sent == 0  # one reminder only
    reminders = [m for m in messages(box) if m["Subject"].startswith("Reminder: ")]
    assert [m["To"] for m in reminders] == ["quiet@example.com"]


async def test_send_command(
    app: Litestar, client: httpx.AsyncClient, database_url: str, smtp_server: tuple[int, Path]
) -> None:
    port, box = smtp_server
    await queue(app, client, [{"survey": "nps-empathy", "email": "cli@example.com"}])
    env = {**os.environ, "DATABASE_URL": database_url, "SURVEY_SECRET_KEY": "c" * 40}

    def send() -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "survey_service", "send"]
        return subprocess.run(
            command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
        )

    off = await asyncio.to_thread(send)
    assert off.returncode == 2
    assert "SURVEY_SMTP_HOST" in off.stderr
    env |= {
        "SURVEY_SMTP_HOST": "127.0.0.1",
        "SURVEY_SMTP_PORT": str(port),
        "SURVEY_ROLLUP_INTERVAL_SECONDS": "3600",
    }
    done = await asyncio.to_thread(send)
    assert done.returncode == 0, done.stderr[-500:]
    assert "sent 1, failed 0, deferred 0" in done.stdout
    assert "SURVEY_PUBLIC_URL is unset" in done.stderr
    [message] = messages(box)
    assert message["To"] == "cli@example.com"
    assert message["Date"]  # RFC 5322 requires it
    assert message["Message-ID"].endswith("@localhost>")  # survey@localhost sends it
    env |= {"SURVEY_PUBLIC_URL": "https://survey.example"}
    await queue(app, client, [{"survey": "nps-empathy", "email": "cli2@example.com"}])
    again = await asyncio.to_thread(send)
    assert "SURVEY_PUBLIC_URL" not in again.stderr
    [second] = [m for m in messages(box) if m["To"] == "cli2@example.com"]
    assert "https://survey.example/s/nps-empathy?t=" in second.get_body(("plain",)).get_content()


async def test_bounce_reports_mark_and_suppress(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection, smtp_server: tuple[int, Path]
) -> None:
    port, _ = smtp_server
    [first] = await queue(app, client, [{"survey": "nps-empathy", "email": "Gone@Example.com"}])
    await send_due(
        app.state.invitations,
        SmtpSettings(host="127.0.0.1", port=port, sender="s@example.com"),
    )
    key = await create_key(app.state.db, "provider", ["invitations:write"])
    headers = {"Authorization": f"Bearer {key.key}"}
    response = await client.post(
        "/api/v1/invitations/bounces",
        json=[{"email": "gone@example.com", "reason": "550 5.1.1 user unknown"}],
        headers=headers,
    )
    assert response.json() == {"bounced": 1}
    invitation = (await client.get(f"/api/v1/invitations/{first}", headers=headers)).json()
    assert (invitation["status"], invitation["last_error"]) == ("bounced", "550 5.1.1 user unknown")
    assert await queue(app, client, [{"survey": "nps-empathy", "email": "gone@example.com"}]) == []
    bad = await client.post("/api/v1/invitations/bounces", json=[{"mail": "x"}], headers=headers)
    assert bad.status_code == 400


async def test_a_survey_limited_key_reports_bounces_for_its_surveys_only(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await queue(app, client, [{"survey": "nps-empathy", "email": "other@example.com"}])
    await db.execute("UPDATE invitation SET status = 'sent'")
    limited = await create_key(app.state.db, "csat crm", ["invitations:write"], ["empathy-csat"])
    headers = {"Authorization": f"Bearer {limited.key}"}
    for address in ("other@example.com", "stranger@example.com"):
        response = await client.post(
            "/api/v1/invitations/bounces", json=[{"email": address}], headers=headers
        )
        assert response.json() == {"bounced": 0}  # invited elsewhere or never: it cannot tell
    assert await db.fetchval("SELECT status FROM invitation") == "sent"
    assert await db.fetchval("SELECT count(*) FROM suppression") == 0


async def test_a_poison_row_fails_alone_and_the_rest_go_out(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection, smtp_server: tuple[int, Path]
) -> None:
    """Rows stored before today's checks (an international address, a name that decodes
    into a header break) fail on their own; nothing stays ``sending``."""
    port, box = smtp_server
    valid = await queue(
        app, client, [{"survey": "nps-empathy", "email": f"ok{i}@example.com"} for i in range(3)]
    )
    info = app.state.surveys.survey("nps-empathy")
    poison = [
        ("ünï@example.com", None),
        ("ana@example.com", "=?utf-8?q?Ana=0D=0ABcc:_evil@example.com?="),
    ]
    for address, name in poison:
        await db.execute(
            "INSERT INTO invitation (survey_id, survey_version_id, email, name, language,"
            " metadata, token_nonce, expires_at)"
            " VALUES ($1, $2, $3, $4, 'en', '{}', gen_random_uuid(), now() + interval '1 day')",
            info.survey_id,
            info.version_id,
            address,
            name,
        )
    smtp = SmtpSettings(host="127.0.0.1", port=port, sender="s@example.com", per_second=500)
    assert (await send_due(app.state.invitations, smtp)).sent == 4
    rows = {
        r["email"]: r for r in await db.fetch("SELECT email, status, last_error FROM invitation")
    }
    assert {e: r["status"] for e, r in rows.items()} == {
        "ok0@example.com": "sent",
        "ok1@example.com": "sent",
        "ok2@example.com": "sent",
        "ünï@example.com": "failed",
        "ana@example.com": "sent",  # the encoded word is removed, not decoded into a header
    }
    assert rows["ünï@example.com"]["last_error"]
    [ana] = [m for m in messages(box) if "ana@example.com" in m["To"]]
    assert "Bcc" not in ana
    assert str(ana["To"]) == "ana@example.com"
    assert len(valid) == 3


async def test_a_batch_that_outlives_its_lease_sends_nothing_twice(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection, smtp_server: tuple[int, Path]
) -> None:
    port, box = smtp_server
    await queue(
        app, client, [{"survey": "nps-empathy", "email": f"l{i}@example.com"} for i in range(12)]
    )
    slow = SmtpSettings(host="127.0.0.1", port=port, sender="s@example.com", per_second=20)
    first = asyncio.create_task(send_due(app.state.invitations, slow))
    await asyncio.sleep(0.2)  # a few are out; then the first sender's lease lapses ...
    await db.execute(
        "UPDATE invitation SET sent_at = now() - interval '11 minutes' WHERE status = 'sending'"
    )
    second = await send_due(app.state.invitations, slow)  # ... and a second sender takes over
    sent = (await first).sent + second.sent
    delivered = [m["To"] for m in messages(box)]
    # At most the one message in flight at the moment of the takeover goes out twice.
    assert len(delivered) <= 13
    assert len(set(delivered)) == 12
    assert sent == len(delivered)
    assert await db.fetchval("SELECT count(*) FROM invitation WHERE status = 'sent'") == 12
