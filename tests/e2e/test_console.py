"""The moat console, driven in tmux against a real moatd.

Each test starts moatd (and a sink as its next hop), sends real mail
through it, runs build/asan/moat in a detached tmux server of its own
(tmux -L, no user config), types keys with send-keys and reads what a
person would see with capture-pane.

Environment: MOAT_CONSOLE overrides the console binary (default
build/asan/moat); MOATD and MOATCTL as in conftest.py.

The quarantine and rules scenarios need quarantine.* and rules.* in moatd;
while moatd answers "unknown_command" for them they are skipped, with the
reason, at run time.
"""

import itertools
import json
import os
import pathlib
import re
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
import unicodedata

import pytest

from conftest import (LEAK_MARK, ROOT, SAN_ERRORS, CtlError, leak_sites,
                      new_message_id, send_mail, wait_until)


CONSOLE = os.environ.get("MOAT_CONSOLE", "build/asan/moat")
if not os.path.isabs(CONSOLE):
    CONSOLE = str(ROOT / CONSOLE)
TMUX = shutil.which("tmux")

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")

CONSOLE_ASAN = ("halt_on_error=1:abort_on_error=0:detect_leaks=1:"
                "exitcode=23:print_summary=1")


def width(s):
    """Columns a string takes on a terminal."""
    w = 0
    for ch in s:
        if unicodedata.combining(ch):
            continue
        w += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return w


def column_of(line, word):
    """The display column where word starts in line, or None."""
    i = line.find(word)
    return None if i < 0 else width(line[:i])


def message(subject, mid, sender="alice@example.org",
            rcpt="bob@example.com", body="Hello.\r\n"):
    if isinstance(subject, str):
        subject = subject.encode()
    return (b"From: " + sender.encode() + b"\r\nTo: " + rcpt.encode() +
            b"\r\nSubject: " + subject + b"\r\nMessage-ID: <" +
            mid.encode() + b">\r\nDate: Mon, 01 Jan 2024 00:00:00 +0000"
            b"\r\n\r\n" + body.encode())


def mail(moatd, subject, sender="alice@example.org", rcpt="bob@example.com",
         expect_ok=True):
    """Send one message through moatd; returns its Message-ID."""
    import smtplib
    mid = new_message_id("console")
    try:
        send_mail(moatd.port, sender, [rcpt], message(subject, mid, sender,
                                                      rcpt))
    except smtplib.SMTPException:
        if expect_ok:
            raise
    return mid


