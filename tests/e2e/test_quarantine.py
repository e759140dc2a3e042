"""The quarantine end to end: spam held at score >= 5 instead of delivered,
release exactly once (two admins at once), delete, bulk operations,
retention purge, a quarantined message surviving SIGKILL right after its
250, the sanitised preview, sender lists from the quarantine, and the spam
report mail. moatd runs with the SpamAssassin-syntax rules filter only and
a rule file of our own; the next hop is the sink.
"""

import signal
import sqlite3
import threading
import time

import pytest

from conftest import (FILTER_NAMES, CtlError, SMTPClient, header_value,
                      new_message_id, norm_mid, send_mail, wait_until)

SPAM_CF = """\
header   E2E_SPAM   X-E2E-Spam =~ /^yes/
score    E2E_SPAM   6.0
header   E2E_HAM    X-E2E-Spam =~ /^little/
score    E2E_HAM    2.0
"""

POLICY = """\
what = {
\tspam5 = { objects = ( { spam_score = 5.0; } ); };
};
actions = {
\tquarantine_spam = { type = "quarantine"; };
};
rules = {
\tquarantine_spam = {
\t\tpriority = 80;
\t\tdirection = "in";
\t\twhat = [ "spam5" ];
\t\taction = [ "quarantine_spam" ];
\t};
};
"""


def conf_extra(quarantine=""):
    filters = " ".join("%s = { enabled = false; };" % f
                       for f in FILTER_NAMES if f != "rules")
    return ('filters = { rules = { enabled = true; dirs = [ "rules.d/spam" ];'
            ' }; %s };\n' % filters +
            'policy = { admin = "admin@example.com"; };\n' +
            'quarantine = { report_from = "reports@moat.test"; %s };\n'
            % quarantine)


def start(moatd, sink, policy=POLICY, quarantine="", **smtp):
    m = moatd(sink, start=False, conf_extra=conf_extra(quarantine), **smtp)
    (m.dir / "rules.d" / "spam").mkdir()
    (m.dir / "rules.d" / "spam" / "e2e.cf").write_text(SPAM_CF)
    (m.dir / "rules.d" / "policy").mkdir()
    (m.dir / "rules.d" / "policy" / "50-e2e.conf").write_text(policy)
    return m.start()


def message(mid, spam="yes", subject="Cheap pills", body="Buy now.\r\n",
            sender="spammer@evil.test", to="u@example.com", extra=b""):
    return (("From: Spammer <%s>\r\nTo: %s\r\nSubject: %s\r\n"
             "Message-ID: <%s>\r\nX-E2E-Spam: %s\r\n" %
             (sender, to, subject, mid, spam)).encode() + extra +
            b"\r\n" + body.encode())


def held(m, **args):
    return m.ctl("quarantine.list", **args)["items"]


def wait_held(m, n, **args):
    return wait_until(lambda: len(held(m, **args)) >= n and
                      held(m, **args), 15, "%d quarantined" % n)


def quarantine_one(m, sink, rcpts=("u@example.com",), **kw):
    mid = new_message_id("quar")
    send_mail(m.port, kw.get("sender", "spammer@evil.test"), list(rcpts),
              message(mid, **kw))
    items = wait_held(m, 1, text=mid.split("@")[0])
    assert len(items) == 1
    return mid, items[0]


