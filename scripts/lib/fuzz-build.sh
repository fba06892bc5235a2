# shellcheck shell=bash
# The clang build that scripts/fuzz and scripts/check-thread-safety share (build-fuzz/ by default):
# one configuration, so each reuses what the other compiled. Source it after common.sh.

fuzz_build_dir() { printf '%s\n' "${PGCDC_FUZZ_BUILD_DIR:-$PGCDC_REPO_ROOT/build-fuzz}"; }

# Configures the clang build in $1: AddressSanitizer + UndefinedBehaviorSanitizer and libFuzzer's
# coverage (fuzzer-no-link) for every library, the harnesses of fuzz/ (PGCDC_FUZZ=ON), and, as in
# every clang build, -Werror=thread-safety (CMakeLists.txt).
configure_fuzz_build() {
    local build="$1"
    local root="$PGCDC_REPO_ROOT"
    command -v clang++ >/dev/null 2>&1 || die "clang++ not found: run scripts/install-deps"
    # RapidJSON's known pointer-overflow report is ignored at compile time (the file says why).
    local ignorelist="-fsanitize-ignorelist=$root/tests/sanitizers/ubsan-ignorelist.txt"
    # fuzzer-no-link instruments the libraries under test for coverage; the harnesses themselves
    # add -fsanitize=fuzzer (fuzz/CMakeLists.txt). Any UB report aborts, so libFuzzer sees it.
    mkdir -p "$build"
    cmake -S "$root" -B "$build" -G Ninja \
        -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DPGCDC_FUZZ=ON -DPGCDC_SANITIZE=address,undefined \
        "-DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link -fno-sanitize-recover=all $ignorelist" \
        >"$build/configure.log" 2>&1 \
        || { cat "$build/configure.log" >&2; die "cmake configure failed"; }
}
