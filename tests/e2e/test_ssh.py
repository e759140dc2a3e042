"""The SSH front: moatd's embedded libssh server runs the moat console for
local users (user.add / user.passwd / user.del / user.list).

moatd listens for SSH on a free loopback port; the OpenSSH client (with
sshpass for the password) logs in inside a tmux server of its own and we
read the console's screen with capture-pane. Refusals (wrong password,
unknown user, exec, port forwarding) are checked with plain ssh runs.
The login-to-first-screen time is printed (never asserted).
"""

import itertools
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import CtlError, free_port, wait_until

SSH = shutil.which("ssh")
SSHPASS = shutil.which("sshpass")
TMUX = shutil.which("tmux")

pytestmark = pytest.mark.skipif(
    SSH is None or SSHPASS is None or TMUX is None,
    reason="needs ssh, sshpass and tmux (tests/tools/deps.sh)")

SSH_OPTS = ["-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR",
            "-o", "PubkeyAuthentication=no",
            "-o", "PreferredAuthentications=password",
            "-o", "NumberOfPasswordPrompts=1",
            "-o", "ConnectTimeout=10",
            "-F", "/dev/null"]

_seq = itertools.count()


@pytest.fixture
def gw(moatd, sink, instance_dir, request):
    """moatd with SSH on, users alice (admin) and audrey (auditor).
    Host keys are made with ssh-keygen (RSA under ASan is slow), except
    for test_host_keys, which checks that moatd makes its own."""
    port = free_port()
    m = moatd(next_hop=sink(), start=False, conf_extra=(
        'ssh = { enabled = true; host_key_dir = "ssh"; listen = ( '
        '{ address = "127.0.0.1"; port = %d; } ); };\n' % port))
    m.ssh_port = port
    if request.node.name != "test_host_keys":
        d = m.dir / "ssh"
        d.mkdir(mode=0o700)
        for t in ("ed25519", "rsa"):
            subprocess.run(["ssh-keygen", "-q", "-t", t, "-N", "", "-f",
                            str(d / ("ssh_host_%s_key" % t))], check=True,
                           stdin=subprocess.DEVNULL)
    m.start()
    wait_until(lambda: "ssh: listening" in m.log(), 30, "ssh listener")
    m.ctl("user.add", name="alice", role="admin", password="alice-secret")
    m.ctl("user.add", name="audrey", role="auditor",
          password="audrey-secret")
    return m


