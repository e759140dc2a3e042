"""Shared fixtures and helpers for Moat's end-to-end tests.

Every test starts real programs on loopback ports in its own folder and
polls for conditions with deadlines (never "sleep long enough").
Run with Debian's interpreter: /usr/bin/python3 -m pytest tests/e2e

Environment:
    MOATD, MOATCTL       binaries under test (default build/asan/moatd,
                         build/asan/moatctl)
    MOAT_E2E_TMP         parent of the per-run folder (default /tmp)
    MOAT_E2E_KEEP=1      keep every test's folder (failed tests' are kept
                         anyway; the path is printed in the failure report)
    MOAT_E2E_ASAN_OPTIONS / MOAT_E2E_UBSAN_OPTIONS  sanitizer options for
                         moatd and moatctl

Fixtures:
    instance_dir  pathlib.Path, an empty folder for this test (mode 0755,
                  short path so Unix socket names fit).
    sink          factory: sink(lmtp=False, rcpt_reply={glob: reply},
                  data_reply=None, delay_data=0, xforward=True) -> Sink,
                  tests/tools/sink.py on a free loopback port.
                  Sink: .port .addr ("127.0.0.1:port") .dir .messages()
                  (list of dicts: the .json envelope plus "data" bytes and
                  "message_id") .wait_for(n, timeout) .by_message_id(mid)
                  .stop() .start(**new_options) (same port) .log().
    moatd         factory: moatd(next_hop="127.0.0.1:N" or a Sink,
                  port=None, start=True, lmtp=False, **smtp_keys) -> Moatd.
                  smtp_keys override moat.conf's smtp section (max_recipients=3,
                  idle_timeout=2, relay_timeout=2, ...); conf_extra= adds raw
                  text. Moatd: .port .dir .socket .ctl(cmd, **args)
                  (moatctl --json, returns the result object, raises CtlError)
                  .subscribe() (a live `moatctl --json tracking.subscribe`)
                  .kill(sig) .stop() .wait() .start() .restart() .log() .pid
                  .track_by_message_id(mid) (tracking.search, filtered).
                  At teardown: SIGTERM and wait; the test fails when moatd's
                  output holds "ERROR: AddressSanitizer" or "runtime error:"
                  (leak reports at exit are kept in the log and warned about).
    postfix       factory: postfix(sink, filter="lmtp"|"smtp"|None) ->
                  Postfix, a real Postfix instance with its own config and
                  queue under instance_dir: front smtpd on .port with
                  content_filter to moatd on .filter_port (start moatd with
                  port=pf.filter_port, next_hop=pf.reinject_addr), re-injection
                  smtpd on .reinject_port without filter, delivering everything
                  to the sink via relayhost. Retries within seconds.
                  .queue() (postqueue -j) .flush() .log() .wait_log(regex)
                  .stop() (also at teardown).

Helpers (import from conftest): free_port(), wait_until(), SMTPClient (raw
socket SMTP/LMTP client), load_fixture(), send_mail(), header_value(),
split_message(), CtlError.
"""

import json
import os
import pathlib
import queue
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
SINK_PY = ROOT / "tests" / "tools" / "sink.py"
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
    else sys.executable


def _binary(env, default):
    path = os.environ.get(env, default)
    return str(path if os.path.isabs(path) else ROOT / path)


MOATD = _binary("MOATD", "build/asan/moatd")
MOATCTL = _binary("MOATCTL", "build/asan/moatctl")

SAN_OPTIONS = {
    "ASAN_OPTIONS": os.environ.get(
        "MOAT_E2E_ASAN_OPTIONS",
        # exitcode=23: a leak report at exit (the only sanitizer finding
        # that does not print "ERROR: AddressSanitizer") gives status 23.
        "halt_on_error=1:abort_on_error=0:detect_leaks=1:exitcode=23:"
        "detect_stack_use_after_return=1:print_summary=1"),
    "UBSAN_OPTIONS": os.environ.get(
        "MOAT_E2E_UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1"),
}
SAN_ERRORS = ("ERROR: AddressSanitizer", "runtime error:")
LEAK_MARK = "ERROR: LeakSanitizer"

