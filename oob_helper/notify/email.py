"""The email notifier: one plain-text mail per notification, over SMTP (stdlib ``smtplib``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from oob_helper.notify.delivery import Backoff, GiveUp, Retry, deliver

if TYPE_CHECKING:
    import ssl

# condition -> (subject words, what happened, what to do)
_WORDS: dict[str, tuple[str, str, str]] = {
    "reauthorization_required": (
        "reconnect needed",
        "{service} no longer accepts this connection ({reason}); API calls for it fail",
        "reconnect the install (an admin of the site signs in to {service} again)",
    ),
    "refresh_failed": (
        "refresh failed",
        "refreshing the access token failed and will not pass on its own (error {error}: {reason})",
        "check the client id and secret the helper is configured with, then refresh or reconnect",
    ),
    "refresh_failed_transient": (
        "refresh failed, retrying",
        "a refresh of the access token failed (error {error}: {reason}); the helper tries again",
        "nothing yet; if this keeps happening, check that {service} is reachable",
    ),
    "refresh_token_expiring": (
        "connection expiring",
        "the refresh token will expire soon ({reason}); then the connection breaks",
        "refresh now (oob-helper refresh --install {install}) or reconnect",
    ),
    "refresh_overdue": (
        "scheduled refresh missed",
        "the scheduled refresh did not happen ({reason})",
        "check that the job running oob-helper refresh --all (cron, a timer) still runs",
    ),
    "clone_detected": (
        "store copy detected",
        "the token store was opened somewhere other than where this connection was made ({reason})",
        "if the move is deliberate run oob-helper adopt-store or move-install; otherwise retire this copy",
    ),
    "connected": ("connected", "the install was connected", "nothing"),
    "refreshed": ("refreshed", "the access token was refreshed", "nothing"),
    "disconnected": ("disconnected", "the install was disconnected", "nothing"),
}


def page_link(page_url: str | None, install: str) -> str | None:
    """The configured page with ``{install}`` replaced (URL-quoted), or None."""
    return page_url.replace("{install}", quote(install, safe="")) if page_url else None


def compose(
    condition: str,
    payload: dict[str, Any],
    *,
    service: str,
    mail_from: str,
    mail_to: tuple[str, ...],
    page_url: str | None = None,
) -> EmailMessage:
    """The mail for one notification (pure: no I/O)."""
    subject, happened, action = _WORDS.get(condition, (condition, condition.replace("_", " "), "check it"))
    install = str(payload.get("install"))
    fields = {
        "service": service,
        "install": install,
        "reason": payload.get("reason") or "no reason given",
        "error": payload.get("error") or "unknown",
    }
    at = datetime.fromtimestamp(float(payload.get("at") or 0), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    link = page_link(page_url, install)
    lines = [
        f"The {service} connection of {install} needs attention."
        if action != "nothing"
        else f"The {service} connection of {install} changed.",
        "",
        f"What happened: {happened.format(**fields)}.",
        f"When: {at}.",
    ]
    if payload.get("account_id"):
        lines.append(f"Account: {payload['account_id']}.")
    lines.append(f"What to do: {action.format(**fields)}.")
    if link and condition in ("reauthorization_required", "refresh_failed", "refresh_token_expiring"):
        lines.append(f"Reconnect at {link}")
    elif link:
        lines.append(f"The install's page: {link}")
    lines += ["", "-- ", "oob-helper (one mail per install and condition until it changes)"]
    message = EmailMessage()
    message["Subject"] = f"[oob-helper] {install}: {subject}"
    message["From"] = mail_from
    message["To"] = ", ".join(mail_to)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="oob-helper")
    message.set_content("\n".join(lines) + "\n")
    return message


class EmailNotifier:
    """Mails notifications; ``send`` never raises and returns whether the server took it."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        mail_from: str,
        mail_to: tuple[str, ...],
        starttls: bool = True,
        user: str | None = None,
        password: str | None = None,
        service: str = "provider",
        page_url: str | None = None,
        timeout: float = 10.0,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host, self.port, self.starttls = host, port, starttls
        # Checks the server's certificate and name (the system's CAs unless given): a login
        # after STARTTLS must not go to whoever sits between us and the mail server.
        self.tls_context = tls_context
        self.mail_from, self.mail_to = mail_from, mail_to
        self._user, self._password = user, password
        self.service, self.page_url = service, page_url
        self.timeout = timeout
        self.backoff = backoff or Backoff()
        self.sleep = sleep

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.host}:{self.port}, to={len(self.mail_to)})"

    def send(self, payload: dict[str, Any], condition: str) -> bool:
        """Mail the notification with bounded retries."""
        message = compose(
            condition,
            payload,
            service=self.service,
            mail_from=self.mail_from,
            mail_to=self.mail_to,
            page_url=self.page_url,
        )

        import smtplib  # noqa: PLC0415 - smtplib and ssl cost a CLI run that sends no mail
        import ssl  # noqa: PLC0415

        def attempt() -> None:
            try:
                with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                    if self.starttls:
                        smtp.starttls(context=self.tls_context or ssl.create_default_context())
                    if self._user is not None and self._password is not None:
                        smtp.login(self._user, self._password)
                    smtp.send_message(message)
            except smtplib.SMTPAuthenticationError as exc:
                raise GiveUp(f"the SMTP server refused the login (code {exc.smtp_code})") from None
            except smtplib.SMTPRecipientsRefused as exc:
                raise GiveUp(f"the SMTP server refused {len(exc.recipients)} recipient(s)") from None
            except smtplib.SMTPResponseException as exc:
                # 4xx: try again later (RFC 5321 4.2.1); 5xx: permanent.
                if 400 <= exc.smtp_code < 500:
                    raise Retry(f"the SMTP server answered {exc.smtp_code}") from None
                raise GiveUp(f"the SMTP server answered {exc.smtp_code}") from None
            except smtplib.SMTPNotSupportedError:
                raise GiveUp(
                    "the SMTP server does not offer STARTTLS: set notify_smtp_starttls off"
                ) from None
            except ssl.SSLCertVerificationError:
                raise GiveUp(f"the certificate of {self.host} is not trusted") from None
            except (OSError, smtplib.SMTPException) as exc:  # connect errors, timeouts, disconnects
                raise Retry(f"cannot reach {self.host}:{self.port} ({type(exc).__name__})") from None

        what = f"mail via {self.host}:{self.port} ({condition}, {payload.get('install')!r})"
        return deliver(what, attempt, self.backoff, self.sleep)

    def close(self) -> None:
        """Nothing to release: each mail uses its own connection."""


__all__ = ["EmailNotifier", "compose", "page_link"]
