# Shared by bench/run and bench/events (sourced, never run): a throw-away
# PostgreSQL with pg_stat_statements, the components as separate release
# processes on the design's ports (loopback), and their clean-up on exit.
#
# Before sourcing: $work (a fresh directory), $PGPORT. After: psql_, db,
# start, start_all, stop_all, rss_mib, start_nats, $bin, $pgbin,
# components, component_lines, pid_of, pids; PostgreSQL is running with the
# shop's database bootstrapped (db/bootstrap.sql) and a `pgbench` database.

echo "building release binaries..." >&2
cargo build --release -q -p shop
bin=$PWD/target/release
# The component list (crates/topology), one line each in start order:
# name port admin-port role-or-- address-variable-or--.
mapfile -t component_lines < <("$bin/shop" components)
components=() stop_order=()
for line in "${component_lines[@]}"; do read -r name _ <<<"$line"; components+=("$name"); stop_order=("$name" "${stop_order[@]}"); done
cargo build --release -q $(printf -- '-p %s ' "${components[@]}")
printf '%s\n' "${components[@]}" >"$work/components.txt"

# --- PostgreSQL ------------------------------------------------------------
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pgbin/initdb" ] || { echo "PostgreSQL binaries not found: apt-get install postgresql" >&2; exit 1; }
pgdir=$(mktemp -d /tmp/shop-bench-pg.XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$pgdir"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    stop_nats
    as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$pgdir"
}
trap cleanup EXIT
as_pg "$pgbin/initdb" -D "$pgdir/data" -A trust -U postgres >/dev/null
as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w \
    -o "-p $PGPORT -k $pgdir -c listen_addresses=127.0.0.1 -c max_connections=300 \
        -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all \
        -c pg_stat_statements.track_planning=on" start >/dev/null
psql_() { psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres "$@"; }
psql_ -d postgres -c "CREATE DATABASE shop" -c "CREATE DATABASE pgbench"
psql_ -d shop -f db/bootstrap.sql >/dev/null
psql_ -d shop -c "CREATE EXTENSION pg_stat_statements"
db() { echo "postgres://$1:bench@127.0.0.1:$PGPORT/shop"; }

# --- the components ----------------------------------------------------------
export RUST_LOG=warn RATE_LIMIT_PER_SECOND=0 AUTH_RATE_LIMIT_PER_MINUTE=0 ADMIN_PASSWORD=bench-admin
export AUTH_SECRET=bench-secret-0123456789abcdef-0123456789
export PAGE_TOKEN_SECRET=bench-page-token-secret-0123456789abcdef
for line in "${component_lines[@]}"; do
    read -r name port _ _ var <<<"$line"
    [ "$var" != - ] && export "$var=http://127.0.0.1:$port"
done
declare -A pid_of
# Starts a component and appends "component ms-to-ready" to $5.
start() { # $1 = component, $2 = port, $3 = admin port, $4 = database role or -, $5 = file
    local t0=$(date +%s%N) url= tries=0
    [ "$4" != - ] && url=$(db "$4")
    env ${url:+DATABASE_URL=$url} LISTEN_ADDR=127.0.0.1:$2 ADMIN_ADDR=127.0.0.1:$3 "$bin/$1" 2>>"$work/$1.log" &
    pid_of[$1]=$!
    pids+=($!)
    until curl -sf "http://127.0.0.1:$3/readyz" >/dev/null 2>&1; do
        if ! kill -0 "${pid_of[$1]}" 2>/dev/null; then
            # The design ports lie in Linux's ephemeral range: a client
            # connection (to PostgreSQL, say) may have held one and left it
            # in TIME_WAIT for up to a minute. Wait for it, then start again.
            if tail -1 "$work/$1.log" | grep -q "Address already in use" && [ $((tries += 1)) -le 70 ]; then
                sleep 1
                env ${url:+DATABASE_URL=$url} LISTEN_ADDR=127.0.0.1:$2 ADMIN_ADDR=127.0.0.1:$3 "$bin/$1" 2>>"$work/$1.log" &
                pid_of[$1]=$!
                pids+=($!)
                continue
            fi
            echo "$1 died; see $work/$1.log" >&2
            exit 1
        fi
        sleep 0.002
    done
    echo "$1 $(( ($(date +%s%N) - t0) / 1000000 ))" >>"$5"
}
start_all() {
    for line in "${component_lines[@]}"; do
        read -r name port admin role _ <<<"$line"
        start "$name" "$port" "$admin" "$role" "$1"
    done
}
stop_all() { # every component started since the last stop_all
    for c in "${stop_order[@]}"; do
        [ -n "${pid_of[$c]:-}" ] || continue
        kill -INT "${pid_of[$c]}"; wait "${pid_of[$c]}" 2>/dev/null || true
        unset "pid_of[$c]"
    done
    pids=()
}
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

# --- the broker (opt-in) --------------------------------------------------------
# start_nats: a NATS server with JetStream on $NATSPORT (default 54222), from
# target/test-tools/bin/nats-server (which scripts/test installs) or
# NATS_SERVER_BIN; sets $nats_url and $nats_pid and writes
# $work/nats-version.txt. Stopped and removed on exit.
nats_pid= natsdir=
start_nats() {
    local server=${NATS_SERVER_BIN:-$PWD/target/test-tools/bin/nats-server}
    [ -x "$server" ] || server=$(command -v nats-server || true)
    [ -n "$server" ] || { echo "nats-server not found: run scripts/test once, or set NATS_SERVER_BIN" >&2; exit 1; }
    natsdir=$(mktemp -d /tmp/shop-bench-nats.XXXXXX)
    "$server" -a 127.0.0.1 -p "${NATSPORT:-54222}" -js -sd "$natsdir/store" -l "$work/nats.log" &
    nats_pid=$!
    until (exec 3<>"/dev/tcp/127.0.0.1/${NATSPORT:-54222}") 2>/dev/null; do sleep 0.05; done
    nats_url=nats://127.0.0.1:${NATSPORT:-54222}
    "$server" --version >"$work/nats-version.txt"
}
stop_nats() {
    [ -n "$nats_pid" ] && { kill -TERM "$nats_pid" 2>/dev/null || true; wait "$nats_pid" 2>/dev/null || true; }
    [ -n "$natsdir" ] && rm -rf "$natsdir"
    nats_pid= natsdir=
}
