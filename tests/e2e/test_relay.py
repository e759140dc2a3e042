"""Relaying: an SMTP/LMTP client talks to moatd directly, moatd relays to a
sink, and answers with what the next hop said (or 451 when it could not
reach it in time)."""

import signal
import threading
import time

import pytest

from conftest import (SMTPClient, load_fixture, new_message_id, norm_mid,
                      split_message, wait_until)

RCPTS = ["bob@example.com", "carol@example.com", "dave@example.org"]


def transaction(port, mail_from, rcpts, data, mail_params="",
                rcpt_params="", helo="client.e2e.test", verb="EHLO"):
    """One message on a new connection; returns (rcpt replies, final reply
    or list of LMTP replies)."""
    with SMTPClient(port) as c:
        c.ehlo(helo, verb=verb)
        r = c.cmd("MAIL FROM:<%s>%s" % (mail_from, mail_params))
        assert r.code == 250, r
        rr = [c.cmd("RCPT TO:<%s>%s" % (a, rcpt_params)) for a in rcpts]
        n = sum(1 for x in rr if x.code == 250)
        if n == 0:
            return rr, None
        final = c.data(data, nreplies=n if verb == "LHLO" else 1)
        c.cmd("QUIT")
        return rr, final


def opts(options):
    return {o.split("=", 1)[0].upper(): (o.split("=", 1) + [None])[1]
            for o in options}


def test_envelope_and_body_preserved(sink, moatd):
    s = sink()
    m = moatd(next_hop=s)
    mid = new_message_id("envelope")
    data = load_fixture("multipart.eml", message_id=mid)
    rr, final = transaction(
        m.port, "alice@sender.example", RCPTS, data,
        mail_params=" SIZE=%d BODY=8BITMIME RET=HDRS ENVID=env-42" %
        len(data),
        rcpt_params=" NOTIFY=SUCCESS,FAILURE")
    assert [r.code for r in rr] == [250, 250, 250]
    assert final.code == 250, final
    msgs = s.wait_for(1)
    assert len(msgs) == 1
    msg = msgs[0]
    assert msg["mail_from"] == "alice@sender.example"
    assert msg["rcpt_tos"] == RCPTS                 # all, in order
    mo = opts(msg["mail_options"])
    assert abs(int(mo["SIZE"]) - len(data)) <= 64, mo
    assert mo.get("BODY") == "8BITMIME"
    assert mo.get("RET") == "HDRS"
    assert mo.get("ENVID") == "env-42"
    for ro in msg["rcpt_options"]:
        assert opts(ro).get("NOTIFY") == "SUCCESS,FAILURE", ro
    # moatd adds nothing and changes nothing.
    assert msg["data"] == data
    assert msg["message_id"] == mid


def test_null_sender_and_smtputf8(sink, moatd):
    s = sink()
    m = moatd(next_hop=s)
    data = load_fixture("utf8.eml", message_id=new_message_id("utf8"))
    rr, final = transaction(m.port, "", ["bob@example.com"], data)
    assert final.code == 250, final
    sender = "jörg@sender.example"
    rr, final = transaction(m.port, sender, ["björk@example.com"], data,
                            mail_params=" SMTPUTF8 BODY=8BITMIME")
    assert final.code == 250, final
    first, second = s.wait_for(2)
    assert first["mail_from"] == ""
    assert first["data"] == data
    assert second["mail_from"] == sender
    assert second["rcpt_tos"] == ["björk@example.com"]
    assert second["smtputf8"] is True
    assert second["data"] == data


def test_lmtp_per_recipient_answers(sink, moatd):
    """Next hop answers 4xx for one recipient: an LMTP client gets one
    answer per recipient, the others are delivered."""
    s = sink(rcpt_reply={"later@example.com": "451 4.2.0 try later"})
    m = moatd(next_hop=s)
    rcpts = ["bob@example.com", "later@example.com", "carol@example.com"]
    data = load_fixture("plain.eml", message_id=new_message_id("lmtp"))
    rr, finals = transaction(m.port, "alice@sender.example", rcpts, data,
                             verb="LHLO")
    assert [r.code for r in rr] == [250, 250, 250]
    assert [r.code for r in finals] == [250, 451, 250], finals
    assert finals[1].lines[0].startswith("451 4."), finals[1]
    msgs = s.wait_for(1)
    assert len(msgs) == 1
    assert msgs[0]["rcpt_tos"] == ["bob@example.com", "carol@example.com"]
    assert msgs[0]["data"] == data


