#!/bin/sh
# Entrypoint of the stand-in for the postgres image, built by
# scripts/compose-smoke from Debian's PostgreSQL when no registry answers.
# It honours what docker-compose.yml uses of the upstream image's
# entrypoint: POSTGRES_USER (default postgres), POSTGRES_PASSWORD,
# POSTGRES_DB (default: the user), PGDATA (/var/lib/postgresql/data), the
# *.sql and *.sh files of /docker-entrypoint-initdb.d run once on an empty
# data directory, and a command that starts with `postgres` (or with an
# option, which is given to postgres). The server listens on every
# interface of the container and asks every TCP client for a password
# (scram-sha-256), as upstream does.
set -eu

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
export PGDATA

case "${1:-postgres}" in
    -*) set -- postgres "$@" ;;
    "") set -- postgres ;;
esac

if [ "$1" != postgres ]; then
    exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown -R postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    chmod 3777 /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "postgres stand-in: POSTGRES_PASSWORD is not set" >&2
        exit 1
    fi
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"

    # Initialise on the unix socket only, so no client sees a half-made database.
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
    psql_() { psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --no-password "$@"; }
    if [ "$POSTGRES_DB" != postgres ]; then
        psql_ --dbname postgres -q -c "CREATE DATABASE \"$POSTGRES_DB\""
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sql) echo "postgres stand-in: running $f"; psql_ --dbname "$POSTGRES_DB" -q -f "$f" ;;
            *.sh) echo "postgres stand-in: running $f"; . "$f" ;;
            *) ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "postgres stand-in: initialised $PGDATA"
fi

exec "$@"
