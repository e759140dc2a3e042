#!/usr/bin/python3
"""SMTP/LMTP sink used as moatd's (or Postfix's) next hop in tests and `make run`.

Every accepted message is stored atomically in DIR as <n>.eml (the message
bytes exactly as received, after dot-unstuffing) and <n>.json (envelope:
mail_from, rcpt_tos, mail_options, rcpt_options, xforward, helo, peer,
proto, time). <n>.json is written last: a reader takes a message as complete
once its .json exists.

    sink.py --listen 127.0.0.1:PORT --dir DIR [--lmtp]
            [--rcpt-reply 'GLOB=451 4.2.0 later' ...]
            [--data-reply '554 5.0.0 no'] [--delay-data SECONDS]
            [--no-xforward] [--pid-file F]

--rcpt-reply answers RCPT for addresses matching GLOB (fnmatch, case-
insensitive) with the given reply instead of 250. --data-reply answers the end
of DATA with that reply and stores nothing (over LMTP: the same reply for each
recipient). --delay-data waits SECONDS after the end of DATA before storing
and answering; when the client goes away during the wait nothing is stored
(the sink never committed the message), so a killed or timed-out client never
produces a delivery. Progress lines go to stderr.

Advertises PIPELINING, SIZE, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, DSN and
XFORWARD; accepts MAIL parameters SIZE, BODY, SMTPUTF8, RET, ENVID and RCPT
parameters NOTIFY, ORCPT. Runs with /usr/bin/python3 (Debian's
python3-aiosmtpd). SIGTERM/SIGINT stop it.
"""

import argparse
import asyncio
import fnmatch
import json
import os
import signal
import sys
import time

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP

SINK_MAX_SIZE = 64 * 1024 * 1024
SINK_LINE_MAX = 1024 * 1024     # record long lines instead of refusing them
XFORWARD_ATTRS = ("NAME", "ADDR", "PROTO", "HELO", "SOURCE", "PORT", "IDENT")
MAIL_PARAMS = ("SIZE", "BODY", "SMTPUTF8", "RET", "ENVID")
RCPT_PARAMS = ("NOTIFY", "ORCPT")


def log(fmt, *args):
    sys.stderr.write("sink: " + (fmt % args) + "\n")
    sys.stderr.flush()


def write_atomic(path, data):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


class Store:
    """Numbered message files in one folder; numbering survives restarts."""

    def __init__(self, path):
        self.path = path
        os.makedirs(path, exist_ok=True)
        last = 0
        for name in os.listdir(path):
            stem, dot, ext = name.partition(".")
            if stem.isdigit() and ext in ("eml", "json"):
                last = max(last, int(stem))
        self.next = last + 1

    def save(self, content, meta):
        n = self.next
        self.next += 1
        meta = dict(meta, n=n, size=len(content))
        write_atomic(os.path.join(self.path, "%d.eml" % n), content)
        write_atomic(os.path.join(self.path, "%d.json" % n),
                     json.dumps(meta, indent=1).encode())
        return n


def split_params(text):
    """'<a@b> SIZE=1 BODY=8BITMIME' params part -> list of 'K=V' strings."""
    return text.split()


def check_params(options, allowed):
    for opt in options:
        key = opt.partition("=")[0].upper()
        if key not in allowed:
            return key
    return None


class SinkMixin:
    """Command handlers shared by the SMTP and LMTP flavours."""

    line_length_limit = SINK_LINE_MAX

    def _set_post_data_state(self):
        super()._set_post_data_state()
        self.envelope.raw_mail_options = []
        self.envelope.raw_rcpt_options = []

    async def smtp_XFORWARD(self, arg):
        if not self.event_handler.xforward:
            return await self.push('500 5.5.1 Error: command "XFORWARD" '
                                   'not recognized')
        if not arg:
            return await self.push("501 5.5.4 Syntax: XFORWARD attr=value")
        xf = getattr(self.session, "xforward", None) or {}
        for item in arg.split():
            key, eq, value = item.partition("=")
            if not eq or key.upper() not in XFORWARD_ATTRS:
                return await self.push("501 5.5.4 Bad XFORWARD attribute")
            xf[key.upper()] = value
        self.session.xforward = xf
        await self.push("250 2.0.0 Ok")

    async def smtp_MAIL(self, arg):
        # aiosmtpd knows SIZE/BODY/SMTPUTF8 only: take the DSN parameters
        # off, let it check the rest, then record the options as sent.
        if not arg or not self.session.extended_smtp:
            return await super().smtp_MAIL(arg)
        addr, sep, params = arg.partition(">")
        options = split_params(params) if sep else []
        bad = check_params(options, MAIL_PARAMS)
        if bad:
            return await self.push("555 5.5.4 Unsupported option: %s" % bad)
        keep = [o for o in options
                if o.partition("=")[0].upper() not in ("RET", "ENVID")]
        await super().smtp_MAIL(addr + sep + " " + " ".join(keep))
        if self.envelope.mail_from is not None:
            self.envelope.raw_mail_options = options

    async def smtp_RCPT(self, arg):
        if not arg or not self.session.extended_smtp:
            return await super().smtp_RCPT(arg)
        addr, sep, params = arg.partition(">")
        options = split_params(params) if sep else []
        bad = check_params(options, RCPT_PARAMS)
        if bad:
            return await self.push("555 5.5.4 Unsupported option: %s" % bad)
        before = len(self.envelope.rcpt_tos)
        await super().smtp_RCPT(addr + sep)
        if len(self.envelope.rcpt_tos) > before:
            self.envelope.raw_rcpt_options.append(options)


