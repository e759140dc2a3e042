"""The control socket and moatctl against a real moatd.

Every command over the socket, spoken both by moatctl and as raw JSON
lines; malformed, unknown, oversize and mistyped requests answered with an
error while the connection stays usable; roles from the peer's credentials
(a user with no role, a user whose supplementary group is the auditor or the
admin group); tracking.subscribe seeing a message relayed through moatd.
"""

import json
import os
import pwd
import signal
import socket
import stat
import subprocess
import time

import pytest

from conftest import (MOATCTL, Subscription, new_message_id, norm_mid,
                      send_mail, wait_until)

REQ_MAX = 32 * 1024 * 1024      # CTL_REQ_ADMIN_MAX in shared/proto.h: the
                                # tests run as moatd's user (admin)
COMMANDS = ["config.get", "config.reload", "stats.get", "status",
            "tracking.get", "tracking.search", "tracking.subscribe",
            "tracking.unsubscribe"]
CONTROL_LINE = 'control = { socket = "control.sock"; mode = "0660"; };'


# --- helpers ----------------------------------------------------------------

class RawCtl:
    """A raw control connection: JSON lines out, JSON lines in."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""
        self.next_id = 100
        self.events = []

    def close(self):
        self.sock.close()

    def send(self, data):
        if isinstance(data, dict):
            data = json.dumps(data).encode() + b"\n"
        self.sock.sendall(data)

    def recv(self):
        """The next JSON object, or None at end of file."""
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def answer(self):
        """The next answer, keeping events that come first."""
        while True:
            msg = self.recv()
            assert msg is not None, "moatd closed the control connection"
            if "event" in msg:
                self.events.append(msg)
                continue
            return msg

    def call(self, cmd, **args):
        self.next_id += 1
        req = {"id": self.next_id, "cmd": cmd}
        if args:
            req["args"] = args
        self.send(req)
        a = self.answer()
        assert a["id"] == self.next_id, a
        return a

    def event(self):
        if self.events:
            return self.events.pop(0)
        msg = self.recv()
        assert msg is not None and "event" in msg, msg
        return msg


def ok(answer):
    assert answer["ok"] is True, answer
    assert set(answer) == {"id", "ok", "result"}, answer
    return answer["result"]


def err(answer, code, key=None):
    assert answer["ok"] is False, answer
    assert set(answer) == {"id", "ok", "error"}, answer
    assert answer["error"]["code"] == code, answer
    assert isinstance(answer["error"]["message"], str)
    if key is not None:
        assert answer["error"].get("key") == key, answer
    return answer["error"]


def moatctl(argv, env=None, timeout=15, prefix=()):
    """Run moatctl (optionally behind a prefix such as setpriv); returns
    (status, stdout, stderr)."""
    p = subprocess.run(list(prefix) + [MOATCTL] + list(argv),
                       capture_output=True, timeout=timeout, env=env,
                       stdin=subprocess.DEVNULL)
    out = p.stdout.decode("utf-8", "replace")
    errtext = p.stderr.decode("utf-8", "replace")
    assert "ERROR: AddressSanitizer" not in errtext, errtext
    assert "runtime error:" not in errtext, errtext
    return p.returncode, out, errtext


def set_control(m, **keys):
    """Replace the control section of a not yet started moatd's config."""
    text = m.conf.read_text()
    assert CONTROL_LINE in text
    keys.setdefault("socket", "control.sock")
    keys.setdefault("mode", "0660")
    body = " ".join("%s = %s;" % (k, json.dumps(v)) for k, v in keys.items())
    m.conf.write_text(text.replace(CONTROL_LINE,
                                   "control = { %s };" % body))
    m.socket = m.dir / keys["socket"]


def subscribed(m):
    """How many control connections subscribed so far (moatd logs it)."""
    return m.log().count("subscribed to tracking")