def test_smtp_partial_refusal_defers_all(sink, moatd):
    """Over SMTP moatd has one answer for the whole message: when the next
    hop refuses one recipient it must not deliver to the others and answer
    250 (that recipient would be lost) nor deliver and answer 4xx
    (duplicates on retry): nothing is delivered and the answer is 4xx."""
    s = sink(rcpt_reply={"later@example.com": "451 4.2.0 try later"})
    m = moatd(next_hop=s)
    rcpts = ["bob@example.com", "later@example.com"]
    data = load_fixture("plain.eml", message_id=new_message_id("partial"))
    rr, final = transaction(m.port, "alice@sender.example", rcpts, data)
    assert final.code // 100 == 4, final
    # moatd answered after its talk with the sink ended, and the sink
    # stores before it answers: a relayed copy would be there by now.
    assert s.count() == 0


def test_next_hop_5xx_passed_on(sink, moatd):
    s = sink(data_reply="554 5.7.1 rejected by next hop policy")
    m = moatd(next_hop=s)
    mid = new_message_id("reject")
    data = load_fixture("plain.eml", message_id=mid)
    rr, final = transaction(m.port, "alice@sender.example", RCPTS[:1], data)
    assert final.code == 554, final
    assert final.lines[0].startswith("554 5.7.1"), final
    recs = wait_until(lambda: m.track_by_message_id(mid), 10,
                      "tracking record")
    assert recs[0]["outcome"] == "rejected"
    assert s.count() == 0


def test_next_hop_down_451(sink, moatd):
    s = sink()
    m = moatd(next_hop=s)
    s.stop()
    mid = new_message_id("down")
    data = load_fixture("plain.eml", message_id=mid)
    rr, final = transaction(m.port, "alice@sender.example", RCPTS[:2], data)
    assert final.code == 451, final
    assert final.lines[0].startswith("451 4.4."), final
    recs = wait_until(lambda: m.track_by_message_id(mid), 10,
                      "tracking record")
    assert recs[0]["outcome"] == "tempfailed"
    # Once the next hop is back, the same client retry goes through.
    s.start()
    rr, final = transaction(m.port, "alice@sender.example", RCPTS[:2], data)
    assert final.code == 250, final
    assert len(s.wait_for(1)) == 1


def test_next_hop_slow_451(sink, moatd):
    """The next hop holds its answer past relay_timeout: 451, and the next
    hop, seeing moatd hang up before answering, keeps nothing."""
    s = sink(delay_data=15)
    m = moatd(next_hop=s, relay_timeout=2)
    data = load_fixture("plain.eml", message_id=new_message_id("slow"))
    t0 = time.monotonic()
    rr, final = transaction(m.port, "alice@sender.example", RCPTS[:1], data)
    took = time.monotonic() - t0
    assert final.code == 451, final
    assert final.lines[0].startswith("451 4.4."), final
    assert took < 12, "answered after %.1fs, relay_timeout is 2s" % took
    wait_until(lambda: "delay-data" in s.log(), 5, "sink saw the message")
    s.stop()            # the sink's delayed commit can no longer happen
    assert s.count() == 0