def test_spam_quarantined_at_score_5(moatd, sink):
    s = sink()
    m = start(moatd, s)
    ham = new_message_id("ham")
    spam = new_message_id("spam")
    # Score 2: delivered. Score 6: held, and the client got its 250.
    send_mail(m.port, "a@b.test", ["u@example.com"], message(ham,
                                                            spam="little"))
    with SMTPClient(m.port) as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<spammer@evil.test>").code == 250
        assert c.cmd("RCPT TO:<u@example.com>").code == 250
        assert c.cmd("RCPT TO:<v@example.com>").code == 250
        r = c.data(message(spam))
        assert r.code == 250, r
        assert "quarantined" in r.text
    s.wait_message_id(ham)
    items = wait_held(m, 1)
    assert len(items) == 1
    e = items[0]
    assert e["type"] == "spam"
    assert e["sender"] == "spammer@evil.test"
    assert e["subject"] == "Cheap pills"
    assert e["score"] >= 5
    assert e["rule"] == "quarantine_spam"
    assert sorted(r["rcpt"] for r in e["rcpts"]) == ["u@example.com",
                                                     "v@example.com"]
    assert not s.by_message_id(spam)
    # The file is in the folder, the story in tracking.
    assert (m.dir / "quarantine" / "spam" / (e["id"] + ".eml")).exists()
    rec = wait_until(lambda: m.track_by_message_id(spam), 10,
                     "tracking record")[0]
    assert rec["outcome"] == "quarantined"
    assert all(r["outcome"] == "quarantined" for r in rec["rcpts"])
    # Searches.
    assert held(m, type="virus") == []
    assert len(held(m, rcpt="v@example")) == 1
    assert held(m, rcpt="nobody@") == []
    assert len(held(m, sender="spammer")) == 1