START_TIMEOUT = 20.0


# --- small helpers --------------------------------------------------------

_used_ports = set()
_port_lock = threading.Lock()


# Below Linux's ephemeral range (32768-60999), so the source port of some
# outgoing connection cannot take a port between its pick and its bind.
PORT_RANGE = (20000, 32000)
_port_rng = random.Random(os.getpid() ^ time.monotonic_ns())


def free_port():
    """A loopback TCP port nobody listens on, never handed out twice."""
    with _port_lock:
        for _ in range(500):
            port = _port_rng.randrange(*PORT_RANGE)
            if port in _used_ports:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _used_ports.add(port)
            return port
    raise RuntimeError("no free port")


def wait_until(cond, timeout=10.0, what="condition", interval=0.05):
    """Poll cond() until it returns a true value (returned) or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def smtp_ready(port, host="127.0.0.1"):
    """True once the port answers with a 220 greeting."""
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            s.settimeout(2)
            greeting = s.recv(512)
            try:
                s.sendall(b"QUIT\r\n")
                s.recv(512)
            except OSError:
                pass
            return greeting.startswith(b"220")
    except OSError:
        return False


def load_fixture(name, message_id=None, crlf=True):
    """A message from tests/fixtures as wire bytes (CRLF line ends).

    message_id replaces the Message-ID header's value, so each test can
    find its own message at the sink."""
    data = (FIXTURES / name).read_bytes()
    if crlf:
        data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if message_id is not None:
        data, n = re.subn(rb"(?im)^Message-ID:[^\r\n]*",
                          b"Message-ID: <" + message_id.encode() + b">",
                          data, count=1)
        assert n == 1, "fixture %s has no Message-ID" % name
    return data


def new_message_id(tag="e2e"):
    return "%s.%d.%d@moat.test" % (tag, os.getpid(), time.monotonic_ns())


def split_message(data):
    """(header bytes, body bytes) of a CRLF message."""
    head, sep, body = data.partition(b"\r\n\r\n")
    return head + b"\r\n", body


def header_value(data, name):
    """First header `name` (unfolded, stripped), or None."""
    head, _ = split_message(data)
    m = re.search(rb"(?im)^" + re.escape(name.encode()) +
                  rb":[ \t]*(.*(?:\r\n[ \t].*)*)", head)
    if not m:
        return None
    return re.sub(rb"\r\n[ \t]", b" ", m.group(1)).decode("utf-8",
                                                          "replace").strip()


def norm_mid(mid):
    return (mid or "").strip().strip("<>").strip()


def send_mail(port, mail_from, rcpts, data, helo="client.e2e.test",
              mail_options=(), rcpt_options=(), timeout=30, source=None):
    """Send one message with smtplib; returns the refused-recipients dict.
    source: a loopback address to connect from (e.g. "127.0.0.2")."""
    import smtplib
    with smtplib.SMTP("127.0.0.1", port, local_hostname=helo,
                      timeout=timeout,
                      source_address=(source, 0) if source else None) as s:
        return s.sendmail(mail_from, rcpts, data,
                          mail_options=list(mail_options),
                          rcpt_options=list(rcpt_options))


class Reply:
    def __init__(self, code, lines):
        self.code = code
        self.lines = lines

    @property
    def text(self):
        return "\n".join(self.lines)

    def __repr__(self):
        return "Reply(%d, %r)" % (self.code, self.lines)


class SMTPClient:
    """A raw SMTP/LMTP client: exact bytes out, parsed replies in."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0, greeting=True,
                 source=None):
        self.sock = socket.create_connection(
            (host, port), timeout=timeout,
            source_address=(source, 0) if source else None)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.greeting = self.reply() if greeting else None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by server "
                                      "(pending %r)" % self.buf)
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        """One (possibly multi-line) reply."""
        lines = []
        while True:
            line = self._line()
            if len(line) < 3 or not line[:3].isdigit():
                raise ValueError("bad reply line %r" % line)
            lines.append(line)
            if len(line) == 3 or line[3] != "-":
                return Reply(int(line[:3]), lines)

    def replies(self, n):
        return [self.reply() for _ in range(n)]

    def cmd(self, line):
        if isinstance(line, str):
            line = line.encode()
        self.send(line + b"\r\n")
        return self.reply()

    def ehlo(self, name="client.e2e.test", verb="EHLO"):
        r = self.cmd("%s %s" % (verb, name))
        assert r.code == 250, r
        return r

    def data(self, body, nreplies=1):
        """DATA with a message body (CRLF, not dot-stuffed): final reply or
        list of replies (LMTP). Raises if 354 is not given."""
        r = self.cmd("DATA")
        if r.code != 354:
            return r
        self.send(dot_stuff(body) + b".\r\n")
        if nreplies == 1:
            return self.reply()
        return self.replies(nreplies)

    def is_closed(self, timeout=5.0):
        """True when the server closes the connection within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False
        except OSError:
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def dot_stuff(body):
    if body and not body.endswith(b"\r\n"):
        body += b"\r\n"
    body = re.sub(rb"(?m)^\.", b"..", body)
    return body


def leak_sites(text):
    """The first frame in our own code of each LeakSanitizer record, so the
    same leak seen by many tests is warned about once."""
    sites = set()
    for record in re.split(r"(?m)^(?:Direct|Indirect) leak", text)[1:]:
        frames = [f for f in re.findall(
            r"#\d+ 0x[0-9a-f]+ in (\S+) ((?:daemon|shared|console)"
            r"/[^\s:]+:\d+)", record) if "xmalloc.c" not in f[1]]
        sites.add("%s %s" % frames[0] if frames else "?")
    return ", ".join(sorted(sites))


class CtlError(Exception):
    def __init__(self, msg, answer=None):
        super().__init__(msg)
        self.answer = answer


# --- per-test folder ------------------------------------------------------

_run_dir = None
_test_seq = 0


def _base_dir():
    global _run_dir
    if _run_dir is None:
        parent = os.environ.get("MOAT_E2E_TMP", "/tmp")
        _run_dir = pathlib.Path(tempfile.mkdtemp(prefix="moat-e2e-",
                                                 dir=parent))
        # Postfix daemons run as user postfix: let them traverse the path.
        _run_dir.chmod(0o755)
    return _run_dir


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _test_failed(item):
    return any(getattr(item, "rep_" + w, None) is not None and
               getattr(item, "rep_" + w).failed
               for w in ("setup", "call"))


@pytest.fixture
def instance_dir(request):
    global _test_seq
    _test_seq += 1
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)[:28]
    path = _base_dir() / ("%03d-%s" % (_test_seq, name))
    path.mkdir(mode=0o755)
    path.chmod(0o755)
    yield path
    if (_test_failed(request.node) or getattr(request.node, "moat_keep", 0)
            or os.environ.get("MOAT_E2E_KEEP")):
        sys.stderr.write("\n[e2e] kept %s\n" % path)
    else:
        _removals.append(path)
    # Postfix masters take a second or two to exit: remove the folders of
    # passed tests in one go at the end of the run instead of waiting here.
    if len(_removals) > 8:
        _reap()


_removals = []          # folders of passed tests
_exiting = []           # Postfix master pids told to stop


def _reap():
    deadline = time.monotonic() + 20
    for pid in _exiting:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
    del _exiting[:]
    for path in _removals:
        shutil.rmtree(path, ignore_errors=True)
    del _removals[:]


def pytest_sessionfinish(session, exitstatus):
    _reap()
    if _run_dir is not None:
        try:
            _run_dir.rmdir()        # only when every test's folder went
        except OSError:
            pass


# --- processes --------------------------------------------------------------

def _stop_process(proc, sig=signal.SIGTERM, timeout=15.0):
    """Signal a child we started and reap it; SIGKILL after timeout.
    Returns its exit status, or None when it had to be killed."""
    if proc is None or proc.poll() is not None:
        return None if proc is None else proc.returncode
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        return None


class Sink:
    def __init__(self, base, **opts):
        self.base = base
        self.dir = base / "mail"
        self.port = free_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.logfile = base / "sink.log"
        self.pidfile = base / "sink.pid"
        self.proc = None
        self.opts = dict(lmtp=False, rcpt_reply=None, data_reply=None,
                         delay_data=0, xforward=True)
        self.opts.update(opts)

    def _argv(self):
        o = self.opts
        argv = [PYTHON, str(SINK_PY), "--listen", self.addr,
                "--dir", str(self.dir), "--pid-file", str(self.pidfile)]
        if o["lmtp"]:
            argv.append("--lmtp")
        for pattern, reply in (o["rcpt_reply"] or {}).items():
            argv += ["--rcpt-reply", "%s=%s" % (pattern, reply)]
        if o["data_reply"]:
            argv += ["--data-reply", o["data_reply"]]
        if o["delay_data"]:
            argv += ["--delay-data", str(o["delay_data"])]
        if not o["xforward"]:
            argv.append("--no-xforward")
        return argv

    def start(self, **opts):
        assert self.proc is None, "sink already running"
        self.opts.update(opts)
        try:
            self.pidfile.unlink()
        except FileNotFoundError:
            pass
        log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(self._argv(), stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL)
        log.close()

        def up():
            if self.proc.poll() is not None:
                pytest.fail("sink exited (%s):\n%s" % (self.proc.returncode,
                                                       self.log()))
            return self.pidfile.exists() and port_open(self.port)
        wait_until(up, START_TIMEOUT, "sink on port %d" % self.port)
        return self

    def stop(self):
        _stop_process(self.proc)
        self.proc = None
        wait_until(lambda: not port_open(self.port), 10,
                   "sink port %d to close" % self.port)

    def log(self):
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def messages(self):
        """Complete messages in delivery order."""
        out = []
        if not self.dir.exists():
            return out
        nums = sorted(int(p.stem) for p in self.dir.glob("*.json")
                      if p.stem.isdigit())
        for n in nums:
            meta = json.loads((self.dir / ("%d.json" % n)).read_text())
            data = (self.dir / ("%d.eml" % n)).read_bytes()
            meta["data"] = data
            meta["message_id"] = norm_mid(header_value(data, "Message-ID"))
            out.append(meta)
        return out

    def count(self):
        if not self.dir.exists():
            return 0
        return sum(1 for p in self.dir.glob("*.json") if p.stem.isdigit())

    def wait_for(self, n, timeout=15.0):
        """Wait until at least n messages arrived; returns messages()."""
        wait_until(lambda: self.count() >= n, timeout,
                   "%d message(s) at the sink (have %d)" % (n, self.count()))
        return self.messages()

    def by_message_id(self, mid):
        mid = norm_mid(mid)
        return [m for m in self.messages() if m["message_id"] == mid]

    def wait_message_id(self, mid, timeout=15.0):
        return wait_until(lambda: self.by_message_id(mid), timeout,
                          "message <%s> at the sink" % mid)


@pytest.fixture
def sink(instance_dir):
    made = []

    def factory(start=True, **opts):
        base = instance_dir / ("sink%d" % (len(made) + 1))
        base.mkdir()
        s = Sink(base, **opts)
        made.append(s)
        if start:
            s.start()
        return s
    yield factory
    for s in made:
        _stop_process(s.proc)
        s.proc = None


# --- moatd ------------------------------------------------------------------

def _conf_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[ " + ", ".join(_conf_value(x) for x in v) + " ]"
    return json.dumps(str(v))


SMTP_DEFAULTS = dict(
    hostname="moat.test",
    local_domains=["example.com"],
    max_message_size=52428800,
    max_recipients=1000,
    max_connections=500,
    idle_timeout=30,
    session_timeout=300,
    relay_connect_timeout=5,
    relay_timeout=30,
    workers=4,
    xforward_hosts=["127.0.0.0/8", "::1/128"],
)


class Subscription:
    """A running `moatctl --json tracking.subscribe`: events on a queue."""

    def __init__(self, argv, env):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, env=env)
        self.events = queue.Queue()
        self.lines = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            self.lines.append(line)
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            self.events.put(obj)

    @staticmethod
    def record(obj):
        """The tracking record inside one output object, or None."""
        if not isinstance(obj, dict):
            return None
        if obj.get("event") == "tracking":
            return obj.get("data")
        if "queue_id" in obj:
            return obj
        if isinstance(obj.get("data"), dict) and "queue_id" in obj["data"]:
            return obj["data"]
        return None

    def collect(self, pred, timeout=15.0):
        """Records until pred(list_of_records) is true; returns the list."""
        got = []
        deadline = time.monotonic() + timeout
        while not pred(got):
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail("tracking.subscribe: condition not met after "
                            "%.1fs; got %d records; output:\n%s" %
                            (timeout, len(got), "\n".join(self.lines[-20:])))
            try:
                obj = self.events.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.proc.poll() is not None and self.events.empty():
                    pytest.fail("moatctl tracking.subscribe exited %s: %s" %
                                (self.proc.returncode,
                                 self.proc.stderr.read().decode()))
                continue
            rec = self.record(obj)
            if rec is not None:
                got.append(rec)
        return got

    def close(self):
        _stop_process(self.proc, timeout=5)
        err = self.proc.stderr.read().decode("utf-8", "replace")
        self.proc.stdout.close()
        self.proc.stderr.close()
        return err


# Every filter block moatd knows (daemon/cfg.c filter_names).
FILTER_NAMES = ("greylist", "dnsbl", "surbl", "spf", "dkim", "dmarc", "rules",
                "bayes", "phishing", "clamav", "attachments")


class Moatd:
    def __init__(self, base, next_hop, port=None, smtp=None, lmtp=False,
                 conf_extra=""):
        self.dir = base
        self.port = port or free_port()
        if isinstance(next_hop, Sink):
            next_hop = next_hop.addr
        self.next_hop = next_hop
        self.smtp = dict(SMTP_DEFAULTS)
        self.smtp.update(smtp or {})
        self.conf_extra = conf_extra
        self.conf = base / "moat.conf"
        self.socket = base / "control.sock"
        self.logfile = base / "moatd.log"
        self.proc = None
        self.subs = []
        self.problems = []          # sanitizer findings, checked at teardown
        (base / "rules.d").mkdir(exist_ok=True)
        # Our ClamAV signatures: the clamav filter refuses to start without.
        if not (base / "rules.d" / "clamav").exists():
            shutil.copytree(ROOT / "rules.d" / "clamav",
                            base / "rules.d" / "clamav")
        (base / "quarantine").mkdir(exist_ok=True)
        self.write_config()

    def write_config(self):
        smtp = ['listen = ( { address = "127.0.0.1"; port = %d; '
                'direction = "inbound"; } );' % self.port,
                "next_hop = %s;" % json.dumps(self.next_hop)]
        for k, v in self.smtp.items():
            smtp.append("%s = %s;" % (k, _conf_value(v)))
        text = (
            '# written by tests/e2e/conftest.py\n'
            'node = { name = "e2e"; };\n'
            'smtp = {\n  ' + "\n  ".join(smtp) + '\n};\n'
            'control = { socket = "control.sock"; mode = "0660"; };\n'
            'storage = { backend = "sqlite"; path = "moat.db"; '
            'quarantine_dir = "quarantine"; tracking_days = 30; };\n'
            'rules = { dir = "rules.d"; };\n'
            'log = { syslog = false; level = "debug"; };\n'
            + self.conf_extra)
        if not re.search(r"^\s*filters\s*=", self.conf_extra, re.M):
            # Relay tests see the message unchanged: filters (and their
            # X-Moat-* headers) are off unless a test configures them.
            text += "filters = { %s };\n" % " ".join(
                "%s = { enabled = false; };" % f for f in FILTER_NAMES)
        self.conf.write_text(text)

    def env(self):
        env = dict(os.environ)
        env.update(SAN_OPTIONS)
        env.pop("MOAT_SOCKET", None)
        return env

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=START_TIMEOUT):
        assert not self.running(), "moatd already running"
        if not os.path.exists(MOATD):
            pytest.fail("%s not built (make build-test)" % MOATD)
        log = open(self.logfile, "ab")
        log.write(b"==== e2e: starting moatd %s\n" % time.ctime().encode())
        log.flush()
        self.proc = subprocess.Popen([MOATD, "-f", "-c", str(self.conf)],
                                     stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL,
                                     cwd=str(self.dir), env=self.env())
        log.close()

        def up():
            if self.proc.poll() is not None:
                pytest.fail("moatd exited with %s during start-up:\n%s" %
                            (self.proc.returncode, self.log()[-5000:]))
            return self.socket.exists() and smtp_ready(self.port)
        wait_until(up, timeout, "moatd on port %d and %s" %
                   (self.port, self.socket))
        return self

    def _check_output(self):
        text = self.log()
        for mark in SAN_ERRORS:
            if mark in text:
                i = text.index(mark)
                self.problems.append(text[max(0, i - 200):i + 3000])
                break
        if LEAK_MARK in text:
            warnings.warn("moatd leaks at exit: %s" % leak_sites(text))

    def stop(self, timeout=20.0):
        """SIGTERM (drain and exit); returns the exit status."""
        if self.proc is None:
            return None
        rc = _stop_process(self.proc, signal.SIGTERM, timeout)
        if rc is None:
            self.problems.append("moatd did not exit %.0fs after SIGTERM"
                                 % timeout)
        self.proc = None
        self._check_output()
        return rc

    def wait(self, timeout=20.0):
        """Wait for moatd to exit by itself (after a signal the test sent);
        returns its exit status."""
        rc = self.proc.wait(timeout=timeout)
        self.proc = None
        self._check_output()
        return rc

    def kill(self, sig=signal.SIGKILL):
        """Send sig; for SIGKILL/SIGTERM wait until the process is gone."""
        assert self.running(), "moatd not running"
        self.proc.send_signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
            self.proc.wait(timeout=20)
            self.proc = None
            self._check_output()

    def restart(self):
        if self.running():
            self.stop()
        else:
            self.proc = None
        return self.start()

    def log(self):
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def ctl_argv(self, cmd, args):
        argv = [MOATCTL, "--json", "-s", str(self.socket), cmd]
        for k, v in args.items():
            if isinstance(v, bool):
                v = "true" if v else "false"
            argv.append("%s=%s" % (k, v))
        return argv

    def ctl_raw(self, cmd, timeout=15, **args):
        """Run moatctl; returns (exit status, stdout, stderr)."""
        p = subprocess.run(self.ctl_argv(cmd, args), capture_output=True,
                           timeout=timeout, env=self.env(),
                           stdin=subprocess.DEVNULL)
        out = p.stdout.decode("utf-8", "replace")
        err = p.stderr.decode("utf-8", "replace")
        for mark in SAN_ERRORS:
            if mark in err:
                pytest.fail("moatctl %s: sanitizer error:\n%s" % (cmd, err))
        if LEAK_MARK in err:
            warnings.warn("moatctl leaks at exit: %s" % leak_sites(err))
        return p.returncode, out, err

    def ctl(self, cmd, **args):
        """moatctl --json CMD k=v...: the result object (the answer's
        "result" when moatctl prints the whole answer)."""
        rc, out, err = self.ctl_raw(cmd, **args)
        try:
            answer = json.loads(out) if out.strip() else None
        except ValueError:
            raise CtlError("moatctl %s: exit %d, not JSON: %r %r" %
                           (cmd, rc, out[:500], err[:500]))
        if isinstance(answer, dict) and "ok" in answer:
            if not answer["ok"]:
                raise CtlError("moatctl %s: %s" % (cmd, answer.get("error")),
                               answer)
            answer = answer.get("result")
        if rc != 0:
            raise CtlError("moatctl %s: exit %d: %s %s" % (cmd, rc, out, err),
                           answer)
        return answer

    def subscribe(self):
        sub = Subscription(self.ctl_argv("tracking.subscribe", {}),
                           self.env())
        self.subs.append(sub)
        return sub

    def tracking(self, **args):
        """tracking.search items (list of records)."""
        res = self.ctl("tracking.search", **args)
        if isinstance(res, dict):
            for key in ("items", "records", "results"):
                if isinstance(res.get(key), list):
                    return res[key]
        if isinstance(res, list):
            return res
        raise CtlError("tracking.search: unexpected answer %r" % (res,))

    def track_by_message_id(self, mid):
        mid = norm_mid(mid)
        return [r for r in self.tracking(limit=1000)
                if norm_mid(r.get("message_id")) == mid]


@pytest.fixture
def moatd(instance_dir, request):
    made = []

    def factory(next_hop, port=None, start=True, conf_extra="", **smtp):
        base = instance_dir / ("moatd%d" % (len(made) + 1))
        base.mkdir()
        m = Moatd(base, next_hop, port=port, smtp=smtp,
                  conf_extra=conf_extra)
        made.append(m)
        if start:
            m.start()
        return m
    yield factory
    problems = []
    for m in made:
        for sub in m.subs:
            sub.close()
        if m.running():
            rc = m.stop()
            if rc not in (0, None, 23):       # 23: LeakSanitizer's status
                problems.append("moatd exited with status %s after SIGTERM"
                                % rc)
        else:
            m._check_output()
        problems += ["%s: %s" % (m.logfile, p) for p in m.problems]
    if problems:
        request.node.moat_keep = True
        pytest.fail("moatd problems:\n" + "\n".join(problems))


# --- Postfix ----------------------------------------------------------------

POSTFIX_MASTER = """\
# written by tests/e2e/conftest.py: no chroot, loopback only
{front_port} inet n - n - - smtpd
  -o syslog_name=postfix/front
  {front_filter}
{reinject_port} inet n - n - - smtpd
  -o syslog_name=postfix/reinject
  -o content_filter=
  -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters
  -o smtpd_authorized_xforward_hosts=127.0.0.0/8
  -o smtpd_client_restrictions=
  -o smtpd_helo_restrictions=
  -o smtpd_sender_restrictions=
  -o smtpd_relay_restrictions=permit_mynetworks,reject
  -o mynetworks=127.0.0.0/8