def message(mid, subject="control test"):
    return ("From: Alice <alice@example.org>\r\n"
            "To: bob@example.com\r\n"
            "Subject: %s\r\n"
            "Message-ID: <%s>\r\n"
            "\r\n"
            "Hello from the control test.\r\n" % (subject, mid)).encode()


# --- moatctl ----------------------------------------------------------------

def test_moatctl_commands(moatd, sink):
    m = moatd(sink())
    sock = str(m.socket)
    env = m.env()

    st = m.ctl("status")
    assert st["version"] and st["protocol"] == 1
    assert st["node"] == "e2e"
    assert st["role"] == "admin"            # we are root
    for key in ("uptime_s", "started_ms", "sessions", "inflight"):
        assert isinstance(st[key], int), key
    assert "messages" in st["counters"]

    rc, out, errtext = moatctl(["-s", sock, "status"], env)
    assert rc == 0, errtext
    lines = dict(line.split(None, 1) for line in out.splitlines())
    assert lines["node"] == "e2e"
    assert lines["role"] == "admin"

    conf = m.ctl("config.get")
    assert conf["node"]["name"] == "e2e"
    assert conf["control"]["mode"] == "0660"
    assert m.ctl("config.reload")["reloaded"] is True
    stats = m.ctl("stats.get")
    assert isinstance(stats, dict)
    assert m.tracking() == []
    # A string-typed key keeps digits as text; key:=JSON passes raw JSON.
    assert m.tracking(text="12345") == []
    rc, out, errtext = moatctl(["-s", sock, "--json", "tracking.search",
                                "limit:=5", 'sender:="x"'], env)
    assert rc == 0, errtext
    assert json.loads(out)["items"] == []

    rc, out, errtext = moatctl(["-s", sock, "tracking.get",
                                "queue_id=NOSUCH"], env)
    assert rc == 1 and "not_found" in errtext
    rc, out, errtext = moatctl(["-s", sock, "frobnicate"], env)
    assert rc == 1 and "unknown_command" in errtext
    rc, out, errtext = moatctl(["-s", sock, "tracking.search", "limit=ten"],
                               env)
    assert rc == 1 and "bad_args" in errtext and "limit" in errtext
    rc, out, errtext = moatctl(["-s", sock, "status", "verbose=true"], env)
    assert rc == 1 and "bad_args" in errtext and "verbose" in errtext
    # tracking.unsubscribe without a subscription is harmless.
    rc, out, errtext = moatctl(["-s", sock, "tracking.unsubscribe"], env)
    assert rc == 0, errtext


def test_moatctl_usage_and_socket_choice(moatd, sink):
    m = moatd(sink())
    env = m.env()

    rc, out, errtext = moatctl(["help"], env)
    assert rc == 0
    for cmd in COMMANDS:
        assert cmd in out
    rc, out, errtext = moatctl(["help", "tracking.search"], env)
    assert rc == 0 and "cursor" in out and "limit" in out

    rc, out, errtext = moatctl([], env)
    assert rc == 2 and "usage" in errtext
    rc, out, errtext = moatctl(["-s", str(m.socket), "status", "oops"], env)
    assert rc == 2 and "key=value" in errtext
    rc, out, errtext = moatctl(["-s", str(m.dir / "nope.sock"), "status"],
                               env)
    assert rc == 2 and "connect" in errtext

    # MOAT_SOCKET when there is no -s; -s wins over it.
    env2 = dict(env, MOAT_SOCKET=str(m.socket))
    rc, out, errtext = moatctl(["--json", "status"], env2)
    assert rc == 0, errtext
    assert json.loads(out)["node"] == "e2e"
    env3 = dict(env, MOAT_SOCKET=str(m.dir / "nope.sock"))
    rc, out, errtext = moatctl(["-s", str(m.socket), "status"], env3)
    assert rc == 0, errtext
    rc, out, errtext = moatctl(["status"], env3)
    assert rc == 2 and "nope.sock" in errtext