def test_release_delivers_exactly_once(moatd, sink):
    s = sink()
    m = start(moatd, s)
    mid, e = quarantine_one(m, s, rcpts=("u@example.com", "v@example.com"))
    # Two admins click "release" at the same moment.
    results = []

    def release():
        try:
            results.append(m.ctl("quarantine.release", id=e["id"]))
        except CtlError as err:
            results.append(err)
    threads = [threading.Thread(target=release) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    oks = [r for r in results if isinstance(r, dict) and r["done"] == 1]
    assert len(oks) == 1, results
    assert sorted(oks[0]["results"][0]["released"]) == ["u@example.com",
                                                        "v@example.com"]
    msgs = s.wait_message_id(mid)
    time.sleep(0.5)     # a duplicate would come right behind: none may
    msgs = s.by_message_id(mid)
    assert len(msgs) == 1
    assert sorted(msgs[0]["rcpt_tos"]) == ["u@example.com", "v@example.com"]
    assert msgs[0]["mail_from"] == "spammer@evil.test"
    assert header_value(msgs[0]["data"], "Subject") == "Cheap pills"
    # Gone from the quarantine; a third release finds nothing.
    wait_until(lambda: held(m) == [], 10, "empty quarantine")
    again = m.ctl("quarantine.release", id=e["id"])
    assert again["done"] == 0 and again["failed"] == 1
    assert not (m.dir / "quarantine" / "spam" / (e["id"] + ".eml")).exists()
    recs = wait_until(lambda: [r for r in m.tracking(text=e["queue_id"])
                               if r["outcome"] == "released"], 10,
                      "release in tracking")
    assert len(recs) == 1


def test_release_refused_by_next_hop_stays_held(moatd, sink):
    s = sink()
    m = start(moatd, s)
    mid, e = quarantine_one(m, s)
    s.stop()
    res = m.ctl("quarantine.release", id=e["id"])
    assert res["done"] == 0
    # Held again, and released once the next hop is back.
    items = held(m)
    assert len(items) == 1 and items[0]["rcpts"][0]["state"] == "held"
    s.start()
    assert m.ctl("quarantine.release", id=e["id"])["done"] == 1
    s.wait_message_id(mid)
    assert len(s.by_message_id(mid)) == 1


def test_delete_and_bulk(moatd, sink):
    s = sink()
    m = start(moatd, s)
    ids = []
    for i in range(3):
        _, e = quarantine_one(m, s, subject="bulk %d" % i)
        ids.append(e["id"])
    one = m.ctl("quarantine.delete", id=ids[0])
    assert one["done"] == 1
    assert one["results"][0]["deleted"] == ["u@example.com"]
    assert not (m.dir / "quarantine" / "spam" / (ids[0] + ".eml")).exists()
    # The other two at once, plus an unknown id.
    bulk = m.ctl("quarantine.delete", ids="%s,%s,0000-00000000" %
                 (ids[1], ids[2]))
    assert bulk["done"] == 2 and bulk["failed"] == 1
    assert held(m) == []
    assert len(s.messages()) == 0
    recs = wait_until(lambda: [r for r in m.tracking(outcome="deleted")],
                      10, "deletions in tracking")
    assert len(recs) == 3
    with pytest.raises(CtlError):
        m.ctl("quarantine.delete", ids="not/an/id")


def test_retention_purge(moatd, sink):
    s = sink()
    m = start(moatd, s, quarantine="spam_days = 2; virus_days = 30;")
    _, old = quarantine_one(m, s, subject="old")
    _, new = quarantine_one(m, s, subject="new")
    # Age the first entry by three days in the index.
    db = sqlite3.connect(str(m.dir / "moat.db"), timeout=10)
    with db:
        db.execute("UPDATE quarantine SET time_ms = time_ms - ? WHERE id = ?",
                   (3 * 86400 * 1000, old["id"]))
    db.close()
    res = m.ctl("quarantine.purge")
    assert res["purged"] == {"spam": 1, "virus": 0, "attachment": 0}
    assert [e["id"] for e in held(m)] == [new["id"]]
    assert not (m.dir / "quarantine" / "spam" / (old["id"] + ".eml")).exists()
    assert (m.dir / "quarantine" / "spam" / (new["id"] + ".eml")).exists()
    assert m.ctl("quarantine.purge")["purged"]["spam"] == 0


def test_quarantine_survives_sigkill(moatd, sink):
    s = sink()
    m = start(moatd, s)
    mid = new_message_id("kill")
    with SMTPClient(m.port) as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<spammer@evil.test>").code == 250
        assert c.cmd("RCPT TO:<u@example.com>").code == 250
        r = c.data(message(mid, subject="survivor"))
        assert r.code == 250 and "quarantined" in r.text, r
        # Killed the instant the 250 arrived.
        m.kill(signal.SIGKILL)
    m.start()
    items = held(m)
    assert len(items) == 1
    assert items[0]["subject"] == "survivor"
    assert (m.dir / "quarantine" / "spam" / (items[0]["id"] + ".eml")).exists()
    assert m.ctl("quarantine.release", id=items[0]["id"])["done"] == 1
    s.wait_message_id(mid)


def test_get_shows_sanitised_preview(moatd, sink):
    s = sink()
    m = start(moatd, s)
    _, e = quarantine_one(m, s, subject="=?utf-8?q?Caf=C3=A9_deals?=",
                          extra=b"X-Evil: a\x1b[31mred\r\n",
                          body="Dear friend,\r\nclick \x1b[2Jhere.\r\n")
    got = m.ctl("quarantine.get", id=e["id"])
    names = {h["name"]: h["value"] for h in got["headers"]}
    assert names["Subject"] == "Café deals"
    assert "\x1b" not in names["X-Evil"]
    assert "Dear friend,\nclick" in got["text"]
    assert "\x1b" not in got["text"]
    assert got["findings"] and any(f["symbol"] == "E2E_SPAM"
                                   for f in got["findings"])
    assert got["size"] > 0 and got["score"] >= 5
    with pytest.raises(CtlError):
        m.ctl("quarantine.get", id="0000-00000000")


def held_mid(m, mid):
    return any(norm_mid(x["message_id"]) == mid for x in held(m))


def test_welcomelist_and_blocklist_from_quarantine(moatd, sink):
    s = sink()
    m = start(moatd, s)
    mid, e = quarantine_one(m, s, sender="friend@partner.test")
    # Welcomelist: delivered now, and the user's list has the sender.
    res = m.ctl("quarantine.welcomelist", id=e["id"])
    assert res["done"] == 1
    s.wait_message_id(mid)
    entries = m.ctl("lists.list", owner="u@example.com")["items"]
    assert [(x["list"], x["pattern"]) for x in entries] == [
        ("welcome", "friend@partner.test")]
    # Its next spam to that user skips the spam verdict ...
    mid2 = new_message_id("welcome")
    send_mail(m.port, "friend@partner.test", ["u@example.com"],
              message(mid2, sender="friend@partner.test"))
    s.wait_message_id(mid2)
    # ... but not to another user.
    mid3 = new_message_id("other")
    send_mail(m.port, "friend@partner.test", ["w@example.com"],
              message(mid3, sender="friend@partner.test", to="w@example.com"))
    wait_until(lambda: held_mid(m, mid3), 15, "spam to another user held")
    assert not s.by_message_id(mid3)

    # Blocklist, global: the message is deleted, the sender listed.
    _, e2 = quarantine_one(m, s, sender="bad@evil.test", subject="block me")
    res = m.ctl("quarantine.blocklist", id=e2["id"], scope="global")
    assert res["done"] == 1
    assert not any(x["id"] == e2["id"] for x in held(m))
    entries = m.ctl("lists.list", owner="*", list="block")["items"]
    assert [x["pattern"] for x in entries] == ["bad@evil.test"]
    m.ctl("lists.del", list="block", pattern="bad@evil.test")
    assert m.ctl("lists.list", owner="*")["items"] == []
    with pytest.raises(CtlError):
        m.ctl("lists.del", list="block", pattern="bad@evil.test")

    # A user blocklist adds to the score: a clean mail to that user is
    # held as spam, the same mail to someone else is delivered.
    m.ctl("lists.add", list="block", pattern="*@pest.test",
          owner="u@example.com")
    mid4 = new_message_id("pest")
    send_mail(m.port, "x@pest.test", ["u@example.com", "w@example.com"],
              message(mid4, sender="x@pest.test", spam="no"))
    wait_until(lambda: held_mid(m, mid4), 15, "user blocklist holds it")
    got = s.wait_message_id(mid4)
    assert got[0]["rcpt_tos"] == ["w@example.com"]
    item = [x for x in held(m) if norm_mid(x["message_id"]) == mid4][0]
    assert [r["rcpt"] for r in item["rcpts"]] == ["u@example.com"]


def test_spam_report_mail(moatd, sink):
    s = sink()
    m = start(moatd, s)
    quarantine_one(m, s, subject="First <b>offer</b>")
    quarantine_one(m, s, subject="Second offer")
    quarantine_one(m, s, rcpts=("other@example.com",), subject="Not yours")
    res = m.ctl("quarantine.report", rcpt="u@example.com")
    assert res == {"sent": 1, "failed": 0}
    msgs = s.wait_for(1)
    assert len(msgs) == 1
    data = msgs[0]["data"]
    assert header_value(data, "To") == "u@example.com"
    assert header_value(data, "From") == "reports@moat.test"
    assert "Spam report: 2 message(s)" in header_value(data, "Subject")
    text = data.decode("utf-8", "replace")
    assert "multipart/alternative" in text
    assert "Second offer" in text
    assert "&lt;b&gt;offer&lt;/b&gt;" in text       # escaped in the HTML
    assert "Not yours" not in text
    # Everyone: two digests more (u@ again and other@).
    res = m.ctl("quarantine.report")
    assert res == {"sent": 2, "failed": 0}
    s.wait_for(3)


def test_roles(moatd, sink):
    """Reads need auditor, changes qmanager or admin: checked by the
    dispatcher from the table (peer uid here is admin, so only shapes)."""
    s = sink()
    m = start(moatd, s)
    with pytest.raises(CtlError) as err:
        m.ctl("quarantine.release")
    assert "id" in str(err.value)
    with pytest.raises(CtlError):
        m.ctl("quarantine.list", type="ham")
    with pytest.raises(CtlError):
        m.ctl("lists.add", list="grey", pattern="a@b.test")
