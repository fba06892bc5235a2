# shellcheck shell=bash
# PostgreSQL of scripts/dev-env: one throw-away cluster on 127.0.0.1:$PG_PORT, state in $STATE/pg.
# Sourced by scripts/dev-env, which sets STATE, PG_PORT and the helpers (log, die, show_tail).
# The server is Debian's PostgreSQL 15 unless `up --pg N` asks for another version (its binaries
# from scripts/install-deps --pg N); psql and pg_isready are always Debian's (PGCDC_PG_CLIENT_BIN).
#
# initdb and postgres refuse to run as root. As root (CI), the data dir belongs to
# the `postgres` user and every server-side command runs through runuser; otherwise
# they run as the calling user.

PG_BIN=""   # the server's initdb, pg_ctl, postgres: set by pg_select_bin
# The server binaries a state dir was made with: later commands (down, pg-restart) use the same.
PG_BIN_FILE="$STATE/pg-bin"
PG_DB=pgcdc
PG_START_TIMEOUT=30   # seconds

# $STATE/pg may be a symlink to a directory under /tmp (see pg_prepare_dir).
PG_LINK="$STATE/pg"
PG_DIR="" PG_DATA="" PG_SOCK_DIR="" PG_LOG=""   # set by pg_resolve_paths

as_pg() {
    if is_root; then
        # cd /: the postgres user may not be allowed into the caller's cwd.
        (cd / && runuser -u postgres -- "$@") 9>&-
    else
        "$@" 9>&-
    fi
}

pg_url() { printf 'postgres://postgres@127.0.0.1:%s/%s\n' "$PG_PORT" "$PG_DB"; }

psql_admin() {
    PGOPTIONS="-c client_min_messages=warning" \
    "$PGCDC_PG_CLIENT_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"
}

# The server binaries: those of `--pg MAJOR` (empty: not given), else those the state dir was made
# with, else $PGCDC_PG_BIN, else Debian's 15. A state dir keeps its version until `down`.
pg_select_bin() {
    local major="$1" recorded=""
    [[ -f "$PG_BIN_FILE" ]] && recorded="$(cat "$PG_BIN_FILE")"
    if [[ -n "$major" ]]; then
        PG_BIN="$(pg_server_bin "$major")" || exit 1
        pg_is_installed "$major" \
            || die "PostgreSQL $major is not installed: run scripts/install-deps --pg $major"
        if [[ -n "$recorded" && "$recorded" != "$PG_BIN" ]]; then
            die "$STATE holds a cluster made with $recorded: run '$0 down' before --pg $major"
        fi
    elif [[ -n "$recorded" ]]; then
        PG_BIN="$recorded"
    else
        PG_BIN="${PGCDC_PG_BIN:-$(pg_server_bin "$PGCDC_PG_DEFAULT_MAJOR")}"
    fi
}

# Remembers the server binaries of this state dir (up).
pg_record_bin() {
    [[ -f "$PG_BIN_FILE" ]] || printf '%s\n' "$PG_BIN" >"$PG_BIN_FILE"
}

# PostgreSQL paths, with $STATE/pg resolved: when it is a symlink to /tmp, the
# postgres user may be unable to go through $STATE itself.
pg_resolve_paths() {
    PG_DIR="$PG_LINK"
    [[ -L "$PG_LINK" ]] && PG_DIR="$(readlink -f "$PG_LINK")"
    PG_DATA="$PG_DIR/data"
    PG_SOCK_DIR="$PG_DIR/run"
    PG_LOG="$PG_DIR/postgres.log"
}

# Create $STATE/pg. When the postgres user cannot reach it (repo under /root, say) or
# the socket path would be too long for a unix socket (~107 bytes), use a directory
# under /tmp instead and leave a symlink, so the layout stays the same.
pg_prepare_dir() {
    if [[ ! -e "$PG_LINK" ]]; then
        pg_make_dir
    fi
    pg_resolve_paths
}

