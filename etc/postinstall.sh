#!/bin/sh
# After `make install` (as root, run by the Makefile when DESTDIR is empty):
# the moat user and role groups, /var/lib/moat owned by moat, the
# configuration readable by moat. Idempotent: run it again at any time.
# Nothing is enabled or started; INSTALL says how.
set -eu

SYSCONFDIR=${SYSCONFDIR:-/etc}
LOCALSTATEDIR=${LOCALSTATEDIR:-/var}
STATE=$LOCALSTATEDIR/lib/moat
CONF=$SYSCONFDIR/moat

if [ "$(id -u)" -ne 0 ]; then
	echo "postinstall: run as root (user moat, groups, $STATE)" >&2
	exit 1
fi
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

NOLOGIN=/usr/sbin/nologin
[ -x "$NOLOGIN" ] || NOLOGIN=/bin/false

for g in moat moat-admin moat-qmanager moat-auditor; do
	if ! getent group "$g" >/dev/null; then
		groupadd --system "$g"
		echo "postinstall: created group $g"
	fi
done
if ! getent passwd moat >/dev/null; then
	useradd --system --gid moat --home-dir "$STATE" --no-create-home \
	    --shell "$NOLOGIN" --comment "Moat mail gateway" moat
	echo "postinstall: created user moat"
fi

# State: database and its spool, quarantine, SSH host keys. The top folders
# only: a large quarantine is not walked on every install.
for d in "$STATE" "$STATE/quarantine" "$STATE/spool" "$STATE/ssh"; do
	install -d -o moat -g moat -m 0750 "$d"
	chown moat:moat "$d"
	chmod 0750 "$d"
done
chmod 0700 "$STATE/ssh"

# Configuration: root writes it, moatd (group moat) reads it.
if [ -d "$CONF" ]; then
	chown root:moat "$CONF"
	chmod 0750 "$CONF"
	[ ! -f "$CONF/moat.conf" ] || { chown root:moat "$CONF/moat.conf";
	    chmod 0640 "$CONF/moat.conf"; }
	if [ -d "$CONF/rules.d" ]; then
		chown -R root:moat "$CONF/rules.d"
		chmod -R u=rwX,g=rX,o= "$CONF/rules.d"
	fi
fi

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi

cat <<MSG
postinstall: done. Next (see INSTALL):
  edit $CONF/moat.conf, check it with: moatd -t -c $CONF/moat.conf
  systemctl enable --now moatd
  give people a role: usermod -aG moat,moat-admin NAME
MSG