def test_config_reload_refused_keeps_running(moatd, sink):
    m = moatd(sink())
    good = m.conf.read_text()
    m.conf.write_text(good + "\nbogus_section = { x = 1; };\n")
    rc, out, errtext = moatctl(["-s", str(m.socket), "config.reload"],
                               m.env())
    assert rc == 1 and "config_error" in errtext
    assert "bogus" in errtext
    assert m.ctl("status")["node"] == "e2e"
    m.conf.write_text(good)
    assert m.ctl("config.reload")["reloaded"] is True


# --- the socket ---------------------------------------------------------------

def test_socket_created_and_stale_socket_replaced(moatd, sink):
    m = moatd(sink(), start=False)
    set_control(m, socket="run/deeper/ctl.sock", mode="0640")
    m.start()
    st = os.stat(m.socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert m.ctl("status")["node"] == "e2e"

    # A moatd killed outright leaves its socket file; the next one takes
    # its place.
    m.kill(signal.SIGKILL)
    assert m.socket.exists()
    m.start()
    assert m.ctl("status")["node"] == "e2e"
    m.stop()
    assert not m.socket.exists()


def test_raw_protocol(moatd, sink):
    m = moatd(sink())
    c = RawCtl(m.socket)

    st = ok(c.call("status"))
    assert st["protocol"] == 1
    assert ok(c.call("config.get"))["node"]["name"] == "e2e"
    assert ok(c.call("config.reload"))["reloaded"] is True
    assert isinstance(ok(c.call("stats.get")), dict)
    now = int(time.time() * 1000)
    assert "totals" in ok(c.call("stats.get", from_ms=now - 3600000,
                                 to_ms=now))
    err(c.call("stats.get", from_ms=0, to_ms=now), "bad_args")
    res = ok(c.call("tracking.search", limit=10))
    assert res["items"] == []
    err(c.call("tracking.get", queue_id="NOSUCH"), "not_found")
    assert ok(c.call("tracking.subscribe"))["subscribed"] is True
    assert ok(c.call("tracking.unsubscribe"))["subscribed"] is False

    # Ids are echoed, strings too.
    c.send({"id": "abc", "cmd": "status"})
    assert c.answer()["id"] == "abc"

    # Malformed input: an error answer each time, the connection stays.
    c.send(b"{oops\n")
    a = c.answer()
    err(a, "bad_request")
    assert a["id"] is None
    c.send(b"[1, 2]\n")
    err(c.answer(), "bad_request")
    c.send(b'{"id": 5}\n')
    a = c.answer()
    err(a, "bad_request")
    assert a["id"] == 5
    c.send(b'{"id": 6, "cmd": 7}\n')
    err(c.answer(), "bad_request")
    c.send(b'{"id": 7, "cmd": "sta\xfftus"}\n')
    err(c.answer(), "bad_request")
    c.send(b'{"id": 8, "cmd": "status", "args": [1]}\n')
    err(c.answer(), "bad_request")
    c.send(b"\n\r\n")                   # blank lines are ignored
    a = c.call("frobnicate")
    msg = err(a, "unknown_command")["message"]
    assert "frobnicate" in msg
    err(c.call("tracking.search", limit="ten"), "bad_args", key="limit")
    err(c.call("tracking.search", limit=0), "bad_args", key="limit")
    err(c.call("tracking.search", outcome="eaten"), "bad_args",
        key="outcome")
    err(c.call("tracking.search", colour="red"), "bad_args", key="colour")
    err(c.call("tracking.get"), "bad_args", key="queue_id")
    ok(c.call("status"))

    # Oversize: one error for the whole line, then business as usual.
    c.send(b'{"id": 9, "cmd": "status", "args": {"pad": "' +
           b"x" * (REQ_MAX + 10000) + b'"}}\n')
    a = c.answer()
    err(a, "too_large")
    assert a["id"] is None
    ok(c.call("status"))

    # Pipelined requests, each answered under its id.
    c.send(b"".join(json.dumps({"id": i, "cmd": cmd}).encode() + b"\n"
                    for i, cmd in [(21, "status"), (22, "tracking.search"),
                                   (23, "nope"), (24, "stats.get")]))
    got = {}
    for _ in range(4):
        a = c.answer()
        got[a["id"]] = a
    assert sorted(got) == [21, 22, 23, 24]
    ok(got[21])
    ok(got[22])
    err(got[23], "unknown_command")
    ok(got[24])
    c.close()

    # A peer that sends and half-closes still gets its answers.
    c = RawCtl(m.socket)
    c.send(b'{"id": 1, "cmd": "tracking.search"}\n'
           b'{"id": 2, "cmd": "status"}\n')
    c.sock.shutdown(socket.SHUT_WR)
    ids = sorted(c.answer()["id"] for _ in range(2))
    assert ids == [1, 2]
    assert c.recv() is None
    c.close()


# --- tracking ---------------------------------------------------------------

def test_subscribe_sees_relayed_message(moatd, sink):
    s = sink()
    m = moatd(s)

    raw = RawCtl(m.socket)
    ok(raw.call("tracking.subscribe"))
    filtered = RawCtl(m.socket)
    ok(filtered.call("tracking.subscribe", outcome="rejected"))
    n = subscribed(m)
    sub_json = m.subscribe()
    human = Subscription([MOATCTL, "-s", str(m.socket),
                          "tracking.subscribe"], dict(m.env(), COLUMNS="120"))
    m.subs.append(human)
    wait_until(lambda: subscribed(m) >= n + 2, 15,
               "both moatctl subscribers to subscribe")

    mid = new_message_id("ctl")
    send_mail(m.port, "alice@example.org", ["bob@example.com"],
              message(mid, subject="ctl \x1b[31mred\x1b[0m subject"))
    s.wait_message_id(mid)

    ev = raw.event()
    assert ev["event"] == "tracking"
    rec = ev["data"]
    assert norm_mid(rec["message_id"]) == mid
    assert rec["sender"] == "alice@example.org"
    assert [r["address"] for r in rec["rcpts"]] == ["bob@example.com"]
    assert rec["outcome"] == "relayed"
    qid = rec["queue_id"]

    recs = sub_json.collect(lambda got: any(
        r.get("queue_id") == qid for r in got))
    assert any(norm_mid(r.get("message_id")) == mid for r in recs)

    line = wait_until(lambda: next((ln for ln in human.lines if qid in ln),
                                   None), 15, "a human-readable event line")
    assert "relayed" in line and "alice@example.org" in line
    assert "\x1b" not in line
    assert len(line) <= 120

    # The filtered subscriber got nothing; its connection still works.
    a = filtered.call("status")
    ok(a)
    assert filtered.events == []

    # The same message through the store, which commits in batches.
    wait_until(lambda: m.tracking(sender="alice"), 10, "the tracking commit")
    got = m.ctl("tracking.get", queue_id=qid)
    assert got["queue_id"] == qid and norm_mid(got["message_id"]) == mid
    items = m.tracking(sender="alice")
    assert [r["queue_id"] for r in items] == [qid]
    assert m.tracking(sender="nobody-sent-this") == []
    assert m.tracking(outcome="rejected") == []
    stats = m.ctl("stats.get")
    assert stats["totals"]["relayed"] >= 1
    assert m.ctl("status")["counters"]["messages"] >= 1

    # People get a table that fits the terminal.
    rc, out, errtext = moatctl(["-s", str(m.socket), "tracking.search"],
                               dict(m.env(), COLUMNS="80"))
    assert rc == 0, errtext
    rows = out.splitlines()
    assert rows[0].split()[:3] == ["TIME", "QUEUE", "ID"]
    assert any(qid in r for r in rows[1:])
    assert all(len(r) <= 80 for r in rows), rows
    assert "\x1b" not in out
    rc, out, errtext = moatctl(["-s", str(m.socket), "tracking.get",
                                "queue_id=" + qid], m.env())
    assert rc == 0 and qid in out and "bob@example.com" in out
    rc, out, errtext = moatctl(["-s", str(m.socket), "stats.get"], m.env())
    assert rc == 0 and "relayed" in out

    raw.close()
    filtered.close()


# --- roles --------------------------------------------------------------------

def _run(*argv):
    subprocess.run(list(argv), check=True, capture_output=True, timeout=30)


@pytest.fixture
def role_user():
    """A system user whose supplementary group (not its primary one) is
    made the role group in the test's configuration; removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a user and switch to it")
    name = "moatctl%d" % os.getpid()
    _run("groupadd", "--system", name)
    try:
        _run("useradd", "--system", "--no-create-home", "--home-dir",
             "/nonexistent", "--shell", "/usr/sbin/nologin",
             "--gid", "nogroup", "--groups", name, name)
        try:
            yield name
        finally:
            _run("userdel", name)
    finally:
        _run("groupdel", name)


def as_user(user):
    """setpriv prefix: run as user with group nogroup and no supplementary
    groups at all, so only the user database can give it a role."""
    return ["setpriv", "--reuid=" + user, "--regid=nogroup",
            "--clear-groups"]


def world_reachable(m):
    m.dir.chmod(0o755)
    path = m.dir
    while path != path.parent:
        assert os.stat(path).st_mode & 0o001, \
            "%s is not searchable by others" % path
        path = path.parent


def test_peer_without_role_is_refused(moatd, sink):
    if os.geteuid() != 0:
        pytest.skip("needs root to run moatctl as another user")
    pwd.getpwnam("nobody")
    m = moatd(sink(), start=False)
    set_control(m, mode="0666")
    world_reachable(m)
    m.start()

    rc, out, errtext = moatctl(["-s", str(m.socket), "status"], m.env(),
                               prefix=as_user("nobody"))
    assert rc == 1, (out, errtext)
    assert "forbidden" in errtext
    assert "role none may not run status" in errtext
    for cmd in ["config.get", "tracking.search", "stats.get"]:
        rc, out, errtext = moatctl(["-s", str(m.socket), cmd], m.env(),
                                   prefix=as_user("nobody"))
        assert rc == 1 and "forbidden" in errtext, (cmd, errtext)
    # Root still is admin on the same socket.
    assert m.ctl("config.get")["node"]["name"] == "e2e"


def test_auditor_and_admin_groups(moatd, sink, role_user):
    m = moatd(sink(), start=False)
    set_control(m, mode="0666", auditor_group=role_user,
                admin_group="moat-nobody-is-in-this-group")
    world_reachable(m)
    m.start()
    sock = str(m.socket)

    rc, out, errtext = moatctl(["-s", sock, "--json", "status"], m.env(),
                               prefix=as_user(role_user))
    assert rc == 0, errtext
    assert json.loads(out)["role"] == "auditor"
    rc, out, errtext = moatctl(["-s", sock, "--json", "tracking.search"],
                               m.env(), prefix=as_user(role_user))
    assert rc == 0, errtext
    rc, out, errtext = moatctl(["-s", sock, "config.get"], m.env(),
                               prefix=as_user(role_user))
    assert rc == 1
    assert "forbidden" in errtext
    assert "role auditor may not run config.get" in errtext
    rc, out, errtext = moatctl(["-s", sock, "config.reload"], m.env(),
                               prefix=as_user(role_user))
    assert rc == 1 and "forbidden" in errtext

    # The same group as admin_group makes the user an admin.
    m.stop()
    m.conf.write_text(m.conf.read_text().replace(
        'auditor_group = "%s"; admin_group = "moat-nobody-is-in-this-group";'
        % role_user, 'admin_group = "%s";' % role_user))
    m.start()
    rc, out, errtext = moatctl(["-s", sock, "--json", "config.get"], m.env(),
                               prefix=as_user(role_user))
    assert rc == 0, errtext
    assert json.loads(out)["control"]["admin_group"] == role_user