class Console:
    """moat in a detached tmux server of its own."""

    _seq = itertools.count()

    def __init__(self, base, socket, cols=80, lines=24, env=None,
                 prefix=(), argv=None):
        n = next(Console._seq)
        self.server = "moat-e2e-%d-%d" % (os.getpid(), n)
        self.err = base / ("console%d.err" % n)
        self.status = base / ("console%d.status" % n)
        self.cols, self.lines_n = cols, lines
        self.socket = str(socket)
        self.env = env or {}
        self.argv = argv or (list(prefix) + [CONSOLE, "-s", self.socket])
        self.started = False
        self.expect_rc = 0
        self.problems = []

    def tmux(self, *args, check=True):
        p = subprocess.run([TMUX, "-L", self.server, "-f", "/dev/null"] +
                           list(args), capture_output=True, text=True,
                           timeout=15, stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise RuntimeError("tmux %s: %s" % (" ".join(args), p.stderr))
        return p.stdout

    def start(self, ready="Moat"):
        env = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
               "TERM": "tmux-256color", "ASAN_OPTIONS": CONSOLE_ASAN,
               "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1"}
        env.update(self.env)
        argv = self.argv
        cmd = ("env -u MOAT_SOCKET -u NO_COLOR %s %s 2>%s; echo $? >%s; "
               "exec sleep 3600" % (
                   " ".join("%s=%s" % (k, shlex.quote(v))
                            for k, v in env.items()),
                   " ".join(shlex.quote(a) for a in argv),
                   shlex.quote(str(self.err)), shlex.quote(str(self.status))))
        self.tmux("new-session", "-d", "-s", "moat", "-x", str(self.cols),
                  "-y", str(self.lines_n), cmd)
        self.started = True
        if ready:
            self.wait(ready)
        return self

    # --- what a person sees ------------------------------------------------

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "moat")

    def rows(self):
        rows = self.screen().split("\n")
        if rows and rows[-1] == "":
            rows.pop()
        return rows

    def screen_attrs(self):
        return self.tmux("capture-pane", "-p", "-e", "-t", "moat")

    def title(self):
        return self.tmux("display-message", "-p", "-t", "moat",
                         "#{pane_title}").strip()

    def wait(self, what, timeout=20.0, why=None):
        """Until what (a string, or a function of the screen) holds."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            ok = what(text) if callable(what) else what in text
            if ok:
                return text
            if self.status.exists() and self.status.read_text().strip():
                pytest.fail("moat exited (%s) waiting for %s:\n%s\n%s" % (
                    self.status.read_text().strip(), why or repr(what), text,
                    self.stderr()))
            if time.monotonic() >= deadline:
                pytest.fail("timed out waiting for %s; the screen:\n%s" % (
                    why or repr(what), text))
            time.sleep(0.05)

    def wait_gone(self, what, timeout=20.0):
        return self.wait(lambda s: what not in s, timeout,
                         "%r to go away" % what)

    # --- input ---------------------------------------------------------------

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "moat", *keys)

    def type(self, text):
        self.tmux("send-keys", "-t", "moat", "-l", "--", text)

    def resize(self, cols, lines):
        self.tmux("resize-window", "-t", "moat", "-x", str(cols), "-y",
                  str(lines))
        self.cols, self.lines_n = cols, lines

    # --- the end ---------------------------------------------------------------

    def stderr(self):
        try:
            return self.err.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def exit_status(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.status.exists() and self.status.read_text().strip():
                return int(self.status.read_text().strip())
            time.sleep(0.05)
        return None

    def kill_console(self):
        """SIGKILL what runs in the pane (moat did not exit by itself):
        no test leaves a console behind."""
        out = self.tmux("display-message", "-p", "-t", "moat",
                        "#{pane_pid}", check=False).strip()
        if not out.isdigit():
            return
        for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[1] == out:        # ppid: a child of the pane's shell
                try:
                    os.kill(int(stat.parent.name), signal.SIGKILL)
                except OSError:
                    pass

    def quit(self):

        """Q, then the exit status."""
        self.keys("Q")
        return self.exit_status()

    def close(self):
        if not self.started:
            return
        rc = None
        if not (self.status.exists() and self.status.read_text().strip()):
            self.keys("Escape")     # a prompt or a question may be open
            rc = self.quit()
        else:
            rc = self.exit_status()
        if rc is None:
            self.kill_console()
        self.tmux("kill-server", check=False)
        self.started = False
        err = self.stderr()
        for mark in SAN_ERRORS:
            if mark in err:
                i = err.index(mark)
                self.problems.append(err[max(0, i - 200):i + 3000])
        if LEAK_MARK in err:
            self.problems.append("moat leaks: %s" % leak_sites(err))
        if rc is None:
            self.problems.append("moat did not exit after Q")
        elif rc != self.expect_rc:
            self.problems.append("moat exited with %s: %s" % (rc, err[-2000:]))


@pytest.fixture
def console(instance_dir, request):
    made = []

    def factory(moatd, cols=80, lines=24, start=True, **kw):
        if not os.path.exists(CONSOLE):
            pytest.fail("%s not built (make build-test)" % CONSOLE)
        c = Console(instance_dir, moatd.socket, cols, lines, **kw)
        made.append(c)
        if start:
            c.start()
        return c
    yield factory
    problems = []
    for c in made:
        c.close()
        problems += c.problems
    if problems:
        request.node.moat_keep = True
        pytest.fail("console problems:\n" + "\n".join(problems))


def command_state(moatd, cmd, **args):
    """(works, why): does moatd run cmd? "unknown_command" means it does
    not have it; "unavailable" (or an index that is not open) means it
    has it but it is not wired up yet."""
    try:
        moatd.ctl(cmd, **args)
    except CtlError as e:
        err = (e.answer or {}).get("error") or {}
        code, msg = err.get("code", ""), err.get("message", str(e))
        if code == "unknown_command" or "unknown_command" in str(e):
            return False, "moatd has no %s (unknown_command)" % cmd
        if code == "unavailable" or "not open" in msg or \
                "unavailable" in str(e):
            return False, "moatd has %s but answers: %s" % (cmd, msg or e)
    return True, ""


def has_command(moatd, cmd, **args):
    """Does moatd know cmd? (Any answer but unknown_command says yes.)"""
    works, why = command_state(moatd, cmd, **args)
    return works or "unknown_command" not in why


def need_command(moatd, cmd, **args):
    works, why = command_state(moatd, cmd, **args)
    if not works:
        pytest.skip(why + "; the console shows a notice meanwhile")


def layout_ok(text, cols, lines):
    """For wait(): the whole frame is drawn at this size."""
    rows = text.split("\n")
    if rows and rows[-1] == "":
        rows.pop()
    return (len(rows) == lines and rows[0].startswith(" Moat ") and
            "? help" in rows[-1] and all(width(r) <= cols for r in rows))


def check_layout(rows, cols, lines):

    """The frame every view keeps: tab bar, key bar, nothing too wide."""
    assert len(rows) == lines, "%d rows, want %d:\n%s" % (
        len(rows), lines, "\n".join(rows))
    for r in rows:
        assert width(r) <= cols, "row wider than %d: %r" % (cols, r)
    assert rows[0].startswith(" Moat "), rows[0]
    assert "? help" in rows[-1] or "q close" in rows[-1], rows[-1]


# --- dashboard -----------------------------------------------------------------

def test_dashboard_numbers(moatd, sink, console):
    s = sink()
    m = moatd(s)
    for i in range(3):
        mail(m, "before %d" % i)
    s.wait_for(3)
    c = console(m)
    text = c.wait("Since start    3 messages", why="the counters")
    assert "node e2e" in text and "moatd 0.1.0" in text, text
    assert "role admin" in text, text
    c.wait(lambda t: re.search(r"relayed 3\b", t), why="today: relayed 3")
    # The 24 hour sparkline: the hour's count and the total.
    c.wait(lambda t: re.search(r"messages +\S+ +3 +3\s*$", t, re.M),
           why="sparkline totals 3")
    # Mail while watching: live rate and the counters move.
    for i in range(2):
        mail(m, "during %d" % i)
    c.wait("in 2  out 0", why="2 inbound messages in the last minute")
    c.wait("Since start    5 messages")
    c.wait(lambda t: re.search(r"relayed 5\b", t), why="today: relayed 5")
    c.wait("ok: last relayed at")
    check_layout(c.rows(), 80, 24)


def test_dashboard_next_hop_failing(moatd, sink, console):
    s = sink()
    m = moatd(s, relay_connect_timeout=2)
    c = console(m)
    s.stop()
    mail(m, "nobody home", expect_ok=False)
    c.wait("FAILING: 1 tempfail", why="next hop failing")
    s.start()
    mail(m, "back again")
    c.wait("ok: last relayed at", why="next hop healthy again")


# --- live tracking ---------------------------------------------------------------

def test_live_tail_pause_filter(moatd, sink, console):
    s = sink()
    m = moatd(s)
    c = console(m)
    c.keys("3")
    c.wait("Live tracking")
    mail(m, "t-one", sender="first@one.test")
    text = c.wait("t-one")
    assert "first@one" in text
    # Paused: counted, not shown.
    c.keys("p")
    c.wait("PAUSED +0")
    mail(m, "t-two", sender="second@two.test")
    c.wait("PAUSED +1")
    assert "t-two" not in c.screen()
    c.keys("p")
    c.wait("t-two")
    # Filter as you type: each key narrows the rows at once.
    c.keys("/")
    c.type("second")
    text = c.wait(lambda t: "t-two" in t and "t-one" not in t,
                  why="only t-two")
    assert "filter (sender" in text
    c.keys("Enter")
    c.wait("filter: second")
    c.keys("c")
    c.wait(lambda t: "t-two" in t and "t-one" in t, why="both again")


def test_open_tracking_record(moatd, sink, console):
    s = sink()
    m = moatd(s)
    mid = mail(m, "open-me please")
    s.wait_for(1)
    rec = wait_until(lambda: m.track_by_message_id(mid), 10,
                     "the tracking record")[0]
    c = console(m)
    c.keys("3")
    c.wait("open-me")
    c.keys("Enter")
    text = c.wait("Queue id", why="the record")
    assert rec["queue_id"] in text
    assert "Recipients (1)" in text and "bob@example.com" in text
    assert "Relay reply" in text
    c.keys("q")
    c.wait_gone("Queue id")
    c.wait("Live tracking")


def test_search_time_range(moatd, sink, console):
    s = sink()
    m = moatd(s)
    mail(m, "found-it")
    s.wait_for(1)
    c = console(m)
    c.keys("3")
    c.wait("found-it")
    c.keys("s")
    c.wait("time range")
    c.keys("C-u")
    c.type("-1h..now")
    c.keys("Enter")
    text = c.wait(lambda t: "Search " in t and "found-it" in t,
                  why="search results")
    assert "1 of 1" in text, text
    # An empty range says so.
    c.keys("s", "C-u")
    c.type("2001-01-01..2001-01-02")
    c.keys("Enter")
    c.wait("no messages in this range")
    # A range that is not one is refused with the reason.
    c.keys("s", "C-u")
    c.type("yesterday")
    c.keys("Enter")
    c.wait("not a time")
    c.keys("q")
    c.wait("Live tracking")


def test_hostile_subject_inert(moatd, sink, console):
    s = sink()
    m = moatd(s)
    c = console(m)
    title = c.title()
    c.keys("3")
    c.wait("Live tracking")
    # Raw escape sequences in the header and inside an encoded word.
    mail(m, b"RAW \x1b]0;PWNED\x07 \x1b[2J\x1b[41mBG\x1b[0m \x1b[31mred "
            b"\xe2\x80\xaeevil")
    mail(m, "=?utf-8?q?ENC_=1B]2;PWNED2=07=1B[31mred_=9B31m?=")
    text = c.wait(lambda t: "RAW" in t and "ENC" in t, why="both rows")
    assert "PWNED" not in c.title() and c.title() == title
    rows = c.rows()
    check_layout(rows, 80, 24)
    attrs = c.screen_attrs().split("\n")
    for i, r in enumerate(rows):
        if "RAW" in r or "ENC" in r:
            # Drawn, never interpreted: no red, no background colour.
            assert "\x1b[31m" not in attrs[i] and "\x1b[41m" not in attrs[i]
            assert "\x1b]" not in attrs[i]
    # The record shows the subject inert too.
    c.keys("k")     # the RAW row (the newest is selected)
    c.keys("Enter")
    text = c.wait("Subject", why="the record")
    subj = [r for r in c.rows() if "Subject" in r][0]
    assert "RAW" in subj and "evil" in subj and "\x1b" not in subj
    assert subj.rstrip().endswith("\u2502"), subj      # the box is whole
    assert c.title() == title
    c.keys("q")


def test_wide_characters_keep_columns(moatd, sink, console):
    s = sink()
    m = moatd(s)
    c = console(m)
    c.keys("3")
    mail(m, "plain ascii subject line", sender="a@ascii.test")
    mail(m, "=?utf-8?b?" + __import__("base64").b64encode(
        "全角文字のサブジェクトです長い長い長い".encode()).decode() + "?=",
        sender="b@wide.test")
    mail(m, "e\u0301e\u0301 combining marks", sender="c@comb.test")
    c.wait(lambda t: "wide.test" in t and "comb.test" in t and
           "ascii.test" in t, why="three rows")
    rows = [r for r in c.rows() if "relayed" in r]
    assert len(rows) == 3, rows
    cols = {column_of(r, "relayed") for r in rows}
    assert len(cols) == 1, "OUTCOME column moved: %r" % rows
    assert all(width(r) <= 80 for r in rows)
    assert "全角" in c.screen()


# --- layout, sizes, connection -----------------------------------------------

def test_layout_80x24_every_view(moatd, sink, console):
    s = sink()
    m = moatd(s)
    mail(m, "layout")
    c = console(m)
    names = {"1": "node e2e", "2": "Quarantine", "3": "Live tracking",
             "4": "Rules", "5": "Statistics", "6": "Cluster"}
    for key, want in names.items():
        c.keys(key)
        c.wait(want)
        check_layout(c.rows(), 80, 24)
    # Tab cycles, q goes back through the views visited.
    c.keys("Tab")
    c.wait("Dash", why="Tab from Cluster to Dashboard")
    c.keys("q")
    c.wait("Cluster")
    # Help lists the view's keys and the global ones.
    c.keys("?")
    text = c.wait("Everywhere")
    assert "Help: Cluster" in text
    c.keys("q")
    c.wait_gone("Everywhere")


def test_resize_live(moatd, sink, console):
    s = sink()
    m = moatd(s)
    mail(m, "resize me")
    c = console(m)
    c.keys("3")
    c.wait("resize me")
    c.resize(132, 40)
    text = c.wait(lambda t: "1 Dashboard" in t and layout_ok(t, 132, 40),
                  why="long tab names at 132 columns")
    check_layout(c.rows(), 132, 40)
    assert "SUBJECT" in text
    c.resize(60, 16)
    c.wait(lambda t: "1 Dashboard" not in t and layout_ok(t, 60, 16),
           why="short tabs at 60")
    check_layout(c.rows(), 60, 16)
    c.resize(30, 8)
    c.wait("terminal too small")
    c.resize(80, 24)
    c.wait(lambda t: "Live tracking" in t and layout_ok(t, 80, 24),
           why="back at 80x24")
    check_layout(c.rows(), 80, 24)


def test_reconnects(moatd, sink, console):
    s = sink()
    m = moatd(s)
    c = console(m)
    c.wait("role admin")
    m.stop()
    c.wait("lost the connection to moatd", why="the banner")
    check_layout(c.rows(), 80, 24)
    m.start()
    c.wait_gone("lost the connection")
    c.wait("connected to moatd again")
    # Live events flow again (subscribed anew).
    c.keys("3")
    mail(m, "restarted")
    c.wait("restarted")


def test_unavailable_commands_say_so(moatd, sink, console):
    s = sink()
    m = moatd(s)
    c = console(m)
    checks = [("2", "quarantine.list", "quarantine"),
              ("4", "rules.list", "rules")]
    for key, cmd, noun in checks:
        c.keys(key)
        if has_command(m, cmd):
            c.wait_gone("needs %s.*" % noun)
        else:
            c.wait("not available on this moatd (needs %s.*)" % noun)
    c.keys("6")
    text = c.wait("a single node" if not has_command(m, "cluster.status")
                  else "Cluster")
    assert "e2e" in text


def test_handed_over_descriptor(moatd, sink, console, instance_dir):
    """moat -F FD, the SSH front's way in: the console uses the connection
    it is given and cannot replace it when it ends."""
    s = sink()
    m = moatd(s)
    # A stand-in for the front: connect, then exec moat with fd 3.
    front = instance_dir / "front.py"
    front.write_text(
        "import os, socket, sys\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "s.connect(sys.argv[1])\n"
        "if s.fileno() != 3: os.dup2(s.fileno(), 3)\n"
        "os.set_inheritable(3, True)\n"
        "os.execv(sys.argv[2], [sys.argv[2], '-F', '3'])\n")
    c = console(m, start=False, argv=["/usr/bin/python3", str(front),
                                      str(m.socket), CONSOLE])
    c.start()
    c.wait("role admin")
    c.keys("3")
    mail(m, "handed")
    c.wait("handed")
    m.stop()
    c.wait("cannot reconnect")
    c.expect_rc = 1     # the connection ended: exit status 1
    assert c.quit() == 1


# --- statistics ----------------------------------------------------------------------

def test_statistics_per_domain(moatd, sink, console):
    s = sink()
    m = moatd(s)
    for i in range(3):
        mail(m, "stat %d" % i, sender="x%d@alpha.test" % i,
             rcpt="user%d@example.com" % (i % 2))
    mail(m, "stat b", sender="y@beta.test", rcpt="user0@example.com")
    s.wait_for(4)
    c = console(m)
    c.keys("5")
    c.wait("hourly counters")
    c.keys("D")      # sender domains
    text = c.wait("alpha.test", why="sender domains")
    row = [r for r in c.rows() if "alpha.test" in r][0]
    assert re.search(r"alpha\.test +3 +3 ", row), row
    assert "beta.test" in text
    c.keys("u")      # recipients
    text = c.wait("user0@example.com")
    row = [r for r in c.rows() if "user0@example.com" in r][0]
    assert re.search(r"user0@example\.com +3 +3 ", row), row
    c.wait("from 4 tracking records")


# --- role-aware ------------------------------------------------------------------------

def test_role_auditor(moatd, sink, console, instance_dir):
    """A peer in the auditor group sees role auditor; what it may not do
    is greyed with the reason (once such commands exist)."""
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is missing")
    s = sink()
    m = moatd(s, start=False)
    conf = m.conf.read_text().replace(
        'mode = "0660";', 'mode = "0666"; auditor_group = "nogroup";')
    m.conf.write_text(conf)
    m.start()
    os.chmod(instance_dir, 0o755)
    c = console(m, start=False,
                prefix=["setpriv", "--reuid=nobody", "--regid=nogroup",
                        "--clear-groups"])
    # nobody must be able to write the error file.
    c.err.touch()
    os.chmod(c.err, 0o666)
    c.start()
    c.wait("role auditor")
    # Release needs qmanager: the key is greyed, and says why.
    c.keys("2")
    c.wait("Quarantine")
    c.keys("r")
    c.wait(lambda t: "quarantine.release needs role qmanager (this "
           "connection is auditor)" in t or "nothing selected" in t or
           "not available" in t, why="the reason")
    c.keys("?")
    text = c.wait("Help: Quarantine")
    assert "needs role qmanager" in text or "not available" in text
    c.keys("q")


# --- quarantine and rules (when moatd has them) ----------------------------------------

POLICY = """\
# written by tests/e2e/test_console.py
what = { quarme = { objects = ( { header = "Subject"; value = "QUARME"; } ); }; };
actions = { q_spam = { type = "quarantine"; kind = "spam"; };
            drop = { type = "block"; }; };
