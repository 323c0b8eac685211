#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for the given number of seconds
# each, one after the other, and prints one summary line per target:
#
#   fuzz/run.sh [seconds] [target...]      # default: 60 s, every target
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
# Corpora grow in fuzz/corpus/<target>/ (only the committed seed-* files are
# tracked); crashing inputs land in fuzz/artifacts/<target>/. Exits non-zero
# when any target crashed or failed to build.
set -uo pipefail

secs="${1:-60}"
shift || true
case "$secs" in
    '' | *[!0-9]*) echo "usage: $0 [seconds] [target...]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.." || exit 2

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
logs="$(mktemp -d "${TMPDIR:-/tmp}/km-fuzz.XXXXXX")"
status=0

for t in "${targets[@]}"; do
    log="$logs/$t.log"
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    marker="$logs/$t.start"
    touch "$marker"
    cargo +nightly fuzz run "$t" -- -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1
    code=$?
    execs="$(awk '/^stat::number_of_executed_units:/ {n = $2} END {print n}' "$log")"
    rate="$(awk '/^stat::average_exec_per_sec:/ {n = $2} END {print n}' "$log")"
    last="$(grep -E '^#[0-9]+' "$log" | grep 'cov:' | tail -n 1)"
    cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")"
    ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
    corp="$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$last")"
    crashes="$(find "fuzz/artifacts/$t" -type f -newer "$marker" | wc -l)"
    if [ "$code" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        status=1
    fi
    if [ -z "$execs" ]; then
        printf '%-12s did not run (exit %s), see %s\n' "$t" "$code" "$log"
        status=1
        continue
    fi
    printf '%-12s execs=%s (%s/s) cov=%s ft=%s corpus=%s crashes=%s exit=%s log=%s\n' \
        "$t" "$execs" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes" "$code" "$log"
done
exit "$status"
