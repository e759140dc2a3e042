"""The Bayes filter end to end: `moatctl learn` trains a running moatd with
messages the test writes, then mail through moatd carries BAYES_* in its
X-Moat-Spam-Report header and in tracking; relearning, forgetting, errors,
base64 transport for non-UTF-8 messages, persistence across a restart.
"""

import json
import random
import subprocess

import pytest

from conftest import (FILTER_NAMES, MOATCTL, MOATD, header_value,
                      new_message_id, send_mail, wait_until)

SPAM_WORDS = ("viagra casino winner lottery cheap pills offer money free "
              "click unsubscribe mortgage rates guaranteed million dollars "
              "urgent transfer bank account bonus prize limited deal "
              "discount pharmacy").split()
HAM_WORDS = ("meeting agenda project review report schedule budget team "
             "lunch tomorrow deadline draft thanks regards attached minutes "
             "quarterly roadmap feedback release kernel patch build "
             "compiler").split()
NEUTRAL = "hello please today about your time people work week".split()



def other_filters_off(*keep):
    return " ".join("%s = { enabled = false; };" % f
                    for f in FILTER_NAMES if f != "bayes" and f not in keep)


def bayes_conf(bayes="min_learned = 20; autolearn = false;"):
    """A filters section with Bayes alone (few messages: each class needs
    only min_learned before Bayes speaks)."""
    return "filters = { bayes = { %s }; %s };\n" % (bayes,
                                                     other_filters_off())


BAYES_CONF = bayes_conf()


def make_message(kind, n, rng, mid=None, charset_bytes=None):
    """One generated message as CRLF bytes."""
    words = SPAM_WORDS if kind == "spam" else HAM_WORDS
    body = " ".join(rng.choice(words) if rng.random() < 0.8
                    else rng.choice(NEUTRAL) for _ in range(60))
    if kind == "spam":
        frm = "Deals %d <offers@deals%d.example>" % (n, n % 7)
        subject = "%s %s now" % (rng.choice(words).upper(), rng.choice(words))
        link = "http://www.deals%d.example/buy/%s" % (n % 5, rng.choice(words))
    else:
        frm = "Colleague %d <person%d@corp.example>" % (n, n % 9)
        subject = "Re: %s %s" % (rng.choice(words), rng.choice(words))
        link = "https://wiki.corp.example/%s" % rng.choice(words)
    mid = mid or new_message_id("bayes-%s-%d" % (kind, n))
    head = ("From: %s\r\nTo: user@example.com\r\nSubject: %s\r\n"
            "Message-ID: <%s>\r\nDate: Mon, 2 Jun 2025 10:%02d:00 +0000\r\n"
            "MIME-Version: 1.0\r\n" % (frm, subject, mid, n % 60))
    if charset_bytes is not None:
        head += "Content-Type: text/plain; charset=iso-8859-1\r\n"
        text = body.encode() + b" " + charset_bytes
    else:
        head += "Content-Type: text/plain; charset=utf-8\r\n"
        text = body.encode()
    return (head.encode() + b"\r\n" + text + b"\r\n" + link.encode() +
            b"\r\n")


def write_corpus(folder, kind, count, seed):
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / ("%s-%03d.eml" % (kind, i))).write_bytes(
            make_message(kind, i, rng))
    return folder


