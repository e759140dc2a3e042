"""SMTP smuggling and malformed input, over raw sockets.

moatd ends DATA only at <CRLF>.<CRLF> and rejects bare LF, bare CR, NUL and
overlong lines with a precise 5xx. Commands hidden behind a fake end of data
(<LF>.<LF>, <CR>.<CR>, ...) belong to the rejected message and are never
executed; the next hop receives neither the original nor the smuggled
message, and the session stays in sync for the next message.
"""

import pytest

from conftest import SMTPClient, load_fixture, new_message_id

SMUGGLED = (b"MAIL FROM:<evil@attacker.example>\r\n"
            b"RCPT TO:<victim@example.com>\r\n"
            b"DATA\r\n"
            b"From: ceo@example.com\r\n"
            b"Subject: smuggled\r\n"
            b"\r\n"
            b"pay the invoice\r\n")

FAKE_ENDS = {
    "lf-dot-lf": b"\n.\n",
    "cr-dot-cr": b"\r.\r",
    "lf-dot-crlf": b"\n.\r\n",
    "crlf-dot-lf": b"\r\n.\n",
    "cr-dot-crlf": b"\r.\r\n",
    "crlf-dot-cr": b"\r\n.\r",
}


def start_data(c, rcpt="bob@example.com"):
    c.ehlo()
    assert c.cmd("MAIL FROM:<alice@sender.example>").code == 250
    assert c.cmd("RCPT TO:<%s>" % rcpt).code == 250
    r = c.cmd("DATA")
    assert r.code == 354, r


def assert_in_sync(c, sink, mid_tag="after"):
    """No stray replies are pending, and a correct message now succeeds and
    is the only one the next hop ever receives."""
    r = c.cmd("NOOP")
    assert r.code == 250, "session out of sync, got %r for NOOP" % r
    mid = new_message_id(mid_tag)
    data = load_fixture("plain.eml", message_id=mid)
    assert c.cmd("MAIL FROM:<alice@sender.example>").code == 250
    assert c.cmd("RCPT TO:<bob@example.com>").code == 250
    r = c.data(data)
    assert r.code == 250, r
    r = c.cmd("QUIT")
    assert r.code == 221, r
    msgs = sink.wait_for(1)
    assert [m["message_id"] for m in msgs] == [mid]
    assert msgs[0]["data"] == data
    assert msgs[0]["rcpt_tos"] == ["bob@example.com"]
    assert b"smuggled" not in msgs[0]["data"]


@pytest.fixture
def relay(sink, moatd):
    s = sink()
    m = moatd(next_hop=s)
    return s, m


@pytest.mark.parametrize("end", sorted(FAKE_ENDS), ids=sorted(FAKE_ENDS))
def test_fake_end_of_data_smuggling(relay, end):
    s, m = relay
    with SMTPClient(m.port) as c:
        start_data(c)
        # One write, as an attacker's client would pipeline it.
        c.send(b"Subject: innocent\r\n\r\nhello" + FAKE_ENDS[end] + SMUGGLED +
               b"\r\n.\r\n")
        r = c.reply()
        assert r.code == 550, r
        assert r.lines[0].startswith("550 5.6.0"), r
        text = r.text.lower()
        assert "bare lf" in text or "bare cr" in text, r
        assert_in_sync(c, s)


def test_smuggling_without_pipelining_wait(relay):
    """Smuggled commands after a fake end, sent one by one and waiting for
    answers that must not come: moatd is still in DATA."""
    s, m = relay
    with SMTPClient(m.port, timeout=1.5) as c:
        start_data(c)
        c.send(b"Subject: innocent\r\n\r\nhello\n.\n")
        c.send(b"MAIL FROM:<evil@attacker.example>\r\n")
        with pytest.raises(OSError):        # socket.timeout: no reply
            c.reply()
        c.sock.settimeout(10)
        c.send(b"RCPT TO:<victim@example.com>\r\nDATA\r\n"
               b"Subject: smuggled\r\n\r\nx\r\n.\r\n")
        r = c.reply()
        assert r.code == 550 and "bare lf" in r.text.lower(), r
        assert_in_sync(c, s)


@pytest.mark.parametrize("name,payload,word", [
    pytest.param("bare-lf", b"Subject: x\r\n\r\nline one\nline two\r\n",
                 "bare lf", id="bare-lf"),
    pytest.param("bare-cr", b"Subject: x\r\n\r\nline one\rline two\r\n",
                 "bare cr", id="bare-cr"),
    pytest.param("nul", b"Subject: x\r\n\r\nnul \x00 byte\r\n", "nul",
                 id="nul"),
    pytest.param("long-line", b"Subject: x\r\n\r\n" + b"a" * 999 + b"\r\n",
                 "line", id="long-line"),
    pytest.param("long-header",
                 b"Subject: " + b"b" * 1200 + b"\r\n\r\nbody\r\n", "line",
                 id="long-header"),
])
def test_bad_data_rejected(relay, name, payload, word):
    s, m = relay
    with SMTPClient(m.port) as c:
        start_data(c)
        c.send(payload + b".\r\n")
        r = c.reply()
        assert r.code == 550, r
        assert r.lines[0].startswith("550 5.6.0"), r
        assert word in r.text.lower(), r
        assert_in_sync(c, s)


def test_line_of_998_octets_accepted(relay):
    s, m = relay
    mid = new_message_id("998")
    data = (b"Message-ID: <" + mid.encode() + b">\r\nSubject: x\r\n\r\n" +
            b"c" * 998 + b"\r\n")
    with SMTPClient(m.port) as c:
        start_data(c)
        c.send(data + b".\r\n")
        r = c.reply()
        assert r.code == 250, r
    msgs = s.wait_for(1)
    assert msgs[0]["data"] == data


def test_command_line_too_long(relay):
    s, m = relay
    with SMTPClient(m.port) as c:
        c.ehlo()
        r = c.cmd(b"MAIL FROM:<" + b"a" * 3000 + b"@sender.example>")
        assert r.code == 500, r
        assert "too long" in r.text.lower(), r
        # The overlong line was discarded whole: no reply for its tail.
        assert_in_sync(c, s)


@pytest.mark.parametrize("cmd", [b"NOOP\n", b"NOOP\rRSET\r\n",
                                 b"NO\x00OP\r\n"],
                         ids=["bare-lf", "bare-cr", "nul"])
def test_bad_command_line(relay, cmd):
    s, m = relay
    with SMTPClient(m.port) as c:
        c.ehlo()
        c.send(cmd)
        r = c.reply()
        assert r.code // 100 == 5, r
        assert_in_sync(c, s)


def test_smuggled_message_in_lmtp(relay):
    """The same holds for LMTP: one 550 per recipient, nothing delivered."""
    s, m = relay
    with SMTPClient(m.port) as c:
        c.ehlo(verb="LHLO")
        assert c.cmd("MAIL FROM:<alice@sender.example>").code == 250
        assert c.cmd("RCPT TO:<bob@example.com>").code == 250
        assert c.cmd("RCPT TO:<carol@example.com>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: a\r\n\r\nhi\n.\n" + SMUGGLED + b".\r\n")
        rs = c.replies(2)
        assert [r.code for r in rs] == [550, 550], rs
        assert_in_sync(c, s)
