"""The rule system end to end: time-frame rules, attachment removal that
delivers the rest (and keeps the original in the attachment quarantine),
disclaimers in text and HTML, Proxmox's answer for blocked recipients,
rule changes over the control protocol written back to the files (a toggle
survives a restart), and `moatd -t` pointing at file:line. moatd runs with
every filter off and our own rule files; the next hop is the sink.
"""

import base64
import re
import subprocess
import time

import pytest

from conftest import (FILTER_NAMES, MOATD, ROOT, CtlError, SMTPClient,
                      header_value, new_message_id, send_mail, wait_until)

ACTIONS = """\
actions = {
\taccept = { type = "accept"; };
\tblock = { type = "block"; };
\tday = { type = "add_header"; field = "X-Frame"; value = "day"; };
\tnight = { type = "add_header"; field = "X-Night"; value = "night"; };
\tstrip = { type = "remove_attachments"; quarantine = true;
\t\ttext = "Removed ${filenames} (rule ${rule})."; };
\tdisc = { type = "disclaimer";
\t\ttext = "-- \\nSent through the e2e gateway.";
\t\thtml = "<p id=\\"disc\\">Sent through the e2e gateway.</p>"; };
\tnote = { type = "notify"; to = "admin";
\t\tsubject = "[e2e] ${rule} blocked mail from ${sender}"; };
};
"""


def conf_extra():
    filters = " ".join("%s = { enabled = false; };" % f for f in FILTER_NAMES)
    return ('filters = { %s };\n' % filters +
            'policy = { admin = "admin@example.com"; };\n')


def start(moatd, sink, policy, start=True):
    m = moatd(sink, start=False, conf_extra=conf_extra())
    (m.dir / "rules.d" / "policy").mkdir()
    (m.dir / "rules.d" / "policy" / "50-e2e.conf").write_text(policy)
    if start:
        m.start()
    return m


