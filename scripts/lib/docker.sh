# shellcheck shell=bash
# Docker helpers shared by scripts/test-docker and scripts/test-trixie. Source it after common.sh;
# the caller defines `work` (a scratch directory) and calls docker_stop_started_daemon on exit.
#
# No image registry is reachable from this project's machines: Debian base images are made with
# debootstrap and `docker import`, kept in the image store and as a tarball in the cache.

docker_started_pid=""

# Prints one line saying why the test is skipped, and exits 0.
docker_skip() {
    log "skipped: $*"
    exit 0
}

# dockerd, started here when it is not running (docker_stop_started_daemon stops it again).
# Skips when it cannot run on this machine: Docker needs kernel features a machine may lack.
docker_ensure_daemon() {
    command -v dockerd >/dev/null 2>&1 || "$PGCDC_REPO_ROOT/scripts/install-deps" --docker
    docker info >/dev/null 2>&1 && return 0
    is_root || docker_skip "dockerd is not running and starting it needs root"
    log "starting dockerd"
    dockerd >"$work/dockerd.log" 2>&1 &
    docker_started_pid=$!
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && return 0
        kill -0 "$docker_started_pid" 2>/dev/null || break
        sleep 0.5
    done
    docker_skip "dockerd does not start on this machine: $(tail -n 1 "$work/dockerd.log")"
}

docker_stop_started_daemon() {
    [[ -n "$docker_started_pid" ]] || return 0
    kill "$docker_started_pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
        kill -0 "$docker_started_pid" 2>/dev/null || break
        sleep 0.5
    done
}

# debian:$1 and debian:$1-slim (the Dockerfile's runtime stage) from `debootstrap --variant=minbase`.
docker_ensure_debian_image() {
    local suite="$1" tarball
    docker image inspect "debian:$suite" >/dev/null 2>&1 &&
        docker image inspect "debian:$suite-slim" >/dev/null 2>&1 && return 0
    tarball="$PGCDC_CACHE_DIR/docker/debian-$suite-minbase.tar"
    if [[ ! -f "$tarball" ]]; then
        log "making the debian:$suite base image with debootstrap (a few minutes, once)"
        mkdir -p "$(dirname "$tarball")"
        as_root debootstrap --variant=minbase "$suite" "$work/rootfs-$suite" \
            http://deb.debian.org/debian >"$work/debootstrap-$suite.log" 2>&1 ||
            { tail -n 20 "$work/debootstrap-$suite.log" >&2; die "debootstrap $suite failed"; }
        as_root rm -rf "$work/rootfs-$suite/var/cache/apt/archives/"*.deb \
            "$work/rootfs-$suite/var/lib/apt/lists/"*
        as_root tar -C "$work/rootfs-$suite" -cf "$tarball.tmp" .
        mv "$tarball.tmp" "$tarball"
        as_root rm -rf "$work/rootfs-$suite"
    fi
    docker import "$tarball" "debian:$suite" >/dev/null
    docker tag "debian:$suite" "debian:$suite-slim"
}