rules = {
\tquarantine_test = { comment = "the console's test"; priority = 50;
\t\tactive = true; direction = "in"; what = [ "quarme" ];
\t\taction = [ "q_spam" ]; };
\tsecond_rule = { priority = 20; active = false; direction = "both";
\t\taction = [ "drop" ]; };
};
"""


def moatd_with_policy(moatd, s):
    m = moatd(s, start=False)
    policy = m.dir / "rules.d" / "policy"
    policy.mkdir(parents=True, exist_ok=True)
    (policy / "50-console.conf").write_text(POLICY)
    return m.start()


def quarantined(m, subject):
    """Send a message the test policy quarantines; its Message-ID."""
    mid = mail(m, subject)
    rec = wait_until(lambda: m.track_by_message_id(mid), 15,
                     "the tracking record of <%s>" % mid)[0]
    if rec.get("outcome") != "quarantined":
        pytest.skip("moatd does not apply the rule policy to mail yet "
                    "(outcome %s)" % rec.get("outcome"))
    return mid


def test_quarantine_preview_release_reaches_sink(moatd, sink, console):
    s = sink()
    m = moatd_with_policy(moatd, s)
    need_command(m, "quarantine.list")
    mid = quarantined(m, "QUARME \u4e2d go")
    quarantined(m, "QUARME keep")
    assert s.count() == 0
    c = console(m)
    c.keys("2")
    text = c.wait(lambda t: "\u4e2d go" in t and "QUARME keep" in t,
                  why="both quarantined subjects")
    assert "spam" in text
    c.wait("1 of 2")
    # The older one ("go") is second: preview it.
    c.keys("j", "Enter")
    text = c.wait("Headers", why="the preview")
    assert "QUARME \u4e2d go" in text and "Rule" in text
    assert "quarantine_test" in text
    c.keys("r")
    c.wait("Release 1 this message?")
    c.keys("y")
    c.wait("released 1 message (confirmed by moatd)")
    msgs = s.wait_for(1)
    assert msgs[0]["message_id"] == mid
    c.wait_gone("\u4e2d go")
    assert "QUARME keep" in c.screen()


def test_quarantine_marks_delete_and_filters(moatd, sink, console):
    s = sink()
    m = moatd_with_policy(moatd, s)
    need_command(m, "quarantine.list")
    for i in range(3):
        quarantined(m, "QUARME n%d" % i)
    c = console(m)
    c.keys("2")
    c.wait(lambda t: all("n%d" % i in t for i in range(3)), why="3 rows")
    # Filter by type: nothing is virus.
    c.keys("t")
    c.wait("spam \u00b7")
    c.keys("t")
    c.wait("the quarantine is empty")
    c.keys("Escape")
    c.wait("all types")
    # Mark two, delete them after the question.
    c.keys("Space", "Space")
    c.wait("2 marked")
    c.keys("d")
    c.wait("Delete 2 marked messages? This cannot be undone.")
    c.keys("n")
    c.wait("cancelled")
    c.keys("d")
    c.wait("Delete 2 marked messages?")
    c.keys("y")
    c.wait("deleted 2 messages (confirmed by moatd)")
    left = m.ctl("quarantine.list")["items"]
    assert len(left) == 1
    c.wait(lambda t: "n0" not in t or "n1" not in t, why="rows gone")
    assert s.count() == 0


def test_rule_toggle_seen_by_moatctl(moatd, sink, console):
    s = sink()
    m = moatd_with_policy(moatd, s)
    need_command(m, "rules.list")
    c = console(m)
    c.keys("4")
    text = c.wait("quarantine_test", why="the rule list")
    row = [r for r in c.rows() if "quarantine_test" in r][0]
    assert re.match(r"on +50 ", row), row
    assert "second_rule" in text
    # The rule with the highest priority is first and selected.
    c.keys("Space")
    c.wait("rule quarantine_test is off")
    c.wait("confirmed by moatd")
    row = [r for r in c.rows() if "quarantine_test" in r][0]
    assert re.match(r"off +50 ", row), row
    rules = {r["name"]: r for r in m.ctl("rules.list")["rules"]}
    assert rules["quarantine_test"]["active"] is False
    # Priority: + asks moatd, the list shows what it says.
    c.keys("+")
    c.wait("priority 51 (confirmed by moatd)")
    rules = {r["name"]: r for r in m.ctl("rules.list")["rules"]}
    assert rules["quarantine_test"]["priority"] == 51
    # Its objects.
    c.keys("Enter")
    text = c.wait(lambda t: "Rule quarantine_test" in t and "QUARME" in t,
                  why="the rule with its objects (rules.get)")
    assert "quarme" in text and "header=Subject" in text

    c.keys("q")
    # Off means mail passes now.
    mid = mail(m, "QUARME passes")
    s.wait_message_id(mid)


# --- the console's own defence ----------------------------------------------------

class FakeControl(threading.Thread):
    """A stand-in control socket that sends what moatd never would: raw
    escape sequences in a tracking record. The console must not depend on
    moatd's sanitising."""

    HOSTILE = ("OSC\x1b]0;PWNED\x07 CSI\x1b[2J\x1b[31mred\x1b[0m C1\x9b31mx "
               "DCS\x1bPq#0;2\x1b\\ BIDI\u202eevil\u202c END")

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(self.path)
        self.sock.listen(4)
        self.stop = False

    def record(self):
        return {"queue_id": "FAKE1", "time_ms": int(time.time() * 1000),
                "direction": "inbound", "client_addr": "192.0.2.1",
                "sender": "evil\x1b[5m@x.test", "subject": self.HOSTILE,
                "rcpts": [{"address": "bob@example.com",
                           "outcome": "relayed", "reply": "250 ok"}],
                "outcome": "relayed", "size": 10, "score": None}

    def answer(self, req):
        cmd = req.get("cmd")
        if cmd == "status":
            return {"version": "0", "node": "fake", "uptime_s": 1,
                    "role": "admin", "sessions": 0, "inflight": 0}
        if cmd == "tracking.subscribe":
            return {"subscribed": True}
        if cmd in ("tracking.search",):
            return {"items": [self.record()], "next": None}
        if cmd == "tracking.get":
            return self.record()
        return None

    def serve(self, conn):
        f = conn.makefile("rb")
        for line in f:
            req = json.loads(line)
            res = self.answer(req)
            if res is None:
                out = {"id": req["id"], "ok": False, "error": {
                    "code": "unknown_command", "message": "no"}}
            else:
                out = {"id": req["id"], "ok": True, "result": res}
            conn.sendall(json.dumps(out).encode() + b"\n")

    def run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self.serve, args=(conn,),
                             daemon=True).start()


def test_console_strips_escapes_itself(instance_dir, console):
    fake = FakeControl(instance_dir / "fake.sock")
    fake.start()

    class M:
        socket = fake.path
    try:
        c = console(M)
        title = c.title()
        c.keys("3")
        text = c.wait("OSC CSIred", why="the hostile record")
        assert "PWNED" not in text and "[31m" not in text
        c.keys("Enter")
        text = c.wait("Subject", why="the record")
        subj = [r for r in c.rows() if "Subject" in r][0]
        assert "OSC CSIred C1x DCS BIDIevil END" in subj, subj
        assert "PWNED" not in text and "\u202e" not in text
        assert c.title() == title
        attrs = c.screen_attrs()
        assert "\x1b[31m" not in attrs and "\x1b[5m" not in attrs
        check_layout(c.rows(), 80, 24)
    finally:
        fake.stop = True