def test_200_concurrent_connections(sink, moatd):
    """200 clients connected at once, each sending a message: every one is
    answered 250, delivered once, and seen by tracking.subscribe."""
    n = 200
    s = sink()
    m = moatd(next_hop=s, max_connections=500)
    sub = m.subscribe()
    m.ctl("status")     # the subscription is set up by now (same server)
    base = load_fixture("plain.eml")
    head, body = split_message(base)
    mids = [new_message_id("conc%03d" % i) for i in range(n)]
    results = [None] * n
    barrier = threading.Barrier(n, timeout=60)

    def client(i):
        try:
            with SMTPClient(m.port, timeout=90) as c:
                c.ehlo("conc%d.e2e.test" % i)
                barrier.wait()          # all 200 sessions open at once
                data = load_fixture("plain.eml", message_id=mids[i])
                assert c.cmd("MAIL FROM:<sender%d@sender.example>" %
                             i).code == 250
                assert c.cmd("RCPT TO:<rcpt%d@example.com>" % i).code == 250
                results[i] = c.data(data)
                c.cmd("QUIT")
        except Exception as e:          # reported below, per client
            results[i] = e
            barrier.abort()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    bad = [(i, r) for i, r in enumerate(results)
           if not (hasattr(r, "code") and r.code == 250)]
    assert not bad, "%d clients failed, first: %r" % (len(bad), bad[:3])
    msgs = s.wait_for(n, timeout=60)
    got = sorted(msg["message_id"] for msg in msgs)
    assert got == sorted(mids)          # each exactly once
    for msg in msgs:
        i = mids.index(msg["message_id"])
        assert msg["rcpt_tos"] == ["rcpt%d@example.com" % i]
        assert msg["mail_from"] == "sender%d@sender.example" % i
        assert split_message(msg["data"])[1] == body
    want = set(mids)
    recs = sub.collect(lambda got: want <= {norm_mid(r.get("message_id"))
                                            for r in got}, timeout=60)
    relayed = {norm_mid(r["message_id"]) for r in recs
               if r.get("outcome") == "relayed"}
    assert want <= relayed


def test_subscribe_sees_each_message(sink, moatd):
    """A subscriber gets one event per finished message, with envelope and
    outcome, relayed or not."""
    s = sink()
    m = moatd(next_hop=s)
    sub = m.subscribe()
    m.ctl("status")
    ok_mid = new_message_id("sub-ok")
    ok_data = load_fixture("plain.eml", message_id=ok_mid)
    rr, final = transaction(m.port, "alice@sender.example", RCPTS[:2],
                            ok_data, helo="subscriber.e2e.test")
    assert final.code == 250
    s.stop()
    tf_mid = new_message_id("sub-tf")
    data = load_fixture("plain.eml", message_id=tf_mid)
    rr, final = transaction(m.port, "bob@sender.example", RCPTS[2:], data)
    assert final.code == 451
    recs = sub.collect(lambda got: len(got) >= 2, timeout=20)
    by = {norm_mid(r.get("message_id")): r for r in recs}
    ok, tf = by[ok_mid], by[tf_mid]
    assert ok["outcome"] == "relayed"
    assert ok["sender"] == "alice@sender.example"
    assert sorted(r["address"] for r in ok["rcpts"]) == sorted(RCPTS[:2])
    assert ok["helo"] == "subscriber.e2e.test"
    assert ok["client_addr"] == "127.0.0.1"
    assert abs(ok["size"] - len(ok_data)) <= 64, ok["size"]
    assert tf["outcome"] == "tempfailed"
    assert tf["sender"] == "bob@sender.example"
    assert [r["address"] for r in tf["rcpts"]] == RCPTS[2:]
    # The stored record matches the live event (the store may lag the
    # event by a moment: it is written by another thread).
    stored = wait_until(lambda: m.track_by_message_id(ok_mid), 10,
                        "tracking record in the store")
    assert len(stored) == 1 and stored[0]["queue_id"] == ok["queue_id"]
    assert stored[0]["outcome"] == "relayed"


