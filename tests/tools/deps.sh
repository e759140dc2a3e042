#!/bin/sh
# Installs the Debian packages that building, running and testing Moat need.
# Does nothing when all are installed; otherwise apt-get update + install
# (with sudo when not root). Postfix is preseeded "No configuration" so that
# no system instance starts on port 25; the tests run their own instances.
# Later work adds packages to MOAT_DEPS only.
set -eu

MOAT_DEPS="build-essential pkg-config make libevent-dev libconfig-dev
	libsqlite3-dev libjansson-dev libcmocka-dev libgmime-3.0-dev libssl-dev
	python3 python3-pytest python3-aiosmtpd postfix swaks sqlite3 tmux
	libncurses-dev procps iproute2 util-linux
	libpcre2-dev
	libspf2-dev libopendkim-dev libopendmarc-dev dnsmasq-base python3-dkim openssl
	libmagic-dev
	libclamav-dev
	libarchive-dev
	libhyperscan-dev
	libldap2-dev slapd ldap-utils
	libssh-dev libcrypt-dev openssh-client sshpass"

missing=""
for pkg in $MOAT_DEPS; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null) ||
	    status=""
	[ "$status" = "installed" ] || missing="$missing $pkg"
done
[ -n "$missing" ] || exit 0

echo "deps: installing:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "deps: not root and no sudo; install as root:$missing" >&2
		exit 1
	fi
	SUDO="sudo"
fi

case " $missing " in
*" postfix "*)
	# Keep the package from configuring and starting a system MTA.
	printf '%s\n' \
	    "postfix postfix/main_mailer_type select No configuration" \
	    "postfix postfix/mailname string moat.test" |
	    $SUDO debconf-set-selections
	;;
esac

$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends $missing
