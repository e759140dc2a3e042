#!/bin/sh
# make run: a self-contained Moat instance in ./run/.
#   a sink on 127.0.0.1:10025 stores what moatd relays in run/delivered/,
#   build/moatd listens on 127.0.0.1:10024 (config run/moat.conf),
#   the sample messages of tests/tools/sample-mail/ go through it,
#   then the live tracking log (the console, once it exists) until Ctrl-C,
#   which stops everything this script started.
# usage: tests/tools/run.sh [--once]
#   --once  send the samples, print their tracking records and stop
#           (no live view; for a quick check without a terminal)
# State (run/moat.db, run/delivered/) is kept between runs: rm -rf run
# starts afresh. The configuration is written anew each time.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

ONCE=0
case "${1:-}" in
"") ;;
--once) ONCE=1 ;;
*) echo "usage: $0 [--once]" >&2; exit 2 ;;
esac

RUN=run
IN_PORT=10024
SINK_PORT=10025
MOATD=${MOATD:-build/moatd}
MOATCTL=${MOATCTL:-build/moatctl}
CONSOLE=${MOAT_CONSOLE:-build/moat}
PY=/usr/bin/python3
SAMPLES=tests/tools/sample-mail

die() {
	echo "make run: $*" >&2
	exit 1
}

for f in "$MOATD" "$MOATCTL"; do
	[ -x "$f" ] || die "$f is missing: run 'make all' first"
done
[ -x "$PY" ] || die "$PY is missing: run 'make deps'"
"$PY" -c 'import aiosmtpd' 2>/dev/null ||
    die "python3-aiosmtpd is missing (the sink needs it): run 'make deps'"

