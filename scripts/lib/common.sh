# shellcheck shell=bash
# Helpers shared by scripts/install-deps and scripts/dev-env. Source it; do not run it.
#
# Everything human-readable goes to stderr, so that stdout stays free for output
# meant for `eval` (dev-env up/env).

# Repository root: this file lives in <repo>/scripts/lib/.
PGCDC_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Jars, Maven output and other downloads live outside the repo so `git clean`
# does not throw them away and they are never committed.
PGCDC_CACHE_DIR="${PGCDC_CACHE_DIR:-${HOME:-/root}/.cache/pgcdc}"

PGCDC_KAFKA_POM="$PGCDC_REPO_ROOT/tools/kafka/pom.xml"

log() { printf '%s: %s\n' "${PGCDC_LOG_TAG:-pgcdc}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# Run a command as root: directly when we are root (CI, containers), via sudo otherwise.
as_root() {
    if is_root; then "$@"; else sudo "$@"; fi
}

# The Kafka version is declared once, in tools/kafka/pom.xml (<kafka.version>).
kafka_version() {
    local v
    v="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$PGCDC_KAFKA_POM" | head -n1)"
    [[ -n "$v" ]] || die "cannot read <kafka.version> from $PGCDC_KAFKA_POM"
    printf '%s\n' "$v"
}

# Directory that holds the Kafka jars (filled by install-deps).
kafka_home() { printf '%s/kafka-%s\n' "$PGCDC_CACHE_DIR" "$(kafka_version)"; }

# Marker written by install-deps after a complete download; it stores the pom's
# checksum so editing the pom (e.g. a version bump) triggers a new download.
kafka_marker() { printf '%s/.complete\n' "$(kafka_home)"; }
kafka_pom_sum() { sha256sum "$PGCDC_KAFKA_POM" | cut -d' ' -f1; }
kafka_is_installed() {
    local m
    m="$(kafka_marker)"
    [[ -f "$m" && "$(cat "$m")" == "$(kafka_pom_sum)" ]]
}

# ---- PostgreSQL versions (tools/postgres/versions) ----
PGCDC_PG_VERSIONS_FILE="$PGCDC_REPO_ROOT/tools/postgres/versions"
# The version scripts/dev-env starts when none is asked for: Debian 12's own.
PGCDC_PG_DEFAULT_MAJOR=15
# Debian's client tools (psql, pg_isready): the npm package has none, and psql 15 talks to 16-18.
PGCDC_PG_CLIENT_BIN="${PGCDC_PG_CLIENT_BIN:-/usr/lib/postgresql/15/bin}"

# Where install-deps unpacks server binaries. As root the servers run as the `postgres` user,
# which cannot enter root's home directory: the binaries then live under /var/cache.
pg_cache_dir() {
    if [[ -n "${PGCDC_PG_CACHE_DIR:-}" ]]; then
        printf '%s\n' "$PGCDC_PG_CACHE_DIR"
    elif is_root; then
        printf '/var/cache/pgcdc/pg\n'
    else
        printf '%s/pg\n' "$PGCDC_CACHE_DIR"
    fi
}

# The npm package version pinned for MAJOR, or nothing.
pg_package_version() {
    awk -v m="$1" '$1 == m { print $2 }' "$PGCDC_PG_VERSIONS_FILE"
}

# The majors install-deps can fetch, space-separated.
pg_known_majors() {
    printf '%s ' "$PGCDC_PG_DEFAULT_MAJOR"
    awk '!/^#/ && NF == 2 { printf "%s ", $1 }' "$PGCDC_PG_VERSIONS_FILE"
    printf '\n'
}

# The directory holding initdb, pg_ctl and postgres of MAJOR (installed or not).
pg_server_bin() {
    local major="$1" version
    if [[ "$major" == "$PGCDC_PG_DEFAULT_MAJOR" ]]; then
        printf '/usr/lib/postgresql/%s/bin\n' "$major"
        return 0
    fi
    version="$(pg_package_version "$major")"
    [[ -n "$version" ]] || die "PostgreSQL $major is not one of $(pg_known_majors)(tools/postgres/versions)"
    printf '%s/%s/bin\n' "$(pg_cache_dir)" "$version"
}

# Whether MAJOR's server binaries are complete (install-deps writes .complete last).
pg_is_installed() {
    local major="$1" bin
    bin="$(pg_server_bin "$major")"
    if [[ "$major" == "$PGCDC_PG_DEFAULT_MAJOR" ]]; then
        [[ -x "$bin/initdb" ]]
    else
        [[ -f "$(dirname "$bin")/.complete" && -x "$bin/postgres" ]]
    fi
}
