#!/usr/bin/env bash
# Fuzzes the pack reader and writer of crates/abio-core with cargo-fuzz (libFuzzer).
#
#   scripts/fuzz.sh                      # 60 s in all, split evenly between the targets
#   FUZZ_SECONDS=600 scripts/fuzz.sh     # 10 minutes in all
#   scripts/fuzz.sh parse                # only the named target(s), with all the time
#
# Targets live in crates/abio-core/fuzz/fuzz_targets. Each run grows its corpus in
# crates/abio-core/fuzz/corpus/<target> (not committed), seeded from fuzz/seeds/<target>.
# A crash leaves its input in crates/abio-core/fuzz/artifacts/<target>/; replay it with
#   (cd crates/abio-core/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run <target> artifacts/<target>/crash-…)
# Every target runs even after one crashes; the exit status is non-zero if any crashed
# (or failed to build).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fuzz_dir="$root/crates/abio-core/fuzz"
total="${FUZZ_SECONDS:-60}"
if ! [[ "$total" =~ ^[0-9]+$ ]] || (( total < 1 )); then
    echo "fuzz.sh: FUZZ_SECONDS must be a positive whole number of seconds, got '$total'" >&2
    exit 2
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

# cargo-fuzz passes -Z flags (sanitizers, coverage) that need a nightly compiler; on the
# stable toolchain RUSTC_BOOTSTRAP=1 unlocks them.
if ! rustc --version | grep -q nightly; then
    export RUSTC_BOOTSTRAP=1
fi

cd "$fuzz_dir"
if (( $# > 0 )); then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi
per=$(( total / ${#targets[@]} ))
(( per >= 1 )) || per=1

# Release build with debug assertions (integer overflow panics) and AddressSanitizer.
build_flags=(--release --debug-assertions)
cargo fuzz build "${build_flags[@]}"

failed=()
for t in "${targets[@]}"; do
    corpus="corpus/$t"
    mkdir -p "$corpus"
    dirs=("$corpus")
    [[ -d "seeds/$t" ]] && dirs+=("seeds/$t")
    echo "=== fuzz.sh: $t for ${per}s" >&2
    if ! cargo fuzz run "${build_flags[@]}" "$t" "${dirs[@]}" -- \
        -max_total_time="$per" -print_final_stats=1; then
        failed+=("$t")
        echo "=== fuzz.sh: $t FAILED; the input is in $fuzz_dir/artifacts/$t/" >&2
    fi
done

if (( ${#failed[@]} > 0 )); then
    echo "fuzz.sh: crashes in: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz.sh: no crash in ${targets[*]} (${per}s each)" >&2