moatlmtp  unix  -       -       n       -       4       lmtp
  -o syslog_name=postfix/moatlmtp
  -o lmtp_send_xforward_command=yes
  -o lmtp_data_done_timeout=60s
  -o disable_dns_lookups=yes
moatsmtp  unix  -       -       n       -       4       smtp
  -o syslog_name=postfix/moatsmtp
  -o smtp_send_xforward_command=yes
  -o smtp_data_done_timeout=60s
  -o disable_dns_lookups=yes
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

POSTFIX_MAIN = """\
# written by tests/e2e/conftest.py: a private instance, loopback only
compatibility_level = 3.6
queue_directory = {dir}/spool
data_directory = {dir}/data
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
myhostname = postfix.e2e.test
mydomain = e2e.test
myorigin = $myhostname
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
relayhost = [127.0.0.1]:{sink_port}
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_peername_lookup = no
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtputf8_enable = yes
biff = no
message_size_limit = 104857600
# retry within seconds, never Postfix's default minutes
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtp_connect_timeout = 5s
lmtp_connect_timeout = 5s
delay_warning_time = 0h
maximal_queue_lifetime = 1h
bounce_queue_lifetime = 1h
"""


POSTFIX_QUEUE_DIRS = [(d, "root", 0o700) for d in (
    "active", "bounce", "corrupt", "defer", "deferred", "flush", "hold",
    "incoming", "private", "saved", "trace")] + [
    ("maildrop", "postdrop", 0o730), ("public", "postdrop", 0o710),
    ("pid", "root", 0o755)]


