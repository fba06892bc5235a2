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
