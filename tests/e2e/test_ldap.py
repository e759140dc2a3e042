"""LDAP recipient verification and login end to end, against a real slapd
started here on a loopback port with its own slapd.conf, schema and mdb
database in the test folder (a system slapd, if the package started one,
does not matter). The directory (LDIF written below) has users with mail
and proxyAddresses, groups, a nested group and an AD-style memberOf.

- the unit binary's live part (directory load, nested groups, memberOf,
  ldapdir_login roles and refusals) runs against this slapd;
- moatd with ldap.verify_recipients: known address relayed, unknown one
  550 5.1.1; slapd stopped: once the snapshot is older than max_stale,
  451 4.4.3; behind a real Postfix, the mail deferred that way is kept
  and arrives once slapd is back (no mail lost).
"""

import os
import shutil
import signal
import smtplib
import subprocess

import pytest

from conftest import (ROOT, SMTPClient, _stop_process, free_port,
                      new_message_id, port_open, wait_until)

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SLAPADD = shutil.which("slapadd") or "/usr/sbin/slapadd"
UNIT = os.environ.get("MOAT_TEST_LDAPDIR",
                      str(ROOT / "build/asan/unit/test_ldapdir"))

pytestmark = pytest.mark.skipif(not os.path.exists(SLAPD),
                                reason="slapd is not installed")

SCHEMA = """\
attributetype ( 1.3.6.1.4.1.55555.1.1 NAME 'proxyAddresses'
    EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )
attributetype ( 1.3.6.1.4.1.55555.1.2 NAME 'memberOf'
    EQUALITY distinguishedNameMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )
objectclass ( 1.3.6.1.4.1.55555.2.1 NAME 'moatTestUser' SUP top AUXILIARY
    MAY ( proxyAddresses $ memberOf ) )
"""

BASE = "dc=example,dc=com"


def user(uid, pw, mails=(), proxies=(), member_of=()):
    lines = ["dn: uid=%s,ou=people,%s" % (uid, BASE),
             "objectClass: inetOrgPerson", "objectClass: moatTestUser",
             "uid: %s" % uid, "cn: %s" % uid, "sn: %s" % uid,
             "userPassword: %s" % pw]
    lines += ["mail: %s" % m for m in mails]
    lines += ["proxyAddresses: %s" % p for p in proxies]
    lines += ["memberOf: %s" % g for g in member_of]
    return "\n".join(lines) + "\n\n"


def group(cn, members, mails=()):
    lines = ["dn: cn=%s,ou=groups,%s" % (cn, BASE),
             "objectClass: groupOfNames", "objectClass: extensibleObject",
             "cn: %s" % cn]
    lines += ["member: %s" % m for m in members]
    lines += ["mail: %s" % m for m in mails]
    return "\n".join(lines) + "\n\n"


def people(uid):
    return "uid=%s,ou=people,%s" % (uid, BASE)


def groups(cn):
    return "cn=%s,ou=groups,%s" % (cn, BASE)


LDIF = (
    "dn: %s\nobjectClass: dcObject\nobjectClass: organization\n"
    "dc: example\no: Example\n\n" % BASE
    + "dn: ou=people,%s\nobjectClass: organizationalUnit\nou: people\n\n"
    % BASE
    + "dn: ou=groups,%s\nobjectClass: organizationalUnit\nou: groups\n\n"
    % BASE
    + user("svc", "svcpw")
    + user("alice", "alicepw", ["alice@example.com"],
           ["SMTP:alice@example.com", "smtp:a.smith@example.com",
            "X500:/o=corp/cn=alice", "SIP:sip@example.com"])
    + user("bob", "bobpw", ["bob@example.com"],
           member_of=[groups("auditors")])
    + user("carol", "carolpw", ["carol@example.com"])
    + user("dave", "davepw", ["dave@example.com"])
    + group("staff", [people("alice"), groups("admins")])
    + group("admins", [groups("inner")])
    + group("inner", [people("carol")])
    + group("auditors", [people("svc")])
    + group("qmanagers", [people("dave")])
    + group("sales", [people("alice")], ["sales@example.com"])
    + "".join(user("filler%d" % i, "x", ["filler%d@example.com" % i])
              for i in range(20))
)


