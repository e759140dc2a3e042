"""The SpamAssassin-syntax rules filter end to end: `moatd -t` reports the
rules loaded, skipped (with reasons) and broken (file:line, failing the
check); mail through moatd carries the rules' hits in X-Moat-Spam-Report;
Moat's own rule set in rules.d/spam loads clean and scores a spam fixture
over the threshold while a plain message stays below it.
"""

import os
import shutil
import subprocess

import pytest

from conftest import (FILTER_NAMES, MOATD, ROOT, header_value, load_fixture,
                      new_message_id, send_mail)

SYSTEM_RULES = "/usr/share/spamassassin"


def only_rules(extra=""):
    others = " ".join("%s = { enabled = false; };" % f
                      for f in FILTER_NAMES if f != "rules")
    return "filters = { rules = { dirs = [ \"spamrules\" ]; %s }; %s };\n" % (
        extra, others)


def check(m):
    """moatd -t on an instance's configuration: (exit code, output)."""
    p = subprocess.run([MOATD, "-t", "-c", str(m.conf)], cwd=str(m.dir),
                       env=m.env(), capture_output=True, text=True,
                       timeout=120)
    return p.returncode, p.stdout + p.stderr


def write_rules(m, name, text):
    d = m.dir / "spamrules"
    d.mkdir(exist_ok=True)
    (d / name).write_text(text)


def test_check_reports_loaded_and_skipped(sink, moatd):
    m = moatd(sink(), start=False, conf_extra=only_rules())
    write_rules(m, "10_test.cf",
                "body  T_ONE   /one/\n"
                "header T_TWO  Subject =~ /two/i\n"
                "meta  T_BOTH  T_ONE && T_TWO\n"
                "body  T_EVAL  eval:no_such_test()\n"
                "ifplugin Mail::SpamAssassin::Plugin::NoSuch\n"
                "body  T_OFF   /off/\n"
                "endif\n")
    rc, out = check(m)
    assert rc == 0, out
    assert "rules: 3 loaded" in out, out
    assert "1 skipped, 0 broken" in out, out
    assert "eval:no_such_test() not implemented" in out, out


def test_check_broken_rule_names_file_and_line(sink, moatd):
    m = moatd(sink(), start=False, conf_extra=only_rules())
    write_rules(m, "20_bad.cf",
                "# a comment\n"
                "body  T_BAD   /unclosed(group/\n"
                "meta  T_META  T_BAD || NO_SUCH_RULE\n")
    rc, out = check(m)
    assert rc != 0, out
    assert "20_bad.cf:2" in out and "PCRE2" in out, out
    assert "20_bad.cf:3" in out and "unknown rule NO_SUCH_RULE" in out, out

    # allow_broken keeps the good rules running.
    m.conf_extra = only_rules("allow_broken = true;")
    m.write_config()
    rc, out = check(m)
    assert rc == 0, out
    assert "2 broken" in out, out


def test_own_rule_set_loads_clean(sink, moatd):
    m = moatd(sink(), start=False, conf_extra=only_rules())
    shutil.copytree(ROOT / "rules.d" / "spam", m.dir / "spamrules")
    rc, out = check(m)
    assert rc == 0, out
    assert "0 skipped, 0 broken" in out, out


@pytest.mark.skipif(not os.path.exists(SYSTEM_RULES + "/50_scores.cf"),
                    reason="Debian's spamassassin rules are not installed")
def test_check_with_system_rules(sink, moatd):
    m = moatd(sink(), start=False, conf_extra=only_rules(
        "system_rules = true; system_dir = \"%s\";" % SYSTEM_RULES))
    write_rules(m, "10_test.cf", "body T_ONE /one/\n")
    rc, out = check(m)
    assert rc == 0, out
    assert "rules: skipped" in out, out


def test_hits_in_report_header(sink, moatd):
    sk = sink()
    m = moatd(sk, start=False, conf_extra=only_rules())
    shutil.copytree(ROOT / "rules.d" / "spam", m.dir / "spamrules")
    m.start()
    spam_mid = new_message_id()
    send_mail(m.port, "sender@example.net", ["user@example.com"],
              load_fixture("spam_rules.eml", message_id=spam_mid))
    ham_mid = new_message_id()
    send_mail(m.port, "sender@example.net", ["user@example.com"],
              load_fixture("plain.eml", message_id=ham_mid))
    spam = sk.wait_message_id(spam_mid, timeout=30)[0]["data"]
    report = header_value(spam, "X-Moat-Spam-Report") or ""
    status = header_value(spam, "X-Moat-Spam-Status") or ""
    assert "MOAT_" in report, report
    assert status.startswith("Yes"), (status, report)
    ham = sk.wait_message_id(ham_mid, timeout=30)[0]["data"]
    assert (header_value(ham, "X-Moat-Spam-Status") or "").startswith("No")
