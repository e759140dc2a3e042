"""SMTP limits and the command set, over raw sockets against moatd."""

import socket
import time

import pytest

from conftest import (SMTPClient, dot_stuff, load_fixture, new_message_id,
                      wait_until)


@pytest.fixture
def relay(sink, moatd):
    s = sink()
    m = moatd(next_hop=s)
    return s, m


def sized_message(size, mid):
    head = (b"Message-ID: <" + mid.encode() + b">\r\nSubject: size\r\n\r\n")
    line = b"x" * 78 + b"\r\n"
    body = line * ((size - len(head)) // len(line) + 1)
    return (head + body)[:size - 2] + b"\r\n"


def test_declared_size_too_big_552_at_mail(sink, moatd):
    s = sink()
    m = moatd(next_hop=s, max_message_size=10000)
    with SMTPClient(m.port) as c:
        r = c.ehlo()
        assert "250-SIZE 10000" in r.lines or "250 SIZE 10000" in r.lines, r
        r = c.cmd("MAIL FROM:<alice@sender.example> SIZE=10001")
        assert r.code == 552 and r.lines[0].startswith("552 5.3.4"), r
        # Within the limit it is accepted.
        r = c.cmd("MAIL FROM:<alice@sender.example> SIZE=9000")
        assert r.code == 250, r


def test_actual_size_too_big_552_at_end_of_data(sink, moatd):
    s = sink()
    m = moatd(next_hop=s, max_message_size=10000)
    with SMTPClient(m.port) as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<alice@sender.example>").code == 250
        assert c.cmd("RCPT TO:<bob@example.com>").code == 250
        r = c.data(sized_message(30000, new_message_id("big")))
        assert r.code == 552 and r.lines[0].startswith("552 5.3.4"), r
        # The session goes on: a message under the limit passes.
        mid = new_message_id("small")
        data = sized_message(5000, mid)
        assert c.cmd("MAIL FROM:<alice@sender.example>").code == 250
        assert c.cmd("RCPT TO:<bob@example.com>").code == 250
        r = c.data(data)
        assert r.code == 250, r
    msgs = s.wait_for(1)
    assert [x["message_id"] for x in msgs] == [mid]
    assert msgs[0]["data"] == data


def test_max_recipients(sink, moatd):
    s = sink()
    m = moatd(next_hop=s, max_recipients=3)
    rcpts = ["r%d@example.com" % i for i in range(5)]
    data = load_fixture("plain.eml", message_id=new_message_id("rcpts"))
    with SMTPClient(m.port) as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<alice@sender.example>").code == 250
        codes = [c.cmd("RCPT TO:<%s>" % a) for a in rcpts]
        assert [r.code for r in codes] == [250, 250, 250, 452, 452], codes
        assert codes[3].lines[0].startswith("452 4.5.3"), codes[3]
        r = c.data(data)
        assert r.code == 250, r
    msgs = s.wait_for(1)
    assert msgs[0]["rcpt_tos"] == rcpts[:3]


def test_max_connections_421(sink, moatd):
    s = sink()
    m = moatd(next_hop=s, max_connections=5)
    clients = [SMTPClient(m.port) for _ in range(5)]
    try:
        for c in clients:
            assert c.greeting.code == 220, c.greeting
        extra = SMTPClient(m.port, greeting=False)
        r = extra.reply()
        assert r.code == 421, r
        assert extra.is_closed(), "connection over the limit left open"
        extra.close()
        # A slot frees up when a client leaves.
        assert clients[0].cmd("QUIT").code == 221
        clients[0].close()

        def accepted():
            c = SMTPClient(m.port, greeting=False)
            r = c.reply()
            if r.code == 220:
                clients[0] = c
                return True
            c.close()
            return False
        wait_until(accepted, 10, "a connection to be accepted again")
    finally:
        for c in clients:
            c.close()


def test_idle_timeout_421(sink, moatd):
    s = sink()
    m = moatd(next_hop=s, idle_timeout=2)
    with SMTPClient(m.port) as c:
        c.ehlo()
        t0 = time.monotonic()
        c.sock.settimeout(15)
        r = c.reply()           # nothing sent: the server speaks first
        took = time.monotonic() - t0
        assert r.code == 421 and r.lines[0].startswith("421 4.4.2"), r
        assert 1.0 <= took < 10, took
        assert c.is_closed()


def test_idle_timeout_during_data(sink, moatd):
    s = sink()
    m = moatd(next_hop=s, idle_timeout=2)
    with SMTPClient(m.port) as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<alice@sender.example>").code == 250
        assert c.cmd("RCPT TO:<bob@example.com>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: half a message\r\n\r\nand then nothing")
        c.sock.settimeout(15)
        r = c.reply()
        assert r.code == 421, r
        assert c.is_closed()
    assert s.count() == 0


def test_session_timeout(sink, moatd):
    """Busy but endless sessions end too (NOOPs keep the idle timer off)."""
    s = sink()
    m = moatd(next_hop=s, idle_timeout=30, session_timeout=3)
    with SMTPClient(m.port) as c:
        c.ehlo()
        t0 = time.monotonic()
        last = None
        while time.monotonic() - t0 < 15:
            try:
                last = c.cmd("NOOP")
            except (ConnectionError, OSError):
                break
            if last.code != 250:
                break
            time.sleep(0.25)
        took = time.monotonic() - t0
        assert last is not None and last.code == 421, last
        assert took < 10, took


def test_vrfy_expn_refused(relay):
    s, m = relay
    with SMTPClient(m.port) as c:
        c.ehlo()
        r = c.cmd("VRFY bob@example.com")
        assert r.code == 502 and r.lines[0].startswith("502 5.5.1"), r
        r = c.cmd("EXPN staff")
        assert r.code == 502, r


def test_help_noop_rset(relay):
    s, m = relay
    with SMTPClient(m.port) as c:
        r = c.cmd("HELP")
        assert r.code in (211, 214), r
        c.ehlo()
        assert c.cmd("NOOP").code == 250
        assert c.cmd("MAIL FROM:<alice@sender.example>").code == 250
        assert c.cmd("RCPT TO:<bob@example.com>").code == 250
        assert c.cmd("RSET").code == 250
        # RSET dropped the transaction.
        assert c.cmd("RCPT TO:<bob@example.com>").code == 503
        assert c.cmd("DATA").code == 503
        mid = new_message_id("afterrset")
        data = load_fixture("plain.eml", message_id=mid)
        assert c.cmd("MAIL FROM:<carol@sender.example>").code == 250
        assert c.cmd("RCPT TO:<dave@example.org>").code == 250
        assert c.data(data).code == 250
        assert c.cmd("QUIT").code == 221
        assert c.is_closed()
    msgs = s.wait_for(1)
    assert msgs[0]["mail_from"] == "carol@sender.example"
    assert msgs[0]["rcpt_tos"] == ["dave@example.org"]


def test_commands_out_of_order(relay):
    s, m = relay
    with SMTPClient(m.port) as c:
        r = c.cmd("MAIL FROM:<alice@sender.example>")
        assert r.code == 503, "MAIL before EHLO: %r" % (r,)
        c.ehlo()
        assert c.cmd("RCPT TO:<bob@example.com>").code == 503
        assert c.cmd("DATA").code == 503
        assert c.cmd("MAIL FROM:<alice@sender.example>").code == 250
        assert c.cmd("MAIL FROM:<alice@sender.example>").code == 503
        r = c.cmd("DATA")           # MAIL but no recipient yet
        assert r.code in (503, 554), r
        assert c.cmd("NOOP").code == 250
    assert s.count() == 0


def test_unknown_command(relay):
    s, m = relay
    with SMTPClient(m.port) as c:
        c.ehlo()
        r = c.cmd("FROBNICATE now")
        assert r.code in (500, 502), r
        r = c.cmd("STARTTLS")        # not offered
        assert r.code // 100 == 5, r
        assert c.cmd("NOOP").code == 250


def test_ehlo_capabilities(relay):
    s, m = relay
    with SMTPClient(m.port) as c:
        assert c.greeting.code == 220
        r = c.ehlo()
        caps = {line[4:].split()[0].upper() for line in r.lines[1:]}
        for cap in ("PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8",
                    "ENHANCEDSTATUSCODES", "DSN", "XFORWARD"):
            assert cap in caps, r
        r = c.cmd("HELO old.e2e.test")
        assert r.code == 250


def test_pipelining_one_write(relay):
    """MAIL, several RCPTs and DATA in one write: answers in order, then
    the body, then the message and QUIT in one more write."""
    s, m = relay
    mid = new_message_id("pipe")
    data = load_fixture("plain.eml", message_id=mid)
    with SMTPClient(m.port) as c:
        c.ehlo()
        c.send(b"MAIL FROM:<alice@sender.example>\r\n"
               b"RCPT TO:<bob@example.com>\r\n"
               b"RCPT TO:<>\r\n"
               b"RCPT TO:<carol@example.org>\r\n"
               b"DATA\r\n")
        rs = c.replies(5)
        assert [r.code for r in rs[:2]] == [250, 250], rs
        assert rs[2].code // 100 == 5, rs          # empty address
        assert [r.code for r in rs[3:]] == [250, 354], rs
        c.send(dot_stuff(data) + b".\r\nQUIT\r\n")
        rs = c.replies(2)
        assert [r.code for r in rs] == [250, 221], rs
    msgs = s.wait_for(1)
    assert msgs[0]["rcpt_tos"] == ["bob@example.com", "carol@example.org"]
    assert msgs[0]["data"] == data


def test_many_messages_one_session(relay):
    s, m = relay
    mids = [new_message_id("seq%d" % i) for i in range(5)]
    with SMTPClient(m.port) as c:
        c.ehlo()
        for mid in mids:
            assert c.cmd("MAIL FROM:<alice@sender.example>").code == 250
            assert c.cmd("RCPT TO:<bob@example.com>").code == 250
            r = c.data(load_fixture("plain.eml", message_id=mid))
            assert r.code == 250, r
    msgs = s.wait_for(5)
    assert [x["message_id"] for x in msgs] == mids


def test_client_disconnect_mid_data_relays_nothing(relay):
    s, m = relay
    c = SMTPClient(m.port)
    c.ehlo()
    assert c.cmd("MAIL FROM:<alice@sender.example>").code == 250
    assert c.cmd("RCPT TO:<bob@example.com>").code == 250
    assert c.cmd("DATA").code == 354
    c.send(b"Subject: cut\r\n\r\nhalf")
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    # moatd is still healthy and nothing went out.
    with SMTPClient(m.port) as c2:
        c2.ehlo()
        assert c2.cmd("NOOP").code == 250
    st = m.ctl("status")
    assert isinstance(st, dict)
    assert s.count() == 0