def test_xforward_only_from_allowed_hosts(sink, moatd):
    """XFORWARD is offered to and accepted from xforward_hosts only; the
    forwarded client address and helo are what tracking records."""
    s = sink()
    m = moatd(next_hop=s, xforward_hosts=["127.0.0.1/32"])
    mid = new_message_id("xf")
    data = load_fixture("plain.eml", message_id=mid)
    with SMTPClient(m.port) as c:
        r = c.ehlo("postfix.e2e.test")
        assert any("XFORWARD" in line for line in r.lines), r
        r = c.cmd("XFORWARD NAME=mx.outside.example ADDR=192.0.2.7 "
                  "PROTO=ESMTP HELO=outside.example")
        assert r.code == 250, r
        assert c.cmd("MAIL FROM:<alice@sender.example>").code == 250
        assert c.cmd("RCPT TO:<bob@example.com>").code == 250
        assert c.data(data).code == 250
    rec = wait_until(lambda: m.track_by_message_id(mid), 10,
                     "tracking record")[0]
    assert rec["client_addr"] == "192.0.2.7"
    assert rec["helo"] == "outside.example"
    # From 127.0.0.2, outside xforward_hosts: neither offered nor accepted.
    with SMTPClient(m.port, source="127.0.0.2") as c:
        r = c.ehlo("other.e2e.test")
        assert not any("XFORWARD" in line for line in r.lines), r
        r = c.cmd("XFORWARD ADDR=192.0.2.8 HELO=forged.example")
        assert r.code // 100 == 5, r
        mid2 = new_message_id("xf2")
        assert c.cmd("MAIL FROM:<alice@sender.example>").code == 250
        assert c.cmd("RCPT TO:<bob@example.com>").code == 250
        r = c.data(load_fixture("plain.eml", message_id=mid2))
        assert r.code == 250, r
    rec = wait_until(lambda: m.track_by_message_id(mid2), 10,
                     "tracking record")[0]
    assert rec["client_addr"] == "127.0.0.2"
    assert rec["helo"] == "other.e2e.test"


def test_sigkill_mid_inbound_data_then_retry(sink, moatd):
    """moatd dies while the client is half-way through DATA: the client
    sees the connection drop (no 250), nothing reaches the next hop, and the
    client's retry after the restart is delivered once."""
    s = sink()
    m = moatd(next_hop=s)
    mid = new_message_id("killdata")
    data = load_fixture("long.eml", message_id=mid)
    c = SMTPClient(m.port)
    c.ehlo()
    assert c.cmd("MAIL FROM:<alice@sender.example>").code == 250
    assert c.cmd("RCPT TO:<bob@example.com>").code == 250
    assert c.cmd("DATA").code == 354
    c.send(data[:len(data) // 2])
    m.ctl("status")             # moatd is alive and reading our DATA
    m.kill(signal.SIGKILL)
    with pytest.raises((ConnectionError, OSError)):
        c.send(data[len(data) // 2:] + b".\r\n")
        c.reply()
    c.close()
    assert s.count() == 0
    m.start()
    rr, final = transaction(m.port, "alice@sender.example",
                            ["bob@example.com"], data)
    assert final.code == 250, final
    msgs = s.wait_for(1)
    assert [x["message_id"] for x in msgs] == [mid]
    assert msgs[0]["data"] == data


def test_sigterm_finishes_message_in_flight(sink, moatd):
    """SIGTERM while a message waits for the next hop: moatd stops taking
    connections, still answers that message with the next hop's 250, then
    exits cleanly."""
    s = sink(delay_data=2)
    m = moatd(next_hop=s)
    mid = new_message_id("drain")
    data = load_fixture("plain.eml", message_id=mid)
    result = {}

    def client():
        try:
            result["r"] = transaction(m.port, "alice@sender.example",
                                      ["bob@example.com"], data)[1]
        except Exception as e:          # checked below
            result["r"] = e
    t = threading.Thread(target=client)
    t.start()
    wait_until(lambda: "delay-data" in s.log(), 10,
               "the message to be at the next hop")
    m.proc.send_signal(signal.SIGTERM)

    def refused():
        try:
            with SMTPClient(m.port, greeting=False, timeout=5) as c:
                return c.reply().code == 421
        except (ConnectionError, OSError):
            return True
    wait_until(refused, 5, "moatd to stop accepting new sessions")
    rc = m.wait(30)
    t.join(30)
    r = result.get("r")
    assert hasattr(r, "code") and r.code == 250, r
    assert rc in (0, 23), "moatd exit status %s after SIGTERM" % rc
    assert [x["message_id"] for x in s.wait_for(1)] == [mid]