def ssh_run(m, user, password, *args, timeout=30):
    p = subprocess.run([SSHPASS, "-p", password, SSH, "-p",
                        str(m.ssh_port)] + SSH_OPTS +
                       ["%s@127.0.0.1" % user] + list(args),
                       capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def children(pid):
    """Child processes of pid (zombies included)."""
    out = subprocess.run(["ps", "-o", "pid=,stat=,comm=", "--ppid",
                          str(pid)], capture_output=True, text=True).stdout
    return [line.split() for line in out.splitlines() if line.strip()]


class Term:
    """ssh in a detached tmux server of its own."""

    def __init__(self, m, user, password, argv=None):
        self.server = "moat-ssh-%d-%d" % (os.getpid(), next(_seq))
        if argv is None:
            argv = [SSHPASS, "-p", password, SSH, "-t", "-p",
                    str(m.ssh_port)] + SSH_OPTS + ["%s@127.0.0.1" % user]
        cmd = "env TERM=tmux-256color LANG=C.UTF-8 %s; exec sleep 3600" % \
            " ".join(argv)
        self.t0 = time.monotonic()
        self.tmux("new-session", "-d", "-s", "s", "-x", "100", "-y", "30",
                  cmd)

    def tmux(self, *args):
        p = subprocess.run([TMUX, "-L", self.server, "-f", "/dev/null"] +
                           list(args), capture_output=True, text=True,
                           timeout=15, stdin=subprocess.DEVNULL)
        return p.stdout

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "s")

    def wait(self, what, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            s = self.screen()
            if what in s:
                return s
            if time.monotonic() > deadline:
                pytest.fail("timed out waiting for %r; screen:\n%s" %
                            (what, s))
            time.sleep(0.02)

    def close(self):
        self.tmux("kill-server")


@pytest.fixture
def terms():
    made = []
    yield lambda *a: made.append(Term(*a)) or made[-1]
    for t in made:
        t.close()


def test_user_commands(gw):
    users = gw.ctl("user.list")["users"]
    assert [(u["name"], u["role"]) for u in users] == [
        ("alice", "admin"), ("audrey", "auditor")]
    text = repr(users)
    assert "$y$" not in text and "hash" not in text
    with pytest.raises(CtlError):
        gw.ctl("user.add", name="alice", role="admin", password="xxxxxxxxx")
    with pytest.raises(CtlError):
        gw.ctl("user.add", name="Bad Name", role="admin",
               password="xxxxxxxxx")
    with pytest.raises(CtlError):
        gw.ctl("user.add", name="bob", role="root", password="xxxxxxxxx")
    with pytest.raises(CtlError):
        gw.ctl("user.add", name="bob", role="user", password="short")
    gw.ctl("user.add", name="bob", role="user", password="bob-secret1")
    gw.ctl("user.passwd", name="bob", password="bob-secret2")
    with pytest.raises(CtlError):
        gw.ctl("user.passwd", name="nobody", password="bob-secret2")
    gw.ctl("user.del", name="bob")
    with pytest.raises(CtlError):
        gw.ctl("user.del", name="bob")
    assert len(gw.ctl("user.list")["users"]) == 2


def test_host_keys(gw):
    d = gw.dir / "ssh"
    for f in ("ssh_host_ed25519_key", "ssh_host_rsa_key"):
        assert (d / f).exists()
        assert (d / f).stat().st_mode & 0o777 == 0o600


def test_login_dashboard(gw, terms):
    t = terms(gw, "alice", "alice-secret")
    s = t.wait("Moat")
    ms = (time.monotonic() - t.t0) * 1000
    t.wait("admin")
    print("\nSSH login to first drawn screen: %.0f ms" % ms)
    wait_until(lambda: "login of alice from 127.0.0.1 (password)" in
               gw.log(), 10, "login logged")
    assert "Moat" in s
    last = [u for u in gw.ctl("user.list")["users"]
            if u["name"] == "alice"][0]
    assert last["last_login_addr"] == "127.0.0.1"
    # The console runs as moatd's child while the session lasts ...
    assert children(gw.pid)
    # ... a resize reaches it (TIOCSWINSZ) and it draws again ...
    t.tmux("resize-window", "-t", "s", "-x", "120", "-y", "40")
    t.wait("Moat")
    # ... and a disconnect ends it, reaped (no zombie).
    t.close()
    wait_until(lambda: "session of alice from 127.0.0.1 ended" in gw.log(),
               15, "session end logged")
    wait_until(lambda: not children(gw.pid), 10, "console reaped")


def test_auditor_role(gw, terms):
    t = terms(gw, "audrey", "audrey-secret")
    t.wait("Moat")
    t.wait("auditor")
    wait_until(lambda: "role auditor" in gw.log(), 10, "adopted as auditor")
    # moatd stops (SIGTERM) with the session open: the console is ended
    # and reaped, moatd exits cleanly.
    pid = gw.pid
    kids = [int(c[0]) for c in children(pid)]
    assert kids
    t0 = time.monotonic()
    assert gw.stop() == 0
    print("\nmoatd stop with an open SSH session: %.0f ms" %
          ((time.monotonic() - t0) * 1000))
    for k in kids:
        assert not os.path.exists("/proc/%d" % k)


def test_refused(gw):
    rc, out, err = ssh_run(gw, "alice", "wrong-password", "-T")
    assert rc != 0
    rc, out, err = ssh_run(gw, "mallory", "alice-secret", "-T")
    assert rc != 0
    log = gw.log()
    assert "login of alice from 127.0.0.1 (password) failed" in log
    assert "login of mallory from 127.0.0.1 (password) failed" in log
    # exec is refused: no command runs.
    rc, out, err = ssh_run(gw, "alice", "alice-secret", "ls", "/")
    assert rc != 0
    assert "bin" not in out
    assert "exec request failed" in err, err
    # -L: the tunnel's channel is refused; nothing reaches moatd's SMTP.
    lport = free_port()
    p = subprocess.Popen([SSHPASS, "-p", "alice-secret", SSH, "-N", "-L",
                          "%d:127.0.0.1:%d" % (lport, gw.port), "-p",
                          str(gw.ssh_port), "-o", "LogLevel=INFO"] +
                         SSH_OPTS +
                         ["alice@127.0.0.1"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        def listening():
            try:
                socket.create_connection(("127.0.0.1", lport), 1).close()
                return True
            except OSError:
                return False
        wait_until(listening, 20, "ssh -L listening")
        c = socket.create_connection(("127.0.0.1", lport), 5)
        c.settimeout(10)
        assert c.recv(100) == b""      # closed, no "220" banner
        c.close()
    finally:
        p.kill()
        _o, err = p.communicate()
    assert b"open failed" in err, err


def test_lockout(gw):
    for _ in range(5):
        rc, _o, _e = ssh_run(gw, "audrey", "wrong-password", "-T")
        assert rc != 0
    # Locked: even the right password is refused now.
    rc, out, err = ssh_run(gw, "audrey", "audrey-secret", "-T")
    assert rc != 0
    assert "login of audrey from 127.0.0.1 (password) refused: locked out" \
        in gw.log()
    # Other users from elsewhere are not affected, but this address is.
    rc, out, err = ssh_run(gw, "alice", "alice-secret", "-T")
    assert rc != 0


def test_pubkey(gw, terms):
    keys = {}
    for n in ("good", "other"):
        k = gw.dir / ("id_%s" % n)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                        str(k)], check=True, stdin=subprocess.DEVNULL)
        keys[n] = k
    (gw.dir / "ssh" / "users").mkdir()
    (gw.dir / "ssh" / "users" / "audrey.keys").write_text(
        "# audrey's keys\n" + (gw.dir / "id_good.pub").read_text())
    opts = ["-o", "StrictHostKeyChecking=no", "-o",
            "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "PasswordAuthentication=no", "-o",
            "KbdInteractiveAuthentication=no", "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes", "-F", "/dev/null", "-p",
            str(gw.ssh_port)]
    # A key that is not listed, and a listed key for another user.
    for user, k in (("audrey", "other"), ("alice", "good")):
        p = subprocess.run([SSH, "-T", "-i", str(keys[k])] + opts +
                           ["%s@127.0.0.1" % user, "true"],
                           capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        assert p.returncode != 0
        assert "Permission denied" in p.stderr, p.stderr
    t = terms(gw, "audrey", None, [SSH, "-t", "-i", str(keys["good"])] +
              opts + ["audrey@127.0.0.1"])
    t.wait("Moat")
    t.wait("auditor")
    wait_until(lambda: "login of audrey from 127.0.0.1 (publickey)" in
               gw.log(), 10, "publickey login logged")

