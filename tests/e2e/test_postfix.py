"""moatd as Postfix's after-queue content filter, with a real Postfix.

client --smtp--> Postfix front --lmtp/smtp--> moatd --smtp--> Postfix
re-injection --smtp--> sink. Postfix keeps each message queued until moatd
answers 250, so nothing may be lost or duplicated whatever moatd or the next
hop does.
"""

import re
import signal

import pytest

from conftest import (load_fixture, new_message_id, send_mail,
                      split_message, wait_until, norm_mid)

RCPTS = ["bob@example.com", "carol@example.com", "dave@example.org",
         "erin@example.org"]


def postfix_added_only(prefix):
    """True when every header line in prefix is one Postfix adds on the way
    (Received, with folded continuation lines)."""
    if not prefix:
        return True
    lines = prefix.split(b"\r\n")
    assert lines[-1] == b""
    for line in lines[:-1]:
        if line.startswith((b" ", b"\t")):
            continue
        if not line.lower().startswith(b"received:"):
            return False
    return True


def assert_intact(delivered, sent):
    """delivered == Postfix's Received lines + exactly the bytes we sent."""
    assert delivered.endswith(sent), \
        "message altered on the way:\nsent tail %r\ngot tail %r" % \
        (sent[-200:], delivered[-200:])
    prefix = delivered[:len(delivered) - len(sent)]
    assert postfix_added_only(prefix), \
        "unexpected added header lines: %r" % prefix
    assert split_message(delivered)[1] == split_message(sent)[1]


def deliveries(sink, mid):
    msgs = sink.by_message_id(mid)
    rcpts = sorted(r for m in msgs for r in m["rcpt_tos"])
    return msgs, rcpts


def wait_delivered(sink, mid, rcpts, timeout=30):
    want = sorted(rcpts)
    return wait_until(lambda: deliveries(sink, mid)[1] == want and
                      deliveries(sink, mid)[0], timeout,
                      "<%s> delivered to %s" % (mid, want))


def wait_queue_empty(pf, timeout=20):
    wait_until(lambda: pf.queue() == [], timeout, "postfix queue empty")


def chain(sink, postfix, moatd, filter="lmtp", **moat_opts):
    """Postfix front -> moatd -> Postfix re-injection -> sink."""
    s = sink()
    pf = postfix(s, filter=filter)
    m = moatd(next_hop=pf.reinject_addr, port=pf.filter_port, **moat_opts)
    return s, pf, m


def test_postfix_alone_delivers(sink, postfix):
    """Harness baseline, no moatd: Postfix front (no filter) -> sink."""
    s = sink()
    pf = postfix(s, filter=None)
    check = pf.postfix("check")
    assert b"warning" not in check.stderr, check.stderr
    mid = new_message_id("baseline")
    data = load_fixture("plain.eml", message_id=mid)
    send_mail(pf.port, "alice@sender.example", RCPTS, data)
    msgs = wait_delivered(s, mid, RCPTS)
    for m in msgs:
        assert m["mail_from"] == "alice@sender.example"
        assert_intact(m["data"], data)
    wait_queue_empty(pf)


@pytest.mark.parametrize("filter", ["lmtp", "smtp"])
@pytest.mark.parametrize("fixture", ["plain.eml", "multipart.eml",
                                     "long.eml"])
def test_message_arrives_intact(sink, postfix, moatd, filter, fixture):
    s, pf, m = chain(sink, postfix, moatd, filter=filter)
    mid = new_message_id("intact")
    data = load_fixture(fixture, message_id=mid)
    send_mail(pf.port, "alice@sender.example", RCPTS, data)
    msgs = wait_delivered(s, mid, RCPTS)
    for msg in msgs:
        assert msg["mail_from"] == "alice@sender.example"
        assert_intact(msg["data"], data)
    # Exactly one copy per recipient, and nothing left behind in Postfix.
    wait_queue_empty(pf)
    assert deliveries(s, mid)[1] == sorted(RCPTS)
    # moatd passed through, so Postfix's re-injection smtpd got it from moatd.
    assert "postfix/reinject" in pf.log()


