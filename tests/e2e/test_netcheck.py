"""Network checks end to end: DNSBL, SURBL, SPF, DKIM, DMARC and the
phishing filter, through moatd, against a dnsmasq on loopback serving a
zone the test writes (tests/e2e/dnstest.py), with DKIM keys the test
generates and messages it signs with dkimpy. The client address and HELO
name come in with XFORWARD, as Postfix passes them; the findings are read
from tracking.
"""

import time

import pytest

from conftest import SMTPClient, new_message_id, wait_until
from dnstest import DkimKey, DnsServer, Zone

FILTERS = """
dns = { servers = [ "%(dns)s" ]; timeout_ms = %(timeout)d; };
filters = {
  rules = { enabled = false; };  bayes = { enabled = false; };
  clamav = { enabled = false; }; attachments = { enabled = false; };
  greylist = { enabled = false; };
  phishing = { protected = [ "bank.test", "paypal.test" ]; };
  dnsbl = { zones = ( { zone = "rbl.test"; score = 3.0;
                        symbol = "RBL_TEST"; } ); };
  surbl = { zones = ( { zone = "uribl.test"; score = 4.0;
                        symbol = "URIBL_TEST"; } ); };
  spf = { enabled = true; };
  dkim = { enabled = true; };
  dmarc = { enabled = true; };
};
"""


@pytest.fixture
def dns(instance_dir):
    folder = instance_dir / "dns"
    folder.mkdir()
    key = DkimKey(folder, "sel", "sign.test")
    zone = (Zone()
            .txt("sign.test", "v=spf1 ip4:192.0.2.0/24 -all")
            .txt("other.test", "v=spf1 -all")
            .txt("_dmarc.sign.test", "v=DMARC1; p=reject")
            .txt(key.name, key.record)
            .dnsbl("rbl.test", "192.0.2.2")
            .uribl("uribl.test", "evil.test"))
    server = DnsServer(folder, zone).start()
    server.key = key
    yield server
    server.stop()


def message(mid, from_addr="alice@sign.test", body=None, html=None):
    head = ("From: Alice <%s>\r\nTo: bob@example.com\r\n"
            "Subject: network checks\r\nDate: Mon, 1 Jan 2024 10:00:00 "
            "+0000\r\nMessage-ID: <%s>\r\n" % (from_addr, mid))
    if html is not None:
        head += "MIME-Version: 1.0\r\nContent-Type: text/html; " \
                "charset=utf-8\r\n"
        return (head + "\r\n" + html + "\r\n").encode()
    body = body or "Hello Bob,\r\nsee http://www.evil.test/offer\r\n"
    return (head + "\r\n" + body).encode()


def send_as(port, ip, helo, mail_from, rcpt, data):
    """One message with XFORWARD ADDR/HELO; the final reply."""
    with SMTPClient(port) as c:
        c.ehlo()
        r = c.cmd("XFORWARD ADDR=%s HELO=%s" % (ip, helo))
        assert r.code == 250, r
        assert c.cmd("MAIL FROM:<%s>" % mail_from).code == 250
        assert c.cmd("RCPT TO:<%s>" % rcpt).code == 250
        r = c.data(data)
        c.cmd("QUIT")
        return r


def findings(m, mid, timeout=20):
    recs = wait_until(lambda: m.track_by_message_id(mid), timeout,
                      "tracking record of <%s>" % mid)
    rec = recs[0]
    if "findings" not in rec:
        pytest.fail("tracking records carry no findings: %r" % rec)
    return {f["symbol"]: f for f in rec["findings"] or []}


def start(moatd, sink, dns, timeout=1500):
    return moatd(sink(), conf_extra=FILTERS % {"dns": dns.addr,
                                               "timeout": timeout})


def test_authenticated_mail(moatd, sink, dns):
    m = start(moatd, sink, dns)
    mid = new_message_id("nc-auth")
    data = dns.key.sign(message(mid))
    r = send_as(m.port, "192.0.2.2", "mx.sign.test", "alice@sign.test",
                "bob@example.com", data)
    assert r.code == 250, r
    f = findings(m, mid)
    for sym in ("RBL_TEST", "URIBL_TEST", "SPF_PASS", "DKIM_VALID",
                "DKIM_VALID_AU", "DMARC_PASS"):
        assert sym in f, (sym, f)
    assert f["RBL_TEST"]["score"] == 3.0
    assert "192.0.2.2" in f["RBL_TEST"]["detail"]
    assert "evil.test" in f["URIBL_TEST"]["detail"]
    assert "DKIM_INVALID" not in f
    # The resolver was the test's own server.
    assert "sel._domainkey.sign.test" in dns.log()


def test_forged_sender(moatd, sink, dns):
    m = start(moatd, sink, dns)
    mid = new_message_id("nc-forged")
    r = send_as(m.port, "203.0.113.9", "mx.other.test", "bob@other.test",
                "bob@example.com", message(mid, body="No links.\r\n"))
    assert r.code == 250, r
    f = findings(m, mid)
    assert "SPF_FAIL" in f, f
    assert "DMARC_REJECT" in f, f
    assert f["DMARC_REJECT"]["score"] > 0
    assert "RBL_TEST" not in f and "URIBL_TEST" not in f
    assert "DKIM_VALID" not in f


def test_tampered_signature(moatd, sink, dns):
    m = start(moatd, sink, dns)
    mid = new_message_id("nc-tampered")
    data = dns.key.sign(message(mid, body="Pay 100 EUR.\r\n"))
    data = data.replace(b"Pay 100 EUR", b"Pay 900 EUR")
    r = send_as(m.port, "203.0.113.9", "mx.sign.test", "alice@sign.test",
                "bob@example.com", data)
    assert r.code == 250, r
    f = findings(m, mid)
    assert "DKIM_INVALID" in f, f
    assert "body hash" in f["DKIM_INVALID"]["detail"]
    assert "SPF_FAIL" in f
    assert "DMARC_REJECT" in f


def test_phishing_link(moatd, sink, dns):
    m = start(moatd, sink, dns)
    mid = new_message_id("nc-phish")
    html = ('<html><body><p>Your account is locked.</p>'
            '<a href="http://login.example.net/bank">www.bank.test</a>'
            '<a href="http://www.paypa1.test/">help</a></body></html>')
    r = send_as(m.port, "203.0.113.9", "mx.other.test", "x@other.test",
                "bob@example.com", message(mid, "service@other.test",
                                           html=html))
    assert r.code == 250, r
    f = findings(m, mid)
    assert "PHISH_LINK_PROTECTED" in f, f
    assert "PHISH_LOOKALIKE" in f, f


def test_dns_down(moatd, sink, dns):
    """No answers at all: the mail goes on after the deadline, with
    temporary errors, and nothing hangs."""
    dns.stop()
    m = start(moatd, sink, dns, timeout=500)
    mid = new_message_id("nc-down")
    t0 = time.monotonic()
    data = dns.key.sign(message(mid))
    r = send_as(m.port, "192.0.2.2", "mx.sign.test", "alice@sign.test",
                "bob@example.com", data)
    assert r.code == 250, r
    assert time.monotonic() - t0 < 10
    f = findings(m, mid)
    assert "SPF_TEMPERROR" in f, f
    assert "DKIM_TEMPFAIL" in f, f
    assert "DMARC_TEMPERROR" in f, f
    assert "RBL_TEST" not in f