class Postfix:
    def __init__(self, base, sink, filter="lmtp", filter_port=None):
        self.dir = base
        self.etc = base / "etc"
        self.sink = sink
        self.filter = filter
        self.port = free_port()
        self.reinject_port = free_port()
        self.reinject_addr = "127.0.0.1:%d" % self.reinject_port
        self.filter_port = filter_port or free_port()
        self.logfile = base / "maillog"
        self.started = False
        self._configure()

    def _configure(self):
        for d in ("etc", "spool", "data"):
            (self.dir / d).mkdir(mode=0o755, exist_ok=True)
        shutil.chown(self.dir / "data", "postfix")
        # The queue folders as postfix-files has them: "postfix check"
        # would create them too, but takes two seconds doing it.
        spool = self.dir / "spool"
        for name, group, mode in POSTFIX_QUEUE_DIRS:
            d = spool / name
            d.mkdir(exist_ok=True)
            shutil.chown(d, "root" if name == "pid" else "postfix", group)
            d.chmod(mode)
        if self.filter == "lmtp":
            flt = "-o content_filter=moatlmtp:[127.0.0.1]:%d" % \
                self.filter_port
        elif self.filter == "smtp":
            flt = "-o content_filter=moatsmtp:[127.0.0.1]:%d" % \
                self.filter_port
        elif self.filter is None:
            flt = "-o content_filter="
        else:
            raise ValueError("filter must be lmtp, smtp or None")
        (self.etc / "main.cf").write_text(POSTFIX_MAIN.format(
            dir=self.dir, sink_port=self.sink.port))
        (self.etc / "master.cf").write_text(POSTFIX_MASTER.format(
            front_port="127.0.0.1:%d" % self.port,
            reinject_port="127.0.0.1:%d" % self.reinject_port,
            front_filter=flt))

    def _run(self, *args, check=True, timeout=60):
        p = subprocess.run(list(args), capture_output=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            pytest.fail("%s failed (%d): %s %s\nmaillog:\n%s" %
                        (" ".join(args), p.returncode,
                         p.stdout.decode(errors="replace"),
                         p.stderr.decode(errors="replace"), self.log()))
        return p

    def postfix(self, *args, **kw):
        return self._run("postfix", "-c", str(self.etc), *args, **kw)

    def start(self):
        # "start" runs the checks of "postfix check" (check-fatal and
        # check-warn in postfix-script) before it starts the master.
        self.postfix("start")
        self.started = True
        wait_until(lambda: smtp_ready(self.port) and
                   smtp_ready(self.reinject_port), START_TIMEOUT,
                   "postfix on ports %d and %d" % (self.port,
                                                   self.reinject_port))
        return self

    def master_pid(self):
        try:
            pid = int((self.dir / "spool" / "pid" / "master.pid")
                      .read_text().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def stop(self, wait=True):
        """postfix stop; wait=False leaves the master's exit to be awaited
        at the end of the run (it takes over a second)."""
        if not self.started:
            return
        pid = self.master_pid()
        self.postfix("stop", check=False)
        self.started = False
        if pid is None:
            return
        if not wait:
            _exiting.append(pid)
            return
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        self.postfix("abort", check=False)

    def log(self):
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, regex, timeout=15.0):
        rx = re.compile(regex)
        return wait_until(lambda: rx.search(self.log()), timeout,
                          "maillog line /%s/" % regex)

    def queue(self):
        """postqueue -j: a list of queue entries (dicts)."""
        p = self._run("postqueue", "-c", str(self.etc), "-j")
        return [json.loads(line) for line in
                p.stdout.decode("utf-8", "replace").splitlines()
                if line.strip()]

    def flush(self):
        self._run("postqueue", "-c", str(self.etc), "-f")


@pytest.fixture
def postfix(instance_dir):
    made = []

    def factory(sink, filter="lmtp", filter_port=None, start=True):
        if os.geteuid() != 0:
            pytest.skip("a private Postfix instance needs root")
        base = instance_dir / ("pf%d" % (len(made) + 1))
        base.mkdir(mode=0o755)
        pf = Postfix(base, sink, filter=filter, filter_port=filter_port)
        made.append(pf)
        if start:
            pf.start()
        return pf
    yield factory
    for pf in made:
        pf.stop(wait=False)


def pytest_report_header(config):
    return ["moatd: %s%s" % (MOATD, "" if os.path.exists(MOATD)
                             else " (missing)"),
            "moatctl: %s%s" % (MOATCTL, "" if os.path.exists(MOATCTL)
                               else " (missing)")]
