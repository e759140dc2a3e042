#!/bin/sh
# How fast a running moatd learns through its control socket, the way an
# administrator trains it: `moatctl learn spam|ham FOLDER` (one
# bayes.learn request and one store transaction per message).
#   sh tests/quality/bayes_learn.sh CORPUS
# CORPUS holds ham/ and spam/. Starts build/moatd (make all) in a
# temporary folder with no listener clients, learns both folders, prints
# the rates and the store's size, stops moatd and removes the folder.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MOATD=${MOATD:-$ROOT/build/moatd}
MOATCTL=${MOATCTL:-$ROOT/build/moatctl}
[ $# -eq 1 ] || { echo "usage: $0 corpus" >&2; exit 2; }
CORPUS=$(cd "$1" && pwd)
for f in "$MOATD" "$MOATCTL"; do
	[ -x "$f" ] || { echo "$f is missing: run 'make' first" >&2; exit 2; }
done

DIR=$(mktemp -d /tmp/moat-learn-XXXXXX)
PORT=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$DIR/moat.conf" <<CONF
smtp = { listen = ( { address = "127.0.0.1"; port = $PORT;
                      direction = "inbound"; } );
         next_hop = "127.0.0.1:9"; };
control = { socket = "control.sock"; };
storage = { path = "moat.db"; quarantine_dir = "quarantine"; };
rules = { dir = "rules.d"; };
log = { syslog = false; level = "info"; };
CONF
mkdir -p "$DIR/rules.d" "$DIR/quarantine"
"$MOATD" -f -c "$DIR/moat.conf" 2> "$DIR/moatd.log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
i=0
while [ ! -S "$DIR/control.sock" ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || { cat "$DIR/moatd.log" >&2; exit 1; }
	sleep 0.1
done
for class in spam ham; do
	n=$(ls "$CORPUS/$class" | wc -l)
	start=$(date +%s.%N)
	"$MOATCTL" -s "$DIR/control.sock" learn "$class" "$CORPUS/$class"
	end=$(date +%s.%N)
	awk -v c="$class" -v n="$n" -v s="$start" -v e="$end" \
	    'BEGIN { printf "%s: %d messages in %.2f s, %.0f msg/s\n", c, n, e - s, n / (e - s) }'
done
"$MOATCTL" -s "$DIR/control.sock" bayes.stats
ls -l "$DIR"/bayes.db* | awk '{ print $5, $9 }'
