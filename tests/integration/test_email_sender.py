"""notify's e-mail over a real SMTP conversation: what the server is handed is what a mail
client shows, for plain and non-ASCII addresses alike."""

import time
import uuid

from notify.adapters.smtp import SmtpSender
from notify.adapters.tables import Notification
from notify.domain.errors import PermanentDeliveryError, TransientDeliveryError
from notify.domain.messages import MessageRenderer
from notify.settings import NotifySettings
from tests.support.smtp_server import SmtpServer
from tests.support.tcp_proxy import TcpProxy


def settings_for(server: SmtpServer) -> NotifySettings:
    return NotifySettings(_env_file=None, smtp_host="127.0.0.1", smtp_port=server.port,
                          smtp_starttls=False, clinic_name="Moorgate Physio",
                          mail_from="Moorgate Physio <hello@moorgate.example>")


def acknowledgement(recipient: str, name: str = "Zoë Brontë") -> Notification:
    return Notification(
        id=uuid.uuid4(), event_id=uuid.uuid4(), kind="request_acknowledgement",
        channel="email", recipient=recipient, reference="K7P-4MXQ",
        context={"name": name, "reference": "K7P-4MXQ",
                 "contact_by": "2026-11-23T09:00:00+00:00", "contact_channel": "email",
                 "manage_url": "https://clinic.example/my-request/abc"},
    )


def test_acknowledgement_reaches_the_server_as_a_mail_client_shows_it() -> None:
    server = SmtpServer().start()
    try:
        settings = settings_for(server)
        notification = acknowledgement("zoe@example.org")
        [error] = SmtpSender(settings).send([MessageRenderer(settings).email(notification)])
        assert error is None
        [mail] = server.to("zoe@example.org")
    finally:
        server.stop()
    message = mail.message
    assert message["Subject"] == "We have your request (K7P-4MXQ) \N{EN DASH} Moorgate Physio"
    assert message["From"] == "Moorgate Physio <hello@moorgate.example>"
    assert message["To"] == "zoe@example.org"
    assert message["Message-ID"] == f"<{notification.id}@notify.clinic>"
    assert message["X-Clinic-Reference"] == "K7P-4MXQ"
    assert message["Date"] is not None
    assert "Dear Zoë Brontë" in mail.text  # non-ASCII text survives the transfer encoding
    assert "09:00 on Monday 23 November" in mail.text
    assert "https://clinic.example/my-request/abc" in mail.html


def test_non_ascii_address_is_delivered_with_smtputf8() -> None:
    server = SmtpServer().start()
    try:
        settings = settings_for(server)
        [error] = SmtpSender(settings).send(
            [MessageRenderer(settings).email(acknowledgement("zoë@exämple.org"))])
        assert error is None
        [mail] = server.to("zoë@exämple.org")
    finally:
        server.stop()
    assert mail.message["To"] == "zoë@exämple.org"
    assert "K7P-4MXQ" in mail.text


def test_server_without_smtputf8_refuses_only_the_non_ascii_address_for_good() -> None:
    server = SmtpServer(smtputf8=False).start()
    try:
        settings = settings_for(server)
        renderer = MessageRenderer(settings)
        errors = SmtpSender(settings).send([
            renderer.email(acknowledgement("zoë@exämple.org")),
            renderer.email(acknowledgement("ada@example.org", name="Ada")),
        ])
        delivered = [r for m in server.messages() for r in m.recipients]
    finally:
        server.stop()
    assert isinstance(errors[0], PermanentDeliveryError)
    assert errors[1] is None
    assert delivered == ["ada@example.org"]


def test_a_session_the_server_ended_while_idle_is_replaced_without_losing_mail() -> None:
    server = SmtpServer(idle_timeout=0.3).start()  # the server drops a session quiet for 0.3 s
    try:
        settings = settings_for(server)
        sender, renderer = SmtpSender(settings), MessageRenderer(settings)
        assert sender.send([renderer.email(acknowledgement("first@example.org"))]) == [None]
        time.sleep(1.5)  # longer than the server's patience and than CHECK_AFTER_SECONDS
        assert sender.send([renderer.email(acknowledgement("second@example.org"))]) == [None]
        sender.close()
        delivered = [r for m in server.messages() for r in m.recipients]
    finally:
        server.stop()
    assert delivered == ["first@example.org", "second@example.org"]


