#!/usr/bin/env bash
# A private PostgreSQL server for agf's tests, from the machine's own PostgreSQL binaries
# (Debian's `postgresql` package): a cluster of its own in DIR, on 127.0.0.1:PORT and a
# socket in DIR, with a role `agf` (CREATEDB) whose password is made up at start.
#
#   eval "$(scripts/pg-test-server.sh start DIR [PORT])"   # exports AGF_TEST_POSTGRES(_DIR)
#   scripts/pg-test-server.sh restart DIR                   # what the reliability test does
#   scripts/pg-test-server.sh stop DIR
#
# The tests that need a server read AGF_TEST_POSTGRES (a URL with the password) and make a
# database of their own in it. The server trades durability for speed (fsync off): it holds
# test data only.
set -euo pipefail
cmd=${1:?start, restart or stop}
dir=${2:?the server folder}
port=${3:-54329}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bin" ]; then
    echo "no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)" >&2
    exit 1
fi
# initdb and postgres refuse to run as root.
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$cmd" in
start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    password="agf-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 >"$dir/initdb.log"
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
    as_pg "$bin/psql" -h "$dir" -p "$port" -U postgres -q -d postgres \
        -c "CREATE ROLE agf LOGIN CREATEDB PASSWORD '$password'"
    echo "export AGF_TEST_POSTGRES='postgres://agf:$password@127.0.0.1:$port/postgres'"
    echo "export AGF_TEST_POSTGRES_DIR='$dir'"
    ;;
restart)
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w restart >/dev/null
    ;;
stop)
    as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
*)
    echo "unknown command $cmd: start, restart or stop" >&2
    exit 1
    ;;
esac
