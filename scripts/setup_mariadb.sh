#!/usr/bin/env bash
# Installs the MariaDB server and client that tests/remote/ start from a temp datadir.
# Idempotent: does nothing when mariadbd and mariadb-install-db are already on PATH.
# Needs root (apt-get); CI runs as root. Starts no server: the test fixture does that.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have mariadbd && have mariadb-install-db && have mariadb-admin && have mariadb; then
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if have sudo; then SUDO="sudo -n"; else
        echo "setup_mariadb.sh: run as root (or install mariadb-server by hand)" >&2
        exit 1
    fi
fi

# Other installs may hold the dpkg lock (CI installs several things): wait for it.
APT="$SUDO apt-get -o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends"
if ! $APT install mariadb-server mariadb-client >/dev/null 2>&1; then
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
    $APT install mariadb-server mariadb-client >/dev/null
fi

# Debian's postinst may start a system server on :3306; tests never use it, so stop it.
if have service; then $SUDO service mariadb stop >/dev/null 2>&1 || true; fi

have mariadbd && have mariadb-install-db