def test_8bit_body_and_smtputf8_sender(sink, postfix, moatd):
    s, pf, m = chain(sink, postfix, moatd)
    mid = new_message_id("utf8")
    data = load_fixture("utf8.eml", message_id=mid)
    sender = "jörg@sender.example"
    rcpts = ["björk@example.com", "bob@example.com"]
    send_mail(pf.port, sender, rcpts, data,
              mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    msgs = wait_delivered(s, mid, rcpts)
    for msg in msgs:
        assert msg["mail_from"] == sender
        assert msg["smtputf8"] is True
        assert_intact(msg["data"], data)
        assert "Grüße aus Köln".encode() in msg["data"]
    wait_queue_empty(pf)


def test_next_hop_down_mail_stays_queued(sink, postfix, moatd):
    """moatd's next hop is down: moatd answers 4xx, Postfix keeps the
    message deferred; once the next hop is back and the queue flushed it
    arrives exactly once."""
    s = sink()
    pf = postfix(s, filter="lmtp")
    moatd(next_hop=s, port=pf.filter_port)
    s.stop()
    mid = new_message_id("hopdown")
    data = load_fixture("plain.eml", message_id=mid)
    send_mail(pf.port, "alice@sender.example", RCPTS[:2], data)

    def deferred():
        q = pf.queue()
        return [e for e in q if e["queue_name"] == "deferred"] or None
    q = wait_until(deferred, 20, "message deferred in Postfix")
    assert len(q) == 1
    reasons = [r.get("delay_reason", "") for r in q[0]["recipients"]]
    # Postfix keeps moatd's answer: "... said: 451 4.4.1 ...".
    assert all(re.search(r"\b451 4\.4\.\d", r) for r in reasons), reasons
    assert s.count() == 0
    s.start()
    pf.flush()
    wait_delivered(s, mid, RCPTS[:2])
    wait_queue_empty(pf)
    msgs, rcpts = deliveries(s, mid)
    assert rcpts == sorted(RCPTS[:2])
    assert_intact(msgs[0]["data"], data)


def test_sink_down_behind_reinjection(sink, postfix, moatd):
    """The final hop is down: moatd relays to Postfix's re-injection, which
    queues it; after the sink returns and a flush, it arrives once."""
    s, pf, m = chain(sink, postfix, moatd)
    s.stop()
    mid = new_message_id("sinkdown")
    data = load_fixture("multipart.eml", message_id=mid)
    send_mail(pf.port, "alice@sender.example", ["bob@example.com"], data)
    q = wait_until(lambda: [e for e in pf.queue()
                            if e["queue_name"] == "deferred"], 20,
                   "message deferred for the sink")
    assert "refused" in q[0]["recipients"][0]["delay_reason"].lower()
    s.start()
    pf.flush()
    msgs = wait_delivered(s, mid, ["bob@example.com"])
    assert_intact(msgs[0]["data"], data)
    wait_queue_empty(pf)
    assert len(s.by_message_id(mid)) == 1


def test_sigkill_during_data_no_loss_no_duplicate(sink, postfix, moatd):
    """moatd is SIGKILLed in the middle of the DATA transaction (it relayed
    the message to a next hop that has not answered yet): after moatd
    restarts and Postfix retries, the message arrives exactly once."""
    s = sink(delay_data=60)
    pf = postfix(s, filter="lmtp")
    m = moatd(next_hop=s, port=pf.filter_port, relay_timeout=120)
    mid = new_message_id("sigkill")
    head, body = split_message(load_fixture("long.eml", message_id=mid))
    data = head + b"\r\n" + body * 16           # about 1 MB
    send_mail(pf.port, "alice@sender.example", RCPTS[:3], data)
    # The whole message reached the next hop, which holds its answer back.
    wait_until(lambda: "delay-data" in s.log(), 30,
               "moatd relaying the message to the sink")
    m.kill(signal.SIGKILL)
    pf.wait_log(r"lost connection|Connection reset|conversation with", 20)
    q = wait_until(lambda: pf.queue(), 10, "message still in Postfix queue")
    assert len(q) == 1
    # The sink saw the client go away and stored nothing.
    s.stop()
    assert s.count() == 0
    s.start(delay_data=0)
    m.start()
    pf.flush()
    wait_delivered(s, mid, RCPTS[:3], timeout=40)
    wait_queue_empty(pf, timeout=30)
    msgs, rcpts = deliveries(s, mid)
    assert rcpts == sorted(RCPTS[:3]), "duplicate or missing delivery"
    for msg in msgs:
        assert_intact(msg["data"], data)


def test_tracking_has_xforward_client_and_helo(sink, postfix, moatd):
    """Postfix passes the original client's address and helo by XFORWARD;
    tracking.search shows them, with the envelope and the outcome."""
    s, pf, m = chain(sink, postfix, moatd)
    mid = new_message_id("xforward")
    data = load_fixture("plain.eml", message_id=mid)
    helo = "outside-client.e2e.test"
    # From 127.0.0.2: Postfix's own connection to moatd comes from 127.0.0.1,
    # so the address in tracking can only have come by XFORWARD.
    send_mail(pf.port, "alice@sender.example", RCPTS[:2], data, helo=helo,
              source="127.0.0.2")
    wait_delivered(s, mid, RCPTS[:2])
    recs = wait_until(lambda: m.track_by_message_id(mid), 15,
                      "tracking record for <%s>" % mid)
    assert len(recs) == 1, recs
    rec = recs[0]
    assert rec["helo"] == helo
    assert rec["client_addr"] == "127.0.0.2"
    assert rec["sender"] == "alice@sender.example"
    assert sorted(r["address"] for r in rec["rcpts"]) == sorted(RCPTS[:2])
    assert rec["outcome"] == "relayed"
    assert all(r["outcome"] == "relayed" for r in rec["rcpts"])
    assert rec["subject"] == "Plain text fixture"
    assert norm_mid(rec["message_id"]) == mid
    # Postfix's own front smtpd appears nowhere as the client: moatd's
    # peer is Postfix's lmtp client, the recorded helo is the real one.
    assert rec["helo"] != "postfix.e2e.test"