def hhmm(minutes):
    minutes %= 24 * 60
    return "%02d:%02d" % (minutes // 60, minutes % 60)


def test_time_frame_rule(moatd, sink):
    """A frame around now matches, one hours away does not (frames over
    midnight work, so no day boundary breaks the test)."""
    now = time.localtime()
    mins = now.tm_hour * 60 + now.tm_min
    policy = ACTIONS + """
when = {
\tnow = { objects = ( { days = "*"; start = "%s"; end = "%s"; } ); };
\tlater = { objects = ( { days = "*"; start = "%s"; end = "%s"; } ); };
};
rules = {
\tnow_rule = { priority = 50; when = [ "now" ]; action = [ "day" ]; };
\tlater_rule = { priority = 40; when = [ "later" ]; action = [ "night" ]; };
};
""" % (hhmm(mins - 90), hhmm(mins + 90), hhmm(mins + 240), hhmm(mins + 300))
    s = sink()
    m = start(moatd, s, policy)
    mid = new_message_id("frame")
    send_mail(m.port, "a@b.test", ["u@example.com"],
              ("Subject: t\r\nMessage-ID: <%s>\r\n\r\nhi\r\n" % mid).encode())
    data = s.wait_message_id(mid)[0]["data"]
    assert header_value(data, "X-Frame") == "day"
    assert header_value(data, "X-Night") is None


EXE = base64.b64encode(b"MZ\x90\x00" + b"\x00" * 60 + b"PE\x00\x00" +
                       b"\x00" * 64).decode()

ATTACH_MSG = """\
From: a@b.test\r
To: u@example.com\r
Subject: Your invoice\r
Message-ID: <{mid}>\r
MIME-Version: 1.0\r
Content-Type: multipart/mixed; boundary="XX"\r
\r
--XX\r
Content-Type: multipart/alternative; boundary="YY"\r
\r
--YY\r
Content-Type: text/plain; charset=utf-8\r
\r
Please find the invoice attached.\r
--YY\r
Content-Type: text/html; charset=utf-8\r
\r
<html><body><p>Please find the invoice attached.</p></body></html>\r
--YY--\r
--XX\r
Content-Type: application/pdf; name="invoice.pdf.exe"\r
Content-Disposition: attachment; filename="invoice.pdf.exe"\r
Content-Transfer-Encoding: base64\r
\r
{exe}\r
--XX\r
Content-Type: text/csv; name="lines.csv"\r
Content-Disposition: attachment; filename="lines.csv"\r
\r
item,price\r
apples,3\r
--XX--\r
"""


def test_remove_attachments_delivers_rest(moatd, sink):
    policy = ACTIONS + """
what = { exe = { objects = ( { filename = "\\\\.exe$"; } ); }; };
rules = { r = { what = [ "exe" ]; action = [ "strip" ]; }; };
"""
    s = sink()
    m = start(moatd, s, policy)
    mid = new_message_id("strip")
    raw = ATTACH_MSG.format(mid=mid, exe=EXE).encode()
    send_mail(m.port, "a@b.test", ["u@example.com"], raw)
    data = s.wait_message_id(mid)[0]["data"].decode()
    assert "invoice.pdf.exe" in data          # named in the notice only
    assert 'filename="invoice.pdf.exe"' not in data
    assert EXE[:40] not in data
    assert "Removed invoice.pdf.exe (rule r)." in data
    assert "Please find the invoice attached." in data
    assert 'filename="lines.csv"' in data and "apples,3" in data
    assert "\n" not in data.replace("\r\n", "")   # CRLF only
    # The original is in the attachment quarantine.
    items = wait_until(lambda: m.ctl("quarantine.list",
                                     type="attachment")["items"], 10,
                       "original in the attachment quarantine")
    f = m.dir / "quarantine" / "attachment" / (items[0]["id"] + ".eml")
    assert EXE[:40] in f.read_text()


def test_disclaimer_added(moatd, sink):
    policy = ACTIONS + """
rules = { r = { direction = "in"; action = [ "disc" ]; }; };
"""
    s = sink()
    m = start(moatd, s, policy)
    mid = new_message_id("disc")
    raw = ATTACH_MSG.format(mid=mid, exe=EXE).encode()
    send_mail(m.port, "a@b.test", ["u@example.com"], raw)
    data = s.wait_message_id(mid)[0]["data"].decode()
    assert re.search(r"Please find the invoice attached\.\r\n-- \r\n"
                     r"Sent through the e2e gateway\.", data)
    assert re.search(r'<p id="disc">Sent through the e2e gateway\.</p>\s*'
                     r"</body>", data)
    # Attachments are not touched.
    assert "item,price\r\napples,3\r\n--XX" in data


def test_blocked_recipients(moatd, sink):
    policy = ACTIONS + """
who = { boss = { objects = ( { email = "boss@example.com"; } ); }; };
rules = { r = { to = [ "boss" ]; action = [ "note", "block" ]; }; };
"""
    s = sink()
    m = start(moatd, s, policy)
    # Only blocked recipients: 554.
    mid1 = new_message_id("block")
    with SMTPClient(m.port) as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@b.test>").code == 250
        assert c.cmd("RCPT TO:<boss@example.com>").code == 250
        r = c.data(("Subject: x\r\nMessage-ID: <%s>\r\n\r\nhi\r\n" %
                    mid1).encode())
        assert r.code == 554 and "5.7.1" in r.text, r
    # Some blocked: 250, the others get it, the blocked one does not.
    mid2 = new_message_id("partial")
    with SMTPClient(m.port) as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@b.test>").code == 250
        assert c.cmd("RCPT TO:<boss@example.com>").code == 250
        assert c.cmd("RCPT TO:<u@example.com>").code == 250
        r = c.data(("Subject: y\r\nMessage-ID: <%s>\r\n\r\nhi\r\n" %
                    mid2).encode())
        assert r.code == 250, r
    got = s.wait_message_id(mid2)
    assert got[0]["rcpt_tos"] == ["u@example.com"]
    assert not s.by_message_id(mid1)
    # The admin is notified of both (null sender), tracking says blocked.
    notes = wait_until(lambda: [x for x in s.messages() if
                                x["rcpt_tos"] == ["admin@example.com"]], 10,
                       "notifications")
    assert "[e2e] r blocked mail from a@b.test" in \
        header_value(notes[0]["data"], "Subject")
    assert notes[0]["mail_from"] == ""
    rec = wait_until(lambda: m.track_by_message_id(mid2), 10, "tracking")[0]
    outcomes = {r["address"]: r["outcome"] for r in rec["rcpts"]}
    assert outcomes == {"boss@example.com": "blocked",
                        "u@example.com": "relayed"}


def test_rule_changes_written_back(moatd, sink):
    policy = ("# our notes survive toggles\n" + ACTIONS + """
who = { bad = { objects = ( { email = "x@spam.test"; } ); }; };
rules = {
\tblocker = {
\t\tpriority = 70;  # keep this comment
\t\tactive = true;
\t\tfrom = [ "bad" ];
\t\taction = [ "block" ];
\t};
};
""")
    s = sink()
    m = start(moatd, s, policy)
    rules = m.ctl("rules.list")["rules"]
    assert [r["name"] for r in rules] == ["blocker"]
    assert rules[0]["from"] == ["bad"] and rules[0]["active"] is True
    full = m.ctl("rules.get", name="blocker")
    assert full["from"][0]["objects"] == [{"email": "x@spam.test"}]
    with pytest.raises(CtlError):
        m.ctl("rules.get", name="nope")
    # Blocked now.
    with SMTPClient(m.port) as c:
        c.ehlo()
        c.cmd("MAIL FROM:<x@spam.test>")
        c.cmd("RCPT TO:<u@example.com>")
        assert c.data(b"Subject: a\r\n\r\nb\r\n").code == 554
    # Off, in the file, across a restart.
    r = m.ctl("rules.toggle", name="blocker", active=False)
    assert r["active"] is False
    text = (m.dir / "rules.d" / "policy" / "50-e2e.conf").read_text()
    assert "active = false;" in text and "# keep this comment" in text
    m.ctl("rules.set_priority", name="blocker", priority=42)
    m.restart()
    r = m.ctl("rules.get", name="blocker")
    assert r["active"] is False and r["priority"] == 42
    mid = new_message_id("unblocked")
    send_mail(m.port, "x@spam.test", ["u@example.com"],
              ("Message-ID: <%s>\r\n\r\nhi\r\n" % mid).encode())
    s.wait_message_id(mid)
    # Objects: the group gets another sender; the rule is on again.
    m.ctl("rules.toggle", name="blocker")
    got = m.ctl("objects.set", category="who", name="bad",
                objects='[{"email":"x@spam.test"},{"domain":"pest.test"}]')
    assert len(got["objects"]) == 2
    assert m.ctl("objects.get", category="who", name="bad")["objects"][1] \
        == {"domain": "pest.test"}
    with SMTPClient(m.port) as c:
        c.ehlo()
        c.cmd("MAIL FROM:<y@pest.test>")
        c.cmd("RCPT TO:<u@example.com>")
        assert c.data(b"Subject: a\r\n\r\nb\r\n").code == 554
    # A bad object is refused with the reason; nothing changes.
    with pytest.raises(CtlError) as err:
        m.ctl("objects.set", category="who", name="bad",
              objects='[{"regex":"("}]')
    assert "regular expression" in str(err.value)
    assert len(m.ctl("objects.get", category="who",
                     name="bad")["objects"]) == 2
    groups = m.ctl("objects.list", category="action")
    assert "strip" in [a["name"] for a in groups["actions"]]
    # rules.reload picks up a file edited by hand.
    f = m.dir / "rules.d" / "policy" / "60-more.conf"
    f.write_text('rules = { extra = { priority = 5; action = "accept"; }; };\n')
    assert m.ctl("rules.reload")["rules"] == 2
    f.write_text('rules = { extra = { priority = 500; action = "accept"; }; };\n')
    with pytest.raises(CtlError) as err:
        m.ctl("rules.reload")
    assert "60-more.conf:1:" in str(err.value)
    assert len(m.ctl("rules.list")["rules"]) == 2      # the old policy runs


def test_moatd_check_reports_file_line(moatd, sink):
    s = sink()
    m = start(moatd, s, ACTIONS + """
rules = {
\tr = {
\t\taction = [ "block", "nope" ];
\t};
};
""", start=False)
    p = subprocess.run([MOATD, "-t", "-c", str(m.conf)], capture_output=True,
                       timeout=60, env=m.env())
    err = p.stderr.decode()
    assert p.returncode != 0
    assert "50-e2e.conf:17: rule 'r': no action 'nope'" in err, err


def test_moatd_check_accepts_shipped_rules(moatd, sink):
    s = sink()
    m = start(moatd, s, "", start=False)
    (m.dir / "rules.d" / "policy" / "50-e2e.conf").unlink()
    for f in (ROOT / "rules.d" / "policy").glob("*.conf"):
        (m.dir / "rules.d" / "policy" / f.name).write_text(f.read_text())
    p = subprocess.run([MOATD, "-t", "-c", str(m.conf)], capture_output=True,
                       timeout=60, env=m.env())
    assert p.returncode == 0, p.stderr.decode()
    m.start()
    names = [r["name"] for r in m.ctl("rules.list")["rules"]]
    assert names[:2] == ["blocklist", "block_viruses"] or \
        names[0] == "blocklist"
    assert "quarantine_spam" in names
