"""The channels: a Slack incoming webhook and SMTP. Each sender makes one attempt and says, by the
`DeliveryError` it raises, whether another attempt is worth it (5xx, 429, network errors, time-outs,
SMTP 4xx). No credential or webhook URL reaches an error or a log line: every text from outside
passes the scrubber, and the sender scrubs httpx's log, which names the webhook's URL.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import httpx

from clari_data.shared.config import Settings
from clari_data.shared.redact import Scrubber, install_log_filter
from clari_data.shared.timeutil import utc_now

from .render import Message, email_text, slack_text

log = logging.getLogger(__name__)

CHANNELS = {"slack": "Slack", "email": "E-mail"}  # what people read for each channel's name


class DeliveryError(Exception):
    """A channel did not take a message. `transient`: worth another attempt."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def send_slack(settings: Settings, message: Message, timeout: float, scrub: Scrubber) -> None:
    url = settings.notify.slack_webhook_url.reveal()
    install_log_filter(scrub)
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            resp = client.post(url, json={"text": slack_text(message), "unfurl_links": False,
                                          "unfurl_media": False})
    except httpx.TimeoutException:
        raise DeliveryError(f"the Slack webhook did not answer within {timeout:g} s", True) from None
    except httpx.HTTPError as exc:
        raise DeliveryError(f"could not reach the Slack webhook: {scrub(exc) or type(exc).__name__}", True) from None
    if 200 <= resp.status_code < 300:
        return
    body = scrub(resp.text.strip()[:200]) or "(no body)"
    transient = resp.status_code >= 500 or resp.status_code in (408, 429)
    raise DeliveryError(f"the Slack webhook answered HTTP {resp.status_code}: {body}", transient)


def email_message(settings: Settings, subject: str, text: str) -> EmailMessage:
    n = settings.notify
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = n.email_from
    msg["To"] = ", ".join(n.email_to)
    msg["Date"] = format_datetime(utc_now())
    msg["Message-ID"] = make_msgid(domain=(n.email_from or "localhost").rsplit("@", 1)[-1])
    msg.set_content(text)  # text/plain, UTF-8: names from Clari are never markup
    return msg


def _smtp_reply(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {' '.join(text.split())}"[:200]


def send_email(settings: Settings, message: Message | EmailMessage, timeout: float, scrub: Scrubber) -> None:
    n = settings.notify
    msg = message if isinstance(message, EmailMessage) else email_message(settings, message.subject,
                                                                          email_text(message))
    where = f"{n.smtp_host}:{n.smtp_port}"
    try:
        with smtplib.SMTP(n.smtp_host, n.smtp_port, timeout=timeout) as smtp:
            if n.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if n.smtp_username and n.smtp_password:
                smtp.login(n.smtp_username.reveal(), n.smtp_password.reveal())
            refused = smtp.send_message(msg)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"the SMTP server {where} refused the login: "
                            f"{scrub(_smtp_reply(exc.smtp_code, exc.smtp_error))}", False) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryError(f"the SMTP server {where} cannot do what the settings ask: {scrub(exc)} "
                            "(check [notify] smtp_starttls and the login)", False) from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        replies = "; ".join(f"{rcpt}: {_smtp_reply(code, reply)}" for rcpt, (code, reply) in exc.recipients.items())
        raise DeliveryError(f"the SMTP server {where} refused every recipient ({scrub(replies)})",
                            any(400 <= c < 500 for c in codes)) from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"the SMTP server {where} refused the message: "
                            f"{scrub(_smtp_reply(exc.smtp_code, exc.smtp_error))}",
                            400 <= exc.smtp_code < 500) from None
    except smtplib.SMTPServerDisconnected as exc:
        raise DeliveryError(f"the SMTP server {where} closed the connection: {scrub(exc) or 'no reason given'}",
                            True) from None
    except (TimeoutError, ssl.SSLError, OSError, smtplib.SMTPException) as exc:
        if isinstance(exc, TimeoutError) or "timed out" in str(exc):
            raise DeliveryError(f"the SMTP server {where} did not answer within {timeout:g} s", True) from None
        if isinstance(exc, ssl.SSLError):
            raise DeliveryError(f"STARTTLS with the SMTP server {where} failed: {scrub(exc)}", False) from None
        raise DeliveryError(f"could not reach the SMTP server {where}: {scrub(exc) or type(exc).__name__}",
                            True) from None
    if refused:
        log.warning("the SMTP server %s refused some recipients: %s", where, scrub(", ".join(refused)))


SENDERS: dict[str, Callable[[Settings, object, float, Scrubber], None]] = {"slack": send_slack, "email": send_email}