def _send_four_through(server: SmtpServer, reply_delay: float) -> float:
    """Seconds to hand four acknowledgements to `server` through a link whose replies take
    `reply_delay` to come back (the session's greeting and EHLO included)."""
    proxy = TcpProxy("127.0.0.1", server.port, reply_delay=reply_delay).start()
    try:
        settings = NotifySettings(_env_file=None, smtp_host="127.0.0.1", smtp_port=proxy.port,
                                  smtp_starttls=False, mail_from="Clinic <hello@clinic.example>")
        renderer = MessageRenderer(settings)
        mails = [renderer.email(acknowledgement(f"p{n}@example.org")) for n in range(4)]
        started = time.monotonic()
        sender = SmtpSender(settings)
        assert sender.send(mails) == [None] * 4
        took = time.monotonic() - started
        sender.close()
        return took
    finally:
        proxy.stop()


def test_a_server_offering_pipelining_takes_a_batch_in_a_round_trip_a_message() -> None:
    """To a relay whose replies take 200 ms: without pipelining each message costs MAIL, RCPT,
    DATA and its text, four round trips (3.2 s for four, after the 0.4 s greeting and EHLO);
    with it, one message's text goes with the next one's MAIL, RCPT and DATA, so four cost
    five round trips (1.0 s)."""
    plain, pipelining = SmtpServer().start(), SmtpServer(pipelining=True).start()
    try:
        without = _send_four_through(plain, 0.2)
        with_pipelining = _send_four_through(pipelining, 0.2)
        assert len(plain.messages()) == len(pipelining.messages()) == 4
        [mail] = pipelining.to("p3@example.org")
        assert "Dear Zoë Brontë" in mail.text
        assert [m.recipients for m in pipelining.messages()] == [
            (f"p{n}@example.org",) for n in range(4)]
    finally:
        plain.stop()
        pipelining.stop()
    assert without > 3.6, without  # 2 + 4 x 4 replies of 0.2 s each, at least
    assert with_pipelining < 0.5 * without, (with_pipelining, without)  # 7 replies: ~0.4x


def test_pipelined_refusals_fail_only_their_message_and_the_session_goes_on() -> None:
    server = SmtpServer(pipelining=True, refused={
        "gone@example.org": "550 5.1.1 no such mailbox",
        "full@example.org": "452 4.2.2 mailbox full, try later"}).start()
    try:
        settings = settings_for(server)
        renderer = MessageRenderer(settings)
        results = SmtpSender(settings).send([
            renderer.email(acknowledgement(address)) for address in
            ("gone@example.org", "ok@example.org", "full@example.org", "also-ok@example.org")])
        delivered = {mail.recipients for mail in server.messages()}
    finally:
        server.stop()
    assert isinstance(results[0], PermanentDeliveryError)
    assert isinstance(results[2], TransientDeliveryError)
    assert results[1] is None and results[3] is None
    assert delivered == {("ok@example.org",), ("also-ok@example.org",)}


def test_a_message_refused_at_its_end_leaves_the_one_pipelined_behind_it_delivered() -> None:
    """The next message's MAIL, RCPT and DATA are already on their way when a message's text
    is refused (554, or 451 "try later"): that one fails alone, as permanent or transient, and
    the rest of the batch is delivered in the same session."""
    server = SmtpServer(pipelining=True, refused_content={
        "spam-trap@example.org": "554 5.7.1 message rejected",
        "busy@example.org": "451 4.3.0 try again later"}).start()
    try:
        settings = settings_for(server)
        renderer = MessageRenderer(settings)
        results = SmtpSender(settings).send([
            renderer.email(acknowledgement(address)) for address in
            ("spam-trap@example.org", "first@example.org", "busy@example.org",
             "zoë@example.org", "last@example.org")])
        delivered = [mail.recipients for mail in server.messages()]
    finally:
        server.stop()
    assert isinstance(results[0], PermanentDeliveryError)
    assert isinstance(results[2], TransientDeliveryError)
    assert results[1] is None and results[3] is None and results[4] is None
    assert delivered == [("first@example.org",), ("zoë@example.org",), ("last@example.org",)]


def test_a_server_closing_the_session_mid_batch_leaves_the_rest_to_try_again() -> None:
    """A 421 at a message's end (the server is going away): that message and every one after
    it are transient, to be tried again on a new session; nothing is counted as delivered."""
    server = SmtpServer(pipelining=True, refused_content={
        "second@example.org": "421 4.3.2 shutting down"}).start()
    try:
        settings = settings_for(server)
        renderer = MessageRenderer(settings)
        sender = SmtpSender(settings)
        results = sender.send([renderer.email(acknowledgement(address)) for address in
                               ("first@example.org", "second@example.org", "third@example.org")])
        again = sender.send([renderer.email(acknowledgement("third@example.org"))])
        sender.close()
        delivered = [mail.recipients for mail in server.messages()]
    finally:
        server.stop()
    assert results[0] is None
    assert all(isinstance(result, TransientDeliveryError) for result in results[1:])
    assert again == [None]
    assert delivered == [("first@example.org",), ("third@example.org",)]