class Slapd:
    def __init__(self, base):
        self.dir = base / "slapd"
        self.db = self.dir / "db"
        self.db.mkdir(parents=True)
        self.port = free_port()
        self.uri = "ldap://127.0.0.1:%d" % self.port
        (self.dir / "moat.schema").write_text(SCHEMA)
        (self.dir / "data.ldif").write_text(LDIF)
        self.conf = self.dir / "slapd.conf"
        self.conf.write_text(
            "include /etc/ldap/schema/core.schema\n"
            "include /etc/ldap/schema/cosine.schema\n"
            "include /etc/ldap/schema/inetorgperson.schema\n"
            "include %s\n"
            "modulepath /usr/lib/ldap\n"
            "moduleload back_mdb\n"
            "pidfile %s\n"
            "argsfile %s\n"
            "database mdb\n"
            "maxsize 10485760\n"
            'suffix "%s"\n'
            'rootdn "cn=root,%s"\n'
            "rootpw rootpw\n"
            "directory %s\n"
            "access to attrs=userPassword by anonymous auth by * none\n"
            "access to * by users read by * none\n"
            % (self.dir / "moat.schema", self.dir / "slapd.pid",
               self.dir / "slapd.args", BASE, BASE, self.db))
        subprocess.run([SLAPADD, "-f", str(self.conf), "-l",
                        str(self.dir / "data.ldif")], check=True,
                       capture_output=True)
        self.proc = None
        self.log = None

    def start(self):
        self.log = open(self.dir / "slapd.log", "ab")
        # -d keeps slapd in the foreground so that we own the process.
        self.proc = subprocess.Popen(
            [SLAPD, "-f", str(self.conf), "-h", self.uri + "/", "-d", "0"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: port_open(self.port), 15, "slapd to listen")

    def stop(self):
        _stop_process(self.proc, signal.SIGTERM)
        self.proc = None
        if self.log:
            self.log.close()
            self.log = None


@pytest.fixture
def slapd(instance_dir):
    s = Slapd(instance_dir)
    s.start()
    yield s
    s.stop()


FILTERS_OFF = """
filters = {
  rules = { enabled = false; };  bayes = { enabled = false; };
  clamav = { enabled = false; }; attachments = { enabled = false; };
  phishing = { enabled = false; };
  dnsbl = { enabled = false; };  surbl = { enabled = false; };
  spf = { enabled = false; };    dkim = { enabled = false; };
  dmarc = { enabled = false; };  greylist = { enabled = false; };
};
"""


def ldap_conf(s, refresh=1, max_stale=2):
    return FILTERS_OFF + """
ldap = {
  profiles = ( {
    name = "corp"; uri = "%s"; base = "%s";
    bind_dn = "uid=svc,ou=people,%s"; bind_password = "svcpw";
    user_filter = "(|(mail=%%s)(proxyAddresses=smtp:%%s))";
    group_member_attr = "member";
    mail_attrs = [ "mail", "proxyAddresses" ];
    refresh = %d; max_stale = %d; timeout_ms = 1000;
  } );
  verify_recipients = "corp";
};
""" % (s.uri, BASE, BASE, refresh, max_stale)


def body(mid, rcpt):
    return ("From: a@sender.test\r\nTo: %s\r\nSubject: ldap\r\n"
            "Message-ID: <%s>\r\n\r\nhello\r\n" % (rcpt, mid)).encode()


def rcpt_reply(port, rcpt):
    with SMTPClient(port) as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@sender.test>").code == 250
        r = c.cmd("RCPT TO:<%s>" % rcpt)
        c.cmd("QUIT")
        return r


def deliver(port, rcpt, mid):
    with SMTPClient(port) as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@sender.test>").code == 250
        r = c.cmd("RCPT TO:<%s>" % rcpt)
        assert r.code == 250, r
        r = c.data(body(mid, rcpt))
        c.cmd("QUIT")
        return r


def test_unit_live(slapd):
    """The unit binary's live part: load, groups, login roles."""
    if not os.path.exists(UNIT):
        pytest.skip("build/asan/unit/test_ldapdir not built")
    env = dict(os.environ, MOAT_TEST_LDAP_URI=slapd.uri)
    r = subprocess.run([UNIT], env=env, capture_output=True, text=True,
                       timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "SKIPPED" not in out, out


def test_verify_recipients(moatd, sink, slapd):
    snk = sink()
    m = moatd(snk, conf_extra=ldap_conf(slapd))
    wait_until(lambda: rcpt_reply(m.port, "alice@example.com").code == 250,
               15, "the directory snapshot", interval=0.2)
    mid = new_message_id("ldap")
    assert deliver(m.port, "alice@example.com", mid).code == 250
    snk.wait_message_id(mid)
    # proxyAddresses smtp: alias, any case; a group's own address.
    assert rcpt_reply(m.port, "A.Smith@Example.COM").code == 250
    assert rcpt_reply(m.port, "sales@example.com").code == 250
    r = rcpt_reply(m.port, "nobody@example.com")
    assert r.code == 550, r
    assert r.lines[0] == ("550 5.1.1 <nobody@example.com>: Recipient "
                          "address rejected: unknown user"), r
    # X500: values are not addresses.
    assert rcpt_reply(m.port, "sip@example.com").code == 550

    # Directory gone: the snapshot serves until max_stale, then 451.
    slapd.stop()
    wait_until(lambda: rcpt_reply(m.port, "alice@example.com").code == 451,
               20, "451 once the snapshot is stale", interval=0.2)
    r = rcpt_reply(m.port, "nobody@example.com")
    assert r.code == 451, r
    assert r.lines[0] == "451 4.4.3 Directory unavailable, try again later"
    slapd.start()
    wait_until(lambda: rcpt_reply(m.port, "alice@example.com").code == 250,
               40, "the directory back", interval=0.2)
    assert "Directory unavailable" not in "".join(
        msg.get("data", b"").decode("latin-1") for msg in snk.messages())


def test_behind_postfix_directory_down(moatd, sink, postfix, slapd):
    """A mail arriving while the directory is down is deferred (451 at
    RCPT), kept in Postfix's queue, and delivered once slapd is back."""
    snk = sink()
    pf = postfix(snk, filter="lmtp")
    m = moatd(pf.reinject_addr, port=pf.filter_port,
              conf_extra=ldap_conf(slapd))
    wait_until(lambda: rcpt_reply(m.port, "alice@example.com").code == 250,
               15, "the directory snapshot", interval=0.2)
    slapd.stop()
    wait_until(lambda: rcpt_reply(m.port, "alice@example.com").code == 451,
               20, "451 once the snapshot is stale", interval=0.2)
    mid = new_message_id("ldap-pf")
    with smtplib.SMTP("127.0.0.1", pf.port, timeout=30) as s:
        s.sendmail("a@sender.test", ["alice@example.com"],
                   body(mid, "alice@example.com"))
    pf.wait_log(r"Directory unavailable", timeout=30)
    assert snk.count() == 0
    slapd.start()
    snk.wait_message_id(mid, timeout=90)


POLICY = """\
actions = {
\tblock = { type = "block"; };
\tmark = { type = "add_header"; field = "X-Internal"; value = "yes"; };
};
who = {
\tadmins = { objects = ( { ldap_group = "corp:admins"; } ); };
\tinternal = { objects = ( { ldap_user = "corp"; } ); };
\tauditors = { objects = ( { ldap_group = "cn=auditors,ou=groups,%s"; } ); };
};
rules = {
\tno_admins = { to = [ "admins" ]; action = [ "block" ]; priority = 90; };
\tno_auditors = { to = [ "auditors" ]; action = [ "block" ];
\t\tpriority = 80; };
\tinside = { from = [ "internal" ]; action = [ "mark" ]; priority = 10; };
};
""" % BASE


def test_policy_objects(moatd, sink, slapd):
    """Who objects ldap_group (nested, memberOf, DN or profile:cn) and
    ldap_user in the rule system."""
    snk = sink()
    m = moatd(snk, start=False, conf_extra=ldap_conf(slapd, 300, 900))
    (m.dir / "rules.d" / "policy").mkdir()
    (m.dir / "rules.d" / "policy" / "50-ldap.conf").write_text(POLICY)
    m.start()
    wait_until(lambda: rcpt_reply(m.port, "alice@example.com").code == 250,
               15, "the directory snapshot", interval=0.2)

    def one(sender, rcpt):
        mid = new_message_id("ldap-pol")
        with SMTPClient(m.port) as c:
            c.ehlo()
            assert c.cmd("MAIL FROM:<%s>" % sender).code == 250
            assert c.cmd("RCPT TO:<%s>" % rcpt).code == 250
            r = c.data(body(mid, rcpt))
            c.cmd("QUIT")
        return mid, r

    # carol is in admins through inner (nested): blocked.
    mid, r = one("x@outside.test", "carol@example.com")
    assert r.code == 554, r
    # bob is an auditor through memberOf only: blocked.
    mid, r = one("x@outside.test", "bob@example.com")
    assert r.code == 554, r
    # alice is neither: delivered, unmarked from outside ...
    mid, r = one("x@outside.test", "alice@example.com")
    assert r.code == 250, r
    got = snk.wait_message_id(mid)
    assert b"X-Internal" not in got[0]["data"]
    # ... and marked when the sender is a directory user.
    mid, r = one("a.smith@example.com", "alice@example.com")
    assert r.code == 250, r
    got = snk.wait_message_id(mid)
    assert b"X-Internal: yes" in got[0]["data"]
