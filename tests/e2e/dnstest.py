"""Test DNS for the network-check end-to-end tests.

A Zone collects records (A, TXT, MX) and DNSBL/URIBL listings for names
under .test; DnsServer writes them as a dnsmasq configuration and runs
dnsmasq (Debian's dnsmasq-base) on a free loopback port, authoritative for
.test (unknown names answer NXDOMAIN), nothing forwarded anywhere.
DkimKey makes an RSA key with openssl, gives the TXT record to publish
and signs messages with dkimpy (Debian's python3-dkim).

    zone = Zone()
    zone.txt("sign.test", "v=spf1 ip4:192.0.2.0/24 -all")
    zone.dnsbl("rbl.test", "192.0.2.2")
    key = DkimKey(folder, "sel", "sign.test"); zone.txt(key.name, key.record)
    dns = DnsServer(folder, zone).start()      # dns.addr "127.0.0.1:port"
    signed = key.sign(message_bytes)
    ...
    dns.stop()
"""

import base64
import ipaddress
import os
import shutil
import socket
import struct
import subprocess

import pytest

from conftest import free_port, wait_until, _stop_process

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


def reversed_ip(ip):
    """The DNSBL form of an address: 2.2.0.192 for 192.0.2.2, nibbles for
    IPv6."""
    a = ipaddress.ip_address(ip)
    if a.version == 4:
        return ".".join(reversed(ip.split(".")))
    return ".".join(reversed(a.exploded.replace(":", "")))


class Zone:
    def __init__(self):
        self.records = []           # (kind, name, value)

    def a(self, name, ip):
        self.records.append(("a", name, ip))
        return self

    def txt(self, name, text):
        self.records.append(("txt", name, text))
        return self

    def mx(self, name, host, pref=10):
        self.records.append(("mx", name, (host, pref)))
        return self

    def dnsbl(self, zone, ip, answer="127.0.0.2"):
        """List a client address in a DNSBL zone."""
        return self.a("%s.%s" % (reversed_ip(ip), zone), answer)

    def uribl(self, zone, domain, answer="127.0.0.2"):
        """List a registrable domain in a URI blocklist zone."""
        return self.a("%s.%s" % (domain, zone), answer)

    def dnsmasq_lines(self):
        lines = []
        for kind, name, value in self.records:
            if kind == "a":
                # host-record, not address=: exact names only.
                lines.append("host-record=%s,%s" % (name, value))
            elif kind == "txt":
                # Strings of at most 255 bytes, each quoted.
                parts = [value[i:i + 255] for i in range(0, len(value), 255)]
                for p in parts:
                    if '"' in p or "\\" in p:
                        raise ValueError("TXT text with quote: %r" % p)
                lines.append("txt-record=%s,%s" % (
                    name, ",".join('"%s"' % p for p in parts)))
            elif kind == "mx":
                lines.append("mx-host=%s,%s,%d" % (name, value[0],
                                                    value[1]))
        return lines


def dns_query(port, name, qtype=1, timeout=0.5):
    """One UDP query to 127.0.0.1:port; the rcode, or None (no answer)."""
    qid = int.from_bytes(os.urandom(2), "big")
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(q, ("127.0.0.1", port))
            data, _ = s.recvfrom(4096)
        except OSError:
            return None
    if len(data) < 12 or struct.unpack(">H", data[:2])[0] != qid:
        return None
    return data[3] & 0x0f


class DnsServer:
    def __init__(self, folder, zone):
        self.dir = folder
        self.zone = zone
        self.port = free_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.conf = folder / "dnsmasq.conf"
        self.logfile = folder / "dnsmasq.log"
        self.pidfile = folder / "dnsmasq.pid"
        self.proc = None

    def write(self):
        lines = [
            "# written by tests/e2e/dnstest.py",
            "port=%d" % self.port,
            "listen-address=127.0.0.1",
            "bind-interfaces",
            "no-resolv",
            "no-hosts",
            "no-poll",
            "local=/test/",             # authoritative: NXDOMAIN below
            "log-queries",
            "log-facility=%s" % self.logfile,
            "pid-file=%s" % self.pidfile,
            "cache-size=0",
        ] + self.zone.dnsmasq_lines()
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self):
        if not os.path.exists(DNSMASQ):
            pytest.skip("dnsmasq is not installed (dnsmasq-base)")
        self.write()
        argv = [DNSMASQ, "--keep-in-foreground", "--conf-file=%s" %
                self.conf]
        if os.geteuid() == 0:
            argv.append("--user=root")  # the log file stays writable
        log = open(self.dir / "dnsmasq.out", "ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL)
        log.close()

        def up():
            if self.proc.poll() is not None:
                pytest.fail("dnsmasq exited (%s): %s" % (
                    self.proc.returncode,
                    (self.dir / "dnsmasq.out").read_text(errors="replace")))
            return dns_query(self.port, "ready.check.test") is not None
        wait_until(up, 15, "dnsmasq on port %d" % self.port)
        return self

    def stop(self):
        _stop_process(self.proc)
        self.proc = None

    def log(self):
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""


class DkimKey:
    """An RSA key pair for selector._domainkey.domain."""

    def __init__(self, folder, selector, domain, bits=2048):
        self.selector = selector
        self.domain = domain
        self.name = "%s._domainkey.%s" % (selector, domain)
        key = folder / ("dkim-%s-%s.pem" % (selector, domain))
        subprocess.run([OPENSSL, "genrsa", "-out", str(key), str(bits)],
                       check=True, capture_output=True)
        der = subprocess.run([OPENSSL, "rsa", "-in", str(key), "-pubout",
                              "-outform", "DER"], check=True,
                             capture_output=True).stdout
        self.private_pem = key.read_bytes()
        self.record = "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()

    def sign(self, message):
        """message (CRLF bytes) with a DKIM-Signature prepended."""
        try:
            import dkim
        except ImportError:
            pytest.skip("python3-dkim (dkimpy) is not installed")
        sig = dkim.sign(message, self.selector.encode(),
                        self.domain.encode(), self.private_pem,
                        canonicalize=(b"relaxed", b"relaxed"),
                        include_headers=[b"from", b"to", b"subject",
                                         b"date", b"message-id"],
                        linesep=b"\r\n")
        return sig + message