def learn(m, *args):
    """moatctl learn ARGS...; (exit status, stdout, stderr)."""
    p = subprocess.run([MOATCTL, "-s", str(m.socket), "learn"] + list(args),
                       capture_output=True, timeout=120, env=m.env(),
                       stdin=subprocess.DEVNULL)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def learn_json(m, *args):
    p = subprocess.run([MOATCTL, "--json", "-s", str(m.socket), "learn"] +
                       list(args), capture_output=True, timeout=120,
                       env=m.env(), stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr.decode()
    return json.loads(p.stdout)


def report(data):
    return header_value(data, "X-Moat-Spam-Report") or ""


def symbols(findings):
    return [f["symbol"] for f in findings or []]


@pytest.fixture
def trained(moatd, sink, instance_dir):
    """A moatd whose Bayes learned 30 spam and 30 ham through moatctl."""
    s = sink()
    m = moatd(s, conf_extra=BAYES_CONF)
    spam = write_corpus(instance_dir / "corpus" / "spam", "spam", 30, 1)
    ham = write_corpus(instance_dir / "corpus" / "ham", "ham", 30, 2)
    rc, out, err = learn(m, "spam", str(spam))
    assert rc == 0, err
    assert "30 messages" in out and "30 learned" in out, out
    rc, out, err = learn(m, "ham", str(ham))
    assert rc == 0, err
    assert "30 learned" in out, out
    return m, s, instance_dir / "corpus"


def test_learn_then_classify_mail(trained):
    m, s, corpus = trained
    st = m.ctl("bayes.stats")
    assert st["nspam"] == 30 and st["nham"] == 30, st
    assert st["ready"] is True and st["learned"] == 60
    assert st["tokens"] > 50

    rng = random.Random(99)
    spam_mid = new_message_id("bayes-new-spam")
    ham_mid = new_message_id("bayes-new-ham")
    send_mail(m.port, "offers@deals3.example", ["user@example.com"],
              make_message("spam", 500, rng, mid=spam_mid))
    send_mail(m.port, "person1@corp.example", ["user@example.com"],
              make_message("ham", 501, rng, mid=ham_mid))
    got_spam = s.wait_message_id(spam_mid)[0]
    got_ham = s.wait_message_id(ham_mid)[0]
    assert "BAYES_99" in report(got_spam["data"]), got_spam["data"][:800]
    assert "BAYES_00" in report(got_ham["data"]), got_ham["data"][:800]

    # The findings reach tracking too.
    recs = wait_until(lambda: m.track_by_message_id(spam_mid),
                      what="tracking record")
    assert "BAYES_99" in symbols(recs[0].get("findings"))


def test_relearn_forget_and_restart(trained):
    m, s, corpus = trained
    # Learning the same messages again changes nothing.
    res = learn_json(m, "spam", str(corpus / "spam"))
    assert res.get("already_learned") == 30 and res["failed"] == 0, res
    assert m.ctl("bayes.stats")["nspam"] == 30

    # A spam relearned as ham moves over.
    one = corpus / "spam" / "spam-000.eml"
    res = learn_json(m, "ham", str(one))
    assert res.get("relearned") == 1, res
    st = m.ctl("bayes.stats")
    assert (st["nspam"], st["nham"]) == (29, 31), st

    # Forgetting it removes it; forgetting twice is harmless.
    res = learn_json(m, "forget", str(one))
    assert res.get("forgotten") == 1, res
    res = learn_json(m, "forget", str(one))
    assert res.get("not_learned") == 1, res
    st = m.ctl("bayes.stats")
    assert (st["nspam"], st["nham"], st["learned"]) == (29, 30, 59), st

    # The store is a file: a restart keeps what was learned.
    m.restart()
    st = m.ctl("bayes.stats")
    assert (st["nspam"], st["nham"], st["learned"]) == (29, 30, 59), st
    rng = random.Random(7)
    mid = new_message_id("bayes-after-restart")
    send_mail(m.port, "offers@deals1.example", ["user@example.com"],
              make_message("spam", 600, rng, mid=mid))
    assert "BAYES_99" in report(s.wait_message_id(mid)[0]["data"])


def test_not_enough_learned_says_nothing(moatd, sink, instance_dir):
    s = sink()
    m = moatd(s, conf_extra=BAYES_CONF)
    spam = write_corpus(instance_dir / "spam", "spam", 10, 3)
    ham = write_corpus(instance_dir / "ham", "ham", 30, 4)
    assert learn(m, "spam", str(spam))[0] == 0
    assert learn(m, "ham", str(ham))[0] == 0
    st = m.ctl("bayes.stats")
    assert st["ready"] is False and st["nspam"] == 10
    mid = new_message_id("bayes-untrained")
    send_mail(m.port, "offers@deals1.example", ["user@example.com"],
              make_message("spam", 700, random.Random(5), mid=mid))
    assert "BAYES_" not in report(s.wait_message_id(mid)[0]["data"])


def test_learn_transport_and_errors(moatd, sink, instance_dir):
    m = moatd(sink(), conf_extra=BAYES_CONF)
    # Bytes that are not UTF-8 travel as base64 and are learned.
    latin = instance_dir / "latin1.eml"
    latin.write_bytes(make_message("ham", 1, random.Random(1),
                                   charset_bytes=b"caf\xe9 cr\xe8me"))
    res = learn_json(m, "ham", str(latin))
    assert res.get("learned") == 1, res

    # Not a message, a missing file, a bad class: each reported.
    junk = instance_dir / "junk.txt"
    junk.write_bytes(b"just some words without any header\n")
    rc, out, err = learn(m, "spam", str(junk))
    assert rc == 1 and "bad_args" in err and "header" in err, (out, err)
    rc, out, err = learn(m, "spam", str(instance_dir / "missing.eml"))
    assert rc == 1 and "missing.eml" in err
    rc, out, err = learn(m, "eggs", str(latin))
    assert rc == 2 and "usage" in err

    # The protocol checks its arguments.
    rc, out, err = m.ctl_raw("bayes.learn", **{"class": "eggs",
                                               "message": "Subject: x\n\ny"})
    assert rc == 1 and "bad_args" in err
    rc, out, err = m.ctl_raw("bayes.learn", **{"class": "spam"})
    assert rc == 1 and "bad_args" in err
    rc, out, err = m.ctl_raw("bayes.learn", **{
        "class": "spam", "message": "Subject: x\n\ny",
        "message_base64": "U3ViamVjdDogeAoKeQ=="})
    assert rc == 1 and "bad_args" in err
    rc, out, err = m.ctl_raw("bayes.learn", **{
        "class": "spam", "message_base64": "not*base64"})
    assert rc == 1 and "bad_args" in err
    res = m.ctl("bayes.learn", **{"class": "spam",
                                  "message_base64": "U3ViamVjdDogeAoKeQ=="})
    assert res["result"] == "learned" and res["class"] == "spam"
    st = m.ctl("bayes.stats")
    assert (st["nspam"], st["nham"]) == (1, 1), st


def test_large_message_over_the_admin_limit(moatd, sink, instance_dir):
    """A message far above the ordinary request limit (64 KiB) is learned:
    admin connections may send up to CTL_REQ_ADMIN_MAX."""
    m = moatd(sink(), conf_extra=BAYES_CONF)
    big = instance_dir / "big.eml"
    rng = random.Random(3)
    lines = [" ".join(rng.choice(SPAM_WORDS) for _ in range(12))
             for _ in range(20000)]
    big.write_bytes(b"From: a@b.example\r\nSubject: big\r\nMessage-ID: "
                    b"<big@b.example>\r\n\r\n" +
                    "\r\n".join(lines).encode() + b"\r\n")
    assert big.stat().st_size > 1024 * 1024
    res = learn_json(m, "spam", str(big))
    assert res.get("learned") == 1, res


def test_bayes_off_and_config_errors(moatd, sink, instance_dir):
    m = moatd(sink(), conf_extra=bayes_conf("enabled = false;"))
    rc, out, err = m.ctl_raw("bayes.stats")
    assert rc == 1 and "unavailable" in err and "not enabled" in err

    # moatd -t names the file and line of a bad key, and creates nothing.
    conf = instance_dir / "bad.conf"
    conf.write_text('storage = { path = "state/moat.db"; };\n'
                    'filters = {\n  bayes = {\n    min_learned = 20;\n'
                    '    colour = "red";\n  };\n  ' +
                    other_filters_off() + '\n};\n')
    p = subprocess.run([MOATD, "-t", "-c", str(conf)], capture_output=True,
                       timeout=30, env=m.env())
    err = p.stderr.decode()
    assert p.returncode != 0 and "bad.conf:5" in err and "colour" in err, err
    conf.write_text('storage = { path = "state/moat.db"; };\n' +
                    bayes_conf("autolearn_spam = 1.0; autolearn_ham = 3.0;"))
    p = subprocess.run([MOATD, "-t", "-c", str(conf)], capture_output=True,
                       timeout=30, env=m.env())
    assert p.returncode != 0 and b"autolearn_ham" in p.stderr, p.stderr
    assert not (instance_dir / "state" / "bayes.db").exists()


AUTOLEARN_CF = """\
header E2E_AUTOLEARN_SPAM X-E2E-Autolearn =~ /^yes/
score E2E_AUTOLEARN_SPAM 20.0
"""


def test_autolearn_confident_verdicts(moatd, sink, instance_dir):
    """A message the rules score at 20 is learned as spam, one that scores
    nothing as ham; a message learned before is left alone."""
    s = sink()
    conf = ('filters = { bayes = { min_learned = 20; autolearn = true; '
            'autolearn_spam = 12.0; autolearn_ham = 0.1; }; '
            'rules = { enabled = true; dirs = [ "rules.d/spam" ]; }; %s };\n'
            % other_filters_off("rules"))
    m = moatd(s, start=False, conf_extra=conf)
    (m.dir / "rules.d" / "spam").mkdir()
    (m.dir / "rules.d" / "spam" / "e2e.cf").write_text(AUTOLEARN_CF)
    m.start()
    rng = random.Random(11)
    spam = make_message("spam", 1, rng)
    spam = spam.replace(b"\r\n\r\n", b"\r\nX-E2E-Autolearn: yes\r\n\r\n",
                        1)
    ham = make_message("ham", 2, rng)
    send_mail(m.port, "offers@deals1.example", ["user@example.com"], spam)
    send_mail(m.port, "person1@corp.example", ["user@example.com"], ham)
    def autolearned():
        st = m.ctl("bayes.stats")
        return st if st["autolearned"] >= 2 else None
    st = wait_until(autolearned, what="two messages autolearned")
    assert (st["nspam"], st["nham"], st["autolearned"]) == (1, 1, 2), st

    # The spam as a file: the same message (moatd's headers aside).
    f = instance_dir / "spam.eml"
    f.write_bytes(spam)
    res = learn_json(m, "spam", str(f))
    assert res.get("already_learned") == 1, res
