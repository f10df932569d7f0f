"""E-mail over SMTP with aiosmtplib: STARTTLS on the submission port (587), then login.

One message per person, to the address the directory gives for their member id. The body is plain
text (the template's Markdown without its marks). A 4xx reply (421 busy or too many, 450/451/452
try later), a dropped connection or a timeout is retried; a 5xx reply (535 bad login, 550 no such
mailbox, 554 refused) is not. No record or log line carries the address.
"""
from __future__ import annotations

import re
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from pipeline.notify.channels.base import Outcome
from pipeline.notify.render import Message


class EmailDialect:
    contact_field = None   # a personal message: nobody to @-mention

    def escape(self, text: str) -> str:
        return "".join(ch if ch.isprintable() else " " for ch in text)

    def mention(self, platform_id: str) -> str:
        return ""

    def link(self, label: str, url: str) -> str:
        return f"{label}：{url}"

    def finish(self, body: str) -> str:
        lines = []
        for line in body.split("\n"):
            line = line.lstrip("#").strip() if line.startswith("#") else line
            lines.append(re.sub(r"\*\*(.+?)\*\*", r"\1", line))
        return "\n".join(lines)


class Email:
    type = "email"
    dialect = EmailDialect()

    def __init__(self, host: str, port: int, sender: str, directory: dict, username: str | None = None,
                 password: str | None = None, starttls: bool = True, ca_file: str | None = None,
                 timeout: float = 10.0, **_):
        self.host, self.port, self.sender, self.directory = host, port, sender, directory
        self.username, self.password, self.starttls, self.timeout = username, password, starttls, timeout
        self.tls_context = ssl.create_default_context(cafile=ca_file) if starttls else None

    def address(self, member_id: str | None) -> str | None:
        contact = self.directory.get(member_id) if member_id else None
        return contact.email if contact else None

    def payload(self, message: Message, recipient: str | None = None) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = self.address(recipient) or "undisclosed-recipients:;"
        mail["Subject"] = message.title
        mail["Date"] = formatdate(localtime=True)
        mail["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(message.body, charset="utf-8")
        return mail

    async def send(self, message: Message, recipient: str | None = None) -> Outcome:
        address = self.address(recipient)
        if address is None:
            return Outcome("rejected", "no address", detail="the directory has no e-mail for this member")
        try:
            await aiosmtplib.send(self.payload(message, recipient), sender=self.sender, recipients=[address],
                                  hostname=self.host, port=self.port, username=self.username, password=self.password,
                                  start_tls=self.starttls, tls_context=self.tls_context, timeout=self.timeout,
                                  use_tls=False)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            code = codes[0] if codes else 550
            return Outcome("retry" if 400 <= code < 500 else "rejected", f"smtp {code}")
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code == 421:
                return Outcome("limited", "smtp 421")
            return Outcome("retry" if 400 <= exc.code < 500 else "rejected", f"smtp {exc.code}")
        except aiosmtplib.SMTPTimeoutError:
            return Outcome("retry", "timeout")
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Outcome("retry", "connection", detail=type(exc).__name__)
        return Outcome("sent", "smtp 250")

    async def close(self) -> None:
        return None