# --- ports -------------------------------------------------------------------
BUSY=$("$PY" - "$IN_PORT" "$SINK_PORT" <<'EOF'
import socket, sys
for port in sys.argv[1:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", int(port)))
    except OSError:
        print(port)
    finally:
        s.close()
EOF
)
if [ -n "$BUSY" ]; then
	for p in $BUSY; do
		echo "make run: port 127.0.0.1:$p is already in use:" >&2
		ss -Hltnp "sport = :$p" 2>/dev/null | sed 's/^/    /' >&2 || true
	done
	echo "make run needs 127.0.0.1:$IN_PORT (moatd) and" \
	    "127.0.0.1:$SINK_PORT (the sink). Stop what holds them" \
	    "(another 'make run', or a Postfix set up as in INSTALL) and" \
	    "try again." >&2
	exit 1
fi

# --- processes and cleanup -------------------------------------------------
SINK_PID=
MOATD_PID=
SUB_PID=

stop_pid() {	# pid: TERM, then KILL when it has not gone within 10 s
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || return 0
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

cleanup() {
	trap - EXIT INT TERM
	[ -z "$SINK_PID$MOATD_PID" ] || echo "make run: stopping" >&2
	stop_pid "$SUB_PID"
	stop_pid "$MOATD_PID"	# SIGTERM: moatd finishes what is in flight
	stop_pid "$SINK_PID"
}
trap cleanup EXIT
trap 'cleanup; exit 0' INT	# Ctrl-C is how make run ends
trap 'cleanup; exit 143' TERM

# Wait until 127.0.0.1:$1 accepts while process $2 lives (15 s at most).
wait_port() {
	"$PY" - "$1" "$2" <<'EOF'
import os, signal, socket, sys, time
signal.signal(signal.SIGINT, signal.SIG_DFL)	# Ctrl-C: no traceback
port, pid = int(sys.argv[1]), int(sys.argv[2])
deadline = time.monotonic() + 15
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(1)
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
}

# --- the instance ----------------------------------------------------------------
mkdir -p "$RUN/delivered" "$RUN/quarantine" "$RUN/rules.d"
# The shipped rules, signatures and policy; kept across runs so that what
# is changed from the console stays changed.
[ -d "$RUN/rules.d/policy" ] || cp -R rules.d/. "$RUN/rules.d/"
cat >"$RUN/moat.conf" <<EOF
# Written by tests/tools/run.sh (make run), rewritten on each run.
# Relative paths resolve against this file's folder ($RUN/).
node    = { name = "run"; user = "$(id -un)"; };	# no privilege change
smtp    = { listen = ( { address = "127.0.0.1"; port = $IN_PORT; direction = "inbound"; } );
            next_hop = "127.0.0.1:$SINK_PORT";
            hostname = "moat.run.test";
            local_domains = [ "example.com" ];
            max_message_size = 52428800; max_recipients = 1000;
            xforward_hosts = [ "127.0.0.0/8", "::1/128" ]; };
control = { socket = "control.sock"; mode = "0660"; };
storage = { backend = "sqlite"; path = "moat.db"; quarantine_dir = "quarantine";
            tracking_days = 30; };
rules   = { dir = "rules.d"; };
log     = { syslog = false; level = "info"; };
# The demo has no network: DNS checks off; greylisting would hold the
# samples back for minutes.
filters = { greylist = { enabled = false; }; dnsbl = { enabled = false; };
            surbl = { enabled = false; }; spf = { enabled = false; };
            dkim = { enabled = false; }; dmarc = { enabled = false; }; };
EOF
if ! "$MOATD" -t -c "$RUN/moat.conf" >"$RUN/moatd-check.log" 2>&1; then
	cat "$RUN/moatd-check.log" >&2
	die "moatd -t rejects $RUN/moat.conf (above)"
fi

"$PY" tests/tools/sink.py --listen "127.0.0.1:$SINK_PORT" \
    --dir "$RUN/delivered" >"$RUN/sink.log" 2>&1 &
SINK_PID=$!
if ! wait_port "$SINK_PORT" "$SINK_PID"; then
	tail -n 20 "$RUN/sink.log" >&2
	die "the sink did not start (its log: $RUN/sink.log)"
fi

"$MOATD" -f -c "$RUN/moat.conf" >"$RUN/moatd.log" 2>&1 &
MOATD_PID=$!
if ! wait_port "$IN_PORT" "$MOATD_PID"; then
	tail -n 20 "$RUN/moatd.log" >&2
	die "moatd did not start (its log: $RUN/moatd.log)"
fi
i=0
while [ ! -S "$RUN/control.sock" ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ -S "$RUN/control.sock" ] || die "moatd made no control socket $RUN/control.sock"

# --- sending ---------------------------------------------------------------------
# Like Postfix's content filter client: EHLO, XFORWARD with the original
# client (when offered), pipelined MAIL/RCPT/DATA; envelope from the headers.
send_samples() {
	"$PY" - "$IN_PORT" "$SAMPLES"/*.eml >"$RUN/send.log" 2>&1 <<'EOF'
import email, email.utils, os, re, signal, smtplib, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)	# Ctrl-C: no traceback

port, files = int(sys.argv[1]), sys.argv[2:]
failed = 0
for i, path in enumerate(files, 1):
    raw = open(path, "rb").read()
    msg = email.message_from_bytes(raw)
    sender = email.utils.parseaddr(msg.get("From", ""))[1]
    rcpts = [a for _, a in email.utils.getaddresses(
        msg.get_all("To", []) + msg.get_all("Cc", [])) if a]
    data = re.sub(rb"\r?\n", b"\r\n", raw)
    name = os.path.basename(path)
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
            s.ehlo("mail.example.com")
            if s.has_extn("xforward"):
                s.docmd("XFORWARD", "NAME=mx%d.example.net ADDR=192.0.2.%d "
                        "PROTO=ESMTP HELO=mx%d.example.net SOURCE=REMOTE"
                        % (i, 10 + i, i))
            opts = []
            if any(b > 127 for b in data) and s.has_extn("8bitmime"):
                opts.append("BODY=8BITMIME")
            code, text = s.mail(sender, opts)
            if code != 250:
                raise smtplib.SMTPResponseException(code, text)
            taken = 0
            for r in rcpts:
                rc, rt = s.rcpt(r)
                if rc in (250, 251):
                    taken += 1
                else:
                    print("  %-28s RCPT %s: %d %s" % (name, r, rc,
                          rt.decode(errors="replace")))
            if taken == 0:
                raise smtplib.SMTPResponseException(rc, rt)
            code, text = s.data(data)
            print("  %-28s %s -> %d recipient(s): %d %s" % (
                name, sender, taken, code, text.decode(errors="replace")))
            failed += code != 250
    except (OSError, smtplib.SMTPException) as e:
        print("  %-28s not sent: %s" % (name, e))
        failed += 1
sys.exit(1 if failed else 0)
EOF
	rc=$?
	cat "$RUN/send.log"
	return $rc
}

# Wait (10 s at most) until tracking holds the $1 messages since $2 (ms).
wait_tracked() {
	"$PY" - "$MOATCTL" "$RUN/control.sock" "$1" "$2" <<'EOF'
import json, signal, subprocess, sys, time
signal.signal(signal.SIGINT, signal.SIG_DFL)	# Ctrl-C: no traceback
moatctl, sock, want, since = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
deadline = time.monotonic() + 10
while True:
    out = subprocess.run([moatctl, "-s", sock, "--json", "tracking.search",
                          "from_ms=" + since, "limit=100"],
                         capture_output=True, text=True).stdout
    try:
        doc = json.loads(out)
        items = (doc.get("result") or doc).get("items", [])
    except (ValueError, AttributeError):
        items = []
    if len(items) >= want or time.monotonic() > deadline:
        sys.exit(0 if len(items) >= want else 1)
    time.sleep(0.1)
EOF
}

NSAMPLES=$(find "$SAMPLES" -name '*.eml' | wc -l)
SINCE=$("$PY" -c 'import time; print(int(time.time() * 1000) - 1000)')
echo
echo "Sending the $NSAMPLES sample messages of $SAMPLES/ to moatd:"
STATUS=0
send_samples || STATUS=1
NSENT=$(grep -c ' 250 ' "$RUN/send.log" || true)
wait_tracked "$NSENT" "$SINCE" ||
    echo "make run: tracking does not show all $NSENT messages yet" >&2
echo
echo "Their tracking records ($MOATCTL -s $RUN/control.sock tracking.search):"
"$MOATCTL" -s "$RUN/control.sock" tracking.search "from_ms=$SINCE" limit=20 ||
    STATUS=1
echo "Delivered: $(find "$RUN/delivered" -name '*.json' | wc -l) messages so far in $RUN/delivered/"

cat <<EOF

Moat is running (make run)
  moatd        $MOATD -f -c $RUN/moat.conf   (pid $MOATD_PID)
  SMTP in      127.0.0.1:$IN_PORT  (where Postfix's content filter would deliver)
  next hop     127.0.0.1:$SINK_PORT  tests/tools/sink.py (pid $SINK_PID)
  delivered    $RUN/delivered/   (<n>.eml as relayed, <n>.json its envelope)
  database     $RUN/moat.db      control socket $RUN/control.sock
  logs         $RUN/moatd.log  $RUN/sink.log  $RUN/send.log
  try          $MOATCTL -s $RUN/control.sock status
               $MOATCTL -s $RUN/control.sock tracking.search text=invoice
               swaks --server 127.0.0.1:$IN_PORT --from me@example.org --to you@example.com
EOF

if [ "$ONCE" -eq 1 ]; then
	exit $STATUS
fi

if [ -x "$CONSOLE" ]; then
	# The console needs the terminal: in the foreground.
	echo
	"$CONSOLE" -s "$RUN/control.sock" || true
	exit 0
fi

echo
echo "Live tracking ($MOATCTL -s $RUN/control.sock tracking.subscribe)," \
    "one line per message; Ctrl-C stops moatd and the sink:"
"$MOATCTL" -s "$RUN/control.sock" tracking.subscribe &
SUB_PID=$!
# Until Ctrl-C, or until moatd goes away and the subscription ends.
wait "$SUB_PID" || true
SUB_PID=
if ! kill -0 "$MOATD_PID" 2>/dev/null; then
	echo "make run: moatd exited; the end of $RUN/moatd.log:" >&2
	tail -n 20 "$RUN/moatd.log" >&2
	exit 1
fi