class SinkSMTP(SinkMixin, SMTP):
    pass


class SinkLMTP(SinkMixin, LMTP):
    pass


class Handler:
    def __init__(self, args):
        self.store = Store(args.dir)
        self.rcpt_replies = []
        for spec in args.rcpt_reply:
            pattern, eq, reply = spec.partition("=")
            if not eq or not reply[:3].isdigit():
                raise SystemExit("bad --rcpt-reply %r" % spec)
            self.rcpt_replies.append((pattern.lower(), reply))
        self.data_reply = args.data_reply
        self.delay_data = args.delay_data
        self.lmtp = args.lmtp
        self.xforward = not args.no_xforward

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        session.host_name = hostname
        last = responses.pop()          # "250 HELP"
        extra = ["PIPELINING", "ENHANCEDSTATUSCODES", "DSN"]
        if self.xforward:
            extra.append("XFORWARD " + " ".join(XFORWARD_ATTRS))
        responses.extend("250-" + e for e in extra)
        responses.append(last)
        return responses

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        for pattern, reply in self.rcpt_replies:
            if fnmatch.fnmatchcase(address.lower(), pattern):
                log("rcpt %s -> %s", address, reply)
                return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        nrcpt = len(envelope.rcpt_tos)
        if self.delay_data:
            log("delay-data %.1fs from %s (%d bytes)", self.delay_data,
                session.peer, len(envelope.original_content))
            # Cancelled with the session when the client goes away.
            await asyncio.sleep(self.delay_data)
        if self.data_reply:
            log("data -> %s", self.data_reply)
            return self._per_rcpt(self.data_reply, nrcpt)
        meta = {
            # aiosmtpd keeps the null sender as "<>".
            "mail_from": "" if envelope.mail_from == "<>"
            else envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "mail_options": getattr(envelope, "raw_mail_options", []),
            "rcpt_options": getattr(envelope, "raw_rcpt_options", []),
            "smtputf8": bool(envelope.smtp_utf8),
            "xforward": getattr(session, "xforward", None),
            "helo": session.host_name,
            "peer": list(session.peer) if session.peer else None,
            "proto": "LMTP" if self.lmtp else (
                "ESMTP" if session.extended_smtp else "SMTP"),
            "time": time.time(),
        }
        n = self.store.save(envelope.original_content, meta)
        log("stored %d from <%s> to %s (%d bytes)", n, envelope.mail_from,
            ",".join(envelope.rcpt_tos), len(envelope.original_content))
        return self._per_rcpt("250 2.0.0 Ok: stored as %d" % n, nrcpt)

    def _per_rcpt(self, reply, nrcpt):
        if not self.lmtp:
            return reply
        return "\r\n".join([reply] * max(nrcpt, 1))


def parse_args(argv):
    p = argparse.ArgumentParser(description="SMTP/LMTP test sink")
    p.add_argument("--listen", required=True, help="HOST:PORT")
    p.add_argument("--dir", required=True)
    p.add_argument("--lmtp", action="store_true")
    p.add_argument("--rcpt-reply", action="append", default=[],
                   metavar="GLOB=REPLY")
    p.add_argument("--data-reply", default=None)
    p.add_argument("--delay-data", type=float, default=0.0)
    p.add_argument("--no-xforward", action="store_true")
    p.add_argument("--pid-file")
    p.add_argument("--hostname", default="sink.test")
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    host, sep, port = args.listen.rpartition(":")
    if not sep or not port.isdigit():
        raise SystemExit("bad --listen %r" % args.listen)
    host = host.strip("[]")
    handler = Handler(args)
    cls = SinkLMTP if args.lmtp else SinkSMTP
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def factory():
        return cls(handler, data_size_limit=SINK_MAX_SIZE,
                   enable_SMTPUTF8=True, hostname=args.hostname,
                   ident="moat test sink", timeout=120, loop=loop)

    server = loop.run_until_complete(
        loop.create_server(factory, host=host, port=int(port),
                           reuse_address=True))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, loop.stop)
    if args.pid_file:
        write_atomic(args.pid_file, b"%d\n" % os.getpid())
    log("listening on %s:%s (%s)", host, port, "LMTP" if args.lmtp else "SMTP")
    try:
        loop.run_forever()
    finally:
        server.close()
        if args.pid_file:
            try:
                os.unlink(args.pid_file)
            except OSError:
                pass
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
