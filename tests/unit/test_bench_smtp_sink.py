"""The bench's SMTP sink (bench/smtp_sink.py) over real sockets, with smtplib as the client."""

import smtplib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from bench.smtp_sink import SmtpSink


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink(keep=20).start()
    yield server
    server.stop()


def mail(subject: str, body: str) -> bytes:
    return (f"From: clinic@example.com\r\nSubject: {subject}\r\n\r\n{body}\r\n").encode()


class Raw:
    """A bare socket speaking SMTP, to send bytes exactly as a test wants them split."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rb")

    def reply(self) -> tuple[int, list[bytes]]:
        lines = []
        while True:
            line = self.file.readline()
            assert line.endswith(b"\r\n"), line
            lines.append(line[4:-2])
            if line[3:4] == b" ":
                return int(line[:3]), lines

    def exchange(self, text: bytes) -> tuple[int, list[bytes]]:
        self.sock.sendall(text + b"\r\n")
        return self.reply()

    def command(self, text: bytes) -> int:
        return self.exchange(text)[0]

    def trickle(self, data: bytes) -> None:
        for i in range(len(data)):
            self.sock.sendall(data[i:i + 1])
            time.sleep(0.002)

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def test_one_session_carries_many_messages_and_keeps_each_recipients_first_time(sink) -> None:
    began = time.time()
    with smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as smtp:
        code, _ = smtp.ehlo("clinic.test")
        assert code == 250
        for extension in ("8bitmime", "smtputf8", "size", "pipelining"):
            assert smtp.has_extn(extension)
        for i in range(5):
            smtp.sendmail("clinic@example.com", [f"p{i}-alpha@example.com"],
                          mail(f"alpha {i}", "hello"))
        assert smtp.noop()[0] == 250
        smtp.sendmail("clinic@example.com", ["p0-beta@example.com", "p1-beta@example.com"],
                      mail("beta", "two at once"), mail_options=["BODY=8BITMIME"])
        assert sink.count("-alpha@example.com") == 5
        first = sink.times("-alpha@example.com")["p0-alpha@example.com"]
        assert smtp.rset()[0] == 250
        smtp.sendmail("clinic@example.com", ["p0-alpha@example.com"], mail("again", "later"))
        assert sink.times("-alpha@example.com")["p0-alpha@example.com"] == first
        code, _ = smtp.quit()
        assert code == 221
    ended = time.time()

    assert sink.count("-alpha@example.com") == 5
    assert sink.count("-beta@example.com") == 2
    assert sink.count("-gamma@example.com") == 0
    assert sink.count("@example.com") == 7  # a suffix without "-": a scan, same answer
    assert sink.count("p1-beta@example.com") == 1  # a longer suffix: filters its bucket
    alpha = sink.times("-alpha@example.com")
    assert sorted(alpha) == [f"p{i}-alpha@example.com" for i in range(5)]
    assert all(began <= at <= ended for at in alpha.values())
    kept = sink.received()
    assert len(kept) == 7
    assert kept[5].rcpt_tos == ("p0-beta@example.com", "p1-beta@example.com")
    assert kept[5].mail_from == "clinic@example.com"
    assert kept[5].data == mail("beta", "two at once")


def test_lines_starting_with_a_dot_come_through_unstuffed(sink) -> None:
    bodies = [
        b".first line starts with a dot\r\nsecond\r\n",
        b"Subject: dots\r\n\r\n.\r\n..\r\n.hidden\r\nend.\r\n. \r\n",
        b"x\r\n",
    ]
    with smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as smtp:
        for i, body in enumerate(bodies):
            smtp.sendmail("clinic@example.com", [f"d{i}-dots@example.com"], body)
    assert [m.data for m in sink.received()] == bodies
    assert sink.count("-dots@example.com") == 3


def test_a_utf8_recipient_with_smtputf8(sink) -> None:
    recipient = "zoë.ñandú-intl@exämple.com"
    with smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as smtp:
        smtp.ehlo()
        refused = smtp.sendmail("clinic@example.com", [recipient],
                                "Subject: héllo\r\n\r\nça va\r\n".encode(),
                                mail_options=["SMTPUTF8", "BODY=8BITMIME"])
        assert refused == {}
    assert sink.count("-intl@exämple.com") == 1
    assert list(sink.times("-intl@exämple.com")) == [recipient]
    assert sink.received()[-1].data == "Subject: héllo\r\n\r\nça va\r\n".encode()


def test_helo_when_the_client_does_not_use_ehlo(sink) -> None:
    with smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as smtp:
        assert smtp.helo("clinic.test")[0] == 250
        smtp.sendmail("clinic@example.com", ["h-helo@example.com"], b"Subject: x\r\n\r\ny\r\n")
    assert sink.count("-helo@example.com") == 1


def test_commands_out_of_sequence_unknown_or_malformed(sink) -> None:
    raw = Raw(sink.port)
    try:
        assert raw.reply()[0] == 220
        assert raw.command(b"MAIL FROM:<a@example.com>") == 503  # no EHLO yet
        assert raw.command(b"EHLO") == 501
        code, lines = raw.exchange(b"EHLO clinic.test")
        assert code == 250
        assert {b"8BITMIME", b"SMTPUTF8"} <= set(lines)
        assert raw.command(b"RCPT TO:<b@example.com>") == 503  # no MAIL
        assert raw.command(b"DATA") == 503
        assert raw.command(b"MAIL <a@example.com>") == 501
        assert raw.command(b"MAIL FROM:<a@example.com> FROB=1") == 555
        assert raw.command(b"MAIL FROM:<a@example.com> SIZE=999999999999") == 552
        assert raw.command(b"MAIL FROM:<a@example.com> SIZE=12 BODY=8BITMIME") == 250
        assert raw.command(b"MAIL FROM:<a@example.com>") == 503  # nested
        assert raw.command(b"DATA") == 503  # no RCPT
        assert raw.command("RCPT TO:<zoë@example.com>".encode()) == 553  # no SMTPUTF8
        assert raw.command(b"RCPT TO:<>") == 501
        assert raw.command(b'RCPT TO:<"odd>name"-quoted@example.com>') == 250
        assert raw.command(b"RSET") == 250
        assert raw.command(b"RCPT TO:<b@example.com>") == 503  # RSET ended the transaction
        assert raw.command(b"FROB") == 500
        assert raw.command(b"VRFY someone") == 502
        assert raw.command(b"STARTTLS") == 502
        assert raw.command(b"X" * 5000) == 500
        raw.sock.sendall(b"Y" * 5000)
        time.sleep(0.05)
        assert raw.command(b"Y" * 10) == 500  # one reply for the whole overlong line
        assert raw.command(b"NOOP whatever") == 250
        assert raw.command(b"QUIT") == 221
        assert raw.file.read() == b""  # the server closed the connection
    finally:
        raw.close()
    assert sink.count("-quoted@example.com") == 0


def test_data_in_tiny_chunks_and_an_empty_message(sink) -> None:
    raw = Raw(sink.port)
    try:
        assert raw.reply()[0] == 220
        raw.trickle(b"EHLO clinic.test\r\n")
        assert raw.reply()[0] == 250
        raw.trickle(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<one-tiny@example.com>\r\n")
        assert raw.reply()[0] == 250
        assert raw.reply()[0] == 250
        assert raw.command(b"DATA") == 354
        raw.sock.sendall(b"Subject: tiny\r\n\r\n..dot\r\nlast")
        time.sleep(0.05)
        raw.trickle(b"\r\n.\r\n")
        assert raw.reply()[0] == 250
        # the terminator split after its first CRLF, and after the dot
        assert raw.command(b"MAIL FROM:<a@example.com>") == 250
        assert raw.command(b"RCPT TO:<two-tiny@example.com>") == 250
        assert raw.command(b"DATA") == 354
        raw.sock.sendall(b"body\r\n")
        time.sleep(0.05)
        raw.sock.sendall(b".")
        time.sleep(0.05)
        raw.sock.sendall(b"\r\n")
        assert raw.reply()[0] == 250
        # an empty message, its terminator byte by byte
        assert raw.command(b"MAIL FROM:<>") == 250
        assert raw.command(b"RCPT TO:<three-tiny@example.com>") == 250
        assert raw.command(b"DATA") == 354
        raw.trickle(b".\r\n")
        assert raw.reply()[0] == 250
        # a message and the next command in one write
        assert raw.command(b"MAIL FROM:<a@example.com>") == 250
        assert raw.command(b"RCPT TO:<four-tiny@example.com>") == 250
        assert raw.command(b"DATA") == 354
        raw.sock.sendall(b"x\r\n.\r\nNOOP\r\n")
        assert raw.reply()[0] == 250
        assert raw.reply()[0] == 250
        assert raw.command(b"QUIT") == 221
    finally:
        raw.close()
    assert sink.count("-tiny@example.com") == 4
    assert [m.data for m in sink.received()] == [
        b"Subject: tiny\r\n\r\n.dot\r\nlast\r\n", b"body\r\n", b"", b"x\r\n"]
    assert [m.mail_from for m in sink.received()] == ["a@example.com", "a@example.com", "",
                                                      "a@example.com"]


def test_a_message_over_size_is_refused_and_the_session_goes_on() -> None:
    sink = SmtpSink(max_message_bytes=1000).start()
    try:
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as smtp:
            smtp.ehlo()
            assert smtp.esmtp_features["size"] == "1000"
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:  # SIZE=... too big
                smtp.sendmail("clinic@example.com", ["a-big@example.com"], b"x" * 2000)
            assert refused.value.smtp_code == 552
            assert smtp.mail("clinic@example.com")[0] == 250  # no SIZE: found out in DATA
            assert smtp.rcpt("b-big@example.com")[0] == 250
            code, _ = smtp.data(b"y" * 50_000 + b"\r\n.\r\n" + b"z" * 500)  # "." stuffed
            assert code == 552
            smtp.mail("clinic@example.com")
            smtp.rcpt("d-big@example.com")
            smtp.putcmd("data")
            assert smtp.getreply()[0] == 354
            for _ in range(5):  # over size before its end has come: skipped as it arrives
                smtp.send(b"w" * 600 + b"\r\n")
                time.sleep(0.02)
            smtp.send(b"..\r\n")
            time.sleep(0.02)
            smtp.send(b".\r\n")
            assert smtp.getreply()[0] == 552
            smtp.sendmail("clinic@example.com", ["c-big@example.com"], b"small\r\n")
        assert list(sink.times("-big@example.com")) == ["c-big@example.com"]
    finally:
        sink.stop()


def test_stopping_with_a_session_open_does_not_hang() -> None:
    sink = SmtpSink().start()
    smtp = smtplib.SMTP("127.0.0.1", sink.port, timeout=5)
    idle = Raw(sink.port)
    try:
        smtp.ehlo()
        smtp.mail("clinic@example.com")
        smtp.rcpt("x-open@example.com")
        smtp.putcmd("data")
        assert smtp.getreply()[0] == 354
        smtp.send(b"half a message\r\n")  # left in DATA
        stopper = threading.Thread(target=sink.stop)
        began = time.monotonic()
        stopper.start()
        stopper.join(5)
        assert not stopper.is_alive()
        assert time.monotonic() - began < 2
        assert idle.reply()[0] == 220
        assert idle.file.read() == b""  # the idle session was closed too
        with pytest.raises((smtplib.SMTPServerDisconnected, OSError)):
            smtp.noop()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", sink.port), timeout=1).close()
    finally:
        idle.close()
        smtp.close()
    assert sink.count("-open@example.com") == 0


def test_pipelined_commands_are_answered_in_turn(sink) -> None:
    raw = Raw(sink.port)
    try:
        assert raw.reply()[0] == 220
        assert raw.command(b"EHLO clinic.test") == 250
        raw.sock.sendall(b"MAIL FROM:<clinic@example.com>\r\nRCPT TO:<p0-pipe@example.com>\r\n"
                         b"DATA\r\n")
        assert [raw.reply()[0] for _ in range(3)] == [250, 250, 354]
        assert raw.exchange(mail("pipelined", "hello") + b".")[0] == 250
        # no recipient taken: DATA is refused and what follows is read as commands again
        raw.sock.sendall(b"MAIL FROM:<clinic@example.com>\r\n"
                         b"RCPT TO:<p1-pipe@example.com> NOTIFY=NEVER\r\nDATA\r\nNOOP\r\n")
        assert [raw.reply()[0] for _ in range(4)] == [250, 555, 503, 250]
    finally:
        raw.close()
    assert sink.count("-pipe@example.com") == 1
