"""Greylisting at RCPT end to end: an unknown triplet gets 451 4.7.1, a
retry after the delay (2 s here) passes and the mail is relayed; the
passed triplet survives a restart; whitelisted networks and senders pass
at once; behind a real Postfix as an after-queue filter, Postfix keeps the
greylisted recipient queued, retries, and the mail arrives.
"""

import re


from conftest import SMTPClient, new_message_id, wait_until

GREYLIST = """
filters = {
  rules = { enabled = false; };  bayes = { enabled = false; };
  clamav = { enabled = false; }; attachments = { enabled = false; };
  phishing = { enabled = false; };
  dnsbl = { enabled = false; };  surbl = { enabled = false; };
  spf = { enabled = false; };    dkim = { enabled = false; };
  dmarc = { enabled = false; };
  greylist = { enabled = true; delay = 2; retry_window = 120;
               whitelist_networks = [ "192.0.2.128/25" ];
               whitelist_senders = [ "friend.test" ]; };
};
"""

GREY = re.compile(r"^451 4\.7\.1 Greylisted, try again in \d+ seconds?$")


def body(mid):
    return ("From: a@sender.test\r\nTo: b@example.com\r\nSubject: grey\r\n"
            "Message-ID: <%s>\r\n\r\nhello\r\n" % mid).encode()


def rcpt_reply(port, ip, sender, rcpt):
    """The RCPT answer for a client address (XFORWARD), then QUIT."""
    with SMTPClient(port) as c:
        c.ehlo()
        assert c.cmd("XFORWARD ADDR=%s" % ip).code == 250
        assert c.cmd("MAIL FROM:<%s>" % sender).code == 250
        r = c.cmd("RCPT TO:<%s>" % rcpt)
        c.cmd("QUIT")
        return r


def deliver(port, ip, sender, rcpt, mid):
    with SMTPClient(port) as c:
        c.ehlo()
        assert c.cmd("XFORWARD ADDR=%s" % ip).code == 250
        assert c.cmd("MAIL FROM:<%s>" % sender).code == 250
        r = c.cmd("RCPT TO:<%s>" % rcpt)
        assert r.code == 250, r
        r = c.data(body(mid))
        c.cmd("QUIT")
        return r


def test_retry_after_delay(moatd, sink):
    snk = sink()
    m = moatd(snk, conf_extra=GREYLIST)
    r = rcpt_reply(m.port, "203.0.113.7", "a@sender.test", "b@example.com")
    assert r.code == 451 and GREY.match(r.lines[0]), r
    # Retried at once: still greylisted.
    r = rcpt_reply(m.port, "203.0.113.7", "a@sender.test", "b@example.com")
    assert r.code == 451, r
    # Another address of the same /24 retries after the delay: passes.
    wait_until(lambda: rcpt_reply(m.port, "203.0.113.99", "a@sender.test",
                                  "b@example.com").code == 250, 15,
               "the greylisted triplet to pass", interval=0.5)
    mid = new_message_id("grey")
    assert deliver(m.port, "203.0.113.7", "a@sender.test",
                   "b@example.com", mid).code == 250
    snk.wait_message_id(mid)
    # A different recipient is a different triplet.
    r = rcpt_reply(m.port, "203.0.113.7", "a@sender.test", "c@example.com")
    assert r.code == 451, r
    # The passed triplet is in the store: a restart keeps it.
    m.restart()
    r = rcpt_reply(m.port, "203.0.113.7", "a@sender.test", "b@example.com")
    assert r.code == 250, r
    assert (m.dir / "greylist.db").exists()


def test_whitelists(moatd, sink):
    m = moatd(sink(), conf_extra=GREYLIST)
    assert rcpt_reply(m.port, "192.0.2.200", "a@sender.test",
                      "b@example.com").code == 250
    assert rcpt_reply(m.port, "192.0.2.1", "x@mail.friend.test",
                      "b@example.com").code == 250
    assert rcpt_reply(m.port, "192.0.2.1", "x@sender.test",
                      "b@example.com").code == 451


def test_behind_postfix(moatd, sink, postfix):
    """Postfix (after-queue, LMTP to moatd) keeps the greylisted recipient
    in its queue and retries; the message arrives after the delay."""
    snk = sink()
    pf = postfix(snk, filter="lmtp")
    moatd(pf.reinject_addr, port=pf.filter_port, conf_extra=GREYLIST)
    mid = new_message_id("grey-pf")
    import smtplib
    with smtplib.SMTP("127.0.0.1", pf.port, timeout=30) as s:
        s.sendmail("a@sender.test", ["b@example.com"], body(mid))
    pf.wait_log(r"Greylisted, try again", timeout=30)
    snk.wait_message_id(mid, timeout=60)