pg_make_dir() {
    local dir="$PG_LINK"
    mkdir -p "$dir"
    is_root && chown postgres:postgres "$dir"
    if (( ${#dir} + 24 > 100 )) || ! as_pg test -w "$dir" -a -x "$dir"; then
        rmdir "$dir"
        dir="$(mktemp -d /tmp/pgcdc-dev-pg.XXXXXX)"
        is_root && chown postgres:postgres "$dir"
        ln -s "$dir" "$PG_LINK"
        log "postgres data in $dir (linked from $PG_LINK)"
    fi
    return 0
}

pg_init() {
    [[ -f "$PG_DATA/PG_VERSION" ]] && return 0
    [[ -x "$PG_BIN/initdb" ]] || die "$PG_BIN/initdb missing: run scripts/install-deps"
    log "initdb $PG_DATA"
    as_pg mkdir -p "$PG_SOCK_DIR"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --no-locale --no-sync \
        >"$STATE/initdb.log" 2>&1 || { show_tail "$STATE/initdb.log"; die "initdb failed"; }

    # Later settings win, so appending is enough.
    as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null <<EOF

# ---- pgcdc dev-env ----
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCK_DIR'
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
# Throw-away test cluster: durability across an OS crash does not matter.
fsync = off
full_page_writes = off
EOF
    # Trust on the socket and on loopback, for normal and replication connections.
    as_pg tee "$PG_DATA/pg_hba.conf" >/dev/null <<'EOF'
# TYPE  DATABASE     USER  ADDRESS        METHOD
local   all          all                  trust
host    all          all   127.0.0.1/32   trust
local   replication  all                  trust
host    replication  all   127.0.0.1/32   trust
EOF
}

# PID of the running postmaster, or nothing.
pg_pid() {
    local pid
    [[ -f "$PG_DATA/postmaster.pid" ]] || return 0
    pid="$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        printf '%s\n' "$pid"
    fi
}

pg_ready() {
    "$PGCDC_PG_CLIENT_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -d postgres -U postgres -t 2
}

pg_wait_ready() {
    local deadline=$((SECONDS + PG_START_TIMEOUT))
    until pg_ready; do
        if (( SECONDS >= deadline )); then
            show_tail "$PG_LOG"
            die "postgres not ready on port $PG_PORT after ${PG_START_TIMEOUT}s"
        fi
        sleep 0.2
    done
}

pg_start() {
    if [[ -n "$(pg_pid)" ]]; then
        pg_wait_ready
        return 0
    fi
    log "starting postgres on 127.0.0.1:$PG_PORT"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$PG_START_TIMEOUT" start >/dev/null \
        || { show_tail "$PG_LOG"; die "postgres failed to start"; }
    pg_wait_ready
}

# Database and extensions the tests expect (idempotent).
pg_setup_db() {
    if [[ "$(psql_admin -d postgres -At -c "select 1 from pg_database where datname = '$PG_DB'")" != 1 ]]; then
        psql_admin -d postgres -c "create database $PG_DB" >&2
    fi
    psql_admin -d "$PG_DB" -c "create extension if not exists hstore" \
        -c "create extension if not exists citext" >&2
}

pg_stop() {
    [[ -f "$PG_DATA/PG_VERSION" ]] || return 0
    local pid
    pid="$(pg_pid)"
    [[ -n "$pid" ]] || return 0
    log "stopping postgres (pid $pid)"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 stop >/dev/null 2>&1 \
        || as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 10 stop >/dev/null 2>&1 \
        || true
    # pg_ctl returns once postmaster.pid is gone, a moment before the process exits.
    local deadline=$((SECONDS + 5))
    while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.1; done
    # Last resort. Backends notice a dead postmaster and exit on their own.
    if kill -0 "$pid" 2>/dev/null; then
        log "postgres did not stop; killing pid $pid"
        kill -KILL "$pid" 2>/dev/null || true
    fi
}

pg_restart() {
    local mode="${1:-fast}"
    case "$mode" in fast|immediate|smart) ;; *) die "pg-restart: mode must be fast or immediate" ;; esac
    log "restarting postgres (-m $mode)"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -m "$mode" -w -t "$PG_START_TIMEOUT" restart >/dev/null \
        || { show_tail "$PG_LOG"; die "postgres restart failed"; }
    pg_wait_ready
}
