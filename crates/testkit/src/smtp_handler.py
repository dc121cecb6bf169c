"""The SMTP handler of certdesk-notify's tests, loaded by `python -m aiosmtpd -c smtp_handler.TestMailbox`.

aiosmtpd's Mailbox handler writes every accepted message to a maildir (the one directory
argument of the command line). This subclass also refuses two recipients the way real servers
do, so the tests can provoke both kinds of failure:

- local part `nobody`:     550 5.1.1, the mailbox does not exist (permanent);
- local part `greylisted`: 451 4.7.1, try again later (transient).
"""

from aiosmtpd.handlers import Mailbox


class TestMailbox(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local == "nobody":
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if local == "greylisted":
            return f"451 4.7.1 <{address}>: Recipient address rejected: Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"
