"""The weekly summary sent to the user through Microsoft Graph (`POST /me/sendMail`).

Why not SMTP: many Microsoft 365 tenants turn SMTP AUTH off (Microsoft's default for
new ones: "535 5.7.139 ... SmtpClientAuthentication is disabled for the Tenant"), so
the summary would never leave; Graph's sendMail with the Mail.Send scope works in
every tenant and for Outlook.com. The message goes as the core built it, in MIME
(base64 with Content-Type text/plain, as Graph documents), so its Message-ID and
`X-Pursuit-Key` reach the user's INBOX unchanged and the IMAP mailbox finds it again.

Once per key: `find_sent` asks `find_message`, the account's IMAP mailbox (INBOX and
Sent, where Exchange also keeps a copy), as `SmtpSender` does. Graph's own search
(`GET /me/messages?$filter=internetMessageId eq '...'`) would need Mail.Read, the
right to read every message through Graph, on top of the IMAP right the account
already holds: no new consent is asked for a look IMAP makes as well.
Graph answers 202 once Exchange has queued the message; delivery may follow a
while later, hence `in_doubt`.
"""

from __future__ import annotations

import base64
import email.policy
import email.utils
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage

from pursuit.connectors.base import outgoing_copy
from pursuit.connectors.graph import GraphClient


class GraphSender:
    """Sends to the user alone, once per key, from the signed-in mailbox (a `Sender`).

    `address` is the user the summary goes to; `mailbox` the signed-in account, the
    only address Exchange lets this sign-in send as (From is set to it; another gets
    403 ErrorSendAsDenied). `find_message(key, message_id)` returns the Message-ID of
    a message already in the user's mailbox with that key and Message-ID, if any.
    """

    #: Graph's 202 means queued: Exchange may deliver it some minutes later.
    in_doubt = timedelta(minutes=15)

    def __init__(
        self,
        client: GraphClient,
        *,
        address: str,
        mailbox: str,
        find_message: Callable[[str, str], str | None] | None = None,
    ) -> None:
        self.client = client
        self.address = address.lower()
        self.mailbox = mailbox.lower()
        self.find_message = find_message
        self._sent: dict[str, str] = {}  # key -> Message-ID, sent by this instance

    @property
    def keeps_record(self) -> bool:
        """With an IMAP mailbox to look in: the summary comes back to the user's INBOX."""
        return self.find_message is not None

    def find_sent(self, key: str, message_id: str) -> str | None:
        if self._sent.get(key) == message_id:
            return message_id
        return self.find_message(key, message_id) if self.find_message is not None else None

    def send(self, message: EmailMessage, *, begin: Callable[[], object] | None = None) -> str:
        """Send unless sent already; returns the message's Message-ID either way."""
        key, outgoing, message_id = outgoing_copy(message, self.address)
        existing = self.find_sent(key, message_id)
        if existing is not None:
            return existing
        del outgoing["Bcc"]
        name, address = email.utils.parseaddr(str(outgoing.get("From") or ""))
        if address.lower() != self.mailbox:
            del outgoing["From"]
            outgoing["From"] = email.utils.formataddr((name, self.mailbox))
        if not outgoing.get("Date"):
            outgoing["Date"] = email.utils.formatdate(localtime=True)
        mime = outgoing.as_bytes(policy=email.policy.SMTP)
        # a sign-in refused (Mail.Send never allowed, 90 days unused) fails here, before
        # `begin`: nothing can have left, so the send is not left in doubt
        self.client.token()
        if begin is not None:
            begin()
        # once: a send whose answer was lost is looked for (in_doubt), never repeated blindly
        self.client.post("me/sendMail", None, content=base64.b64encode(mime), once=True)
        self._sent[key] = message_id
        return message_id
