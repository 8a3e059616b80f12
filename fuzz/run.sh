#!/bin/sh
# run.sh FB SECONDS target:maxlen... - run each libFuzzer target for SECONDS,
# print one summary line per target, exit 1 if any target crashed (or was
# not built: a target that did not run must not pass).
#
# Corpus directories: build/fuzz/corpus/<t> (written), fuzz/seeds/<t> and
# fuzz/regress/<t> (read). Crashes, leaks, timeouts and OOMs go to
# build/fuzz/crashes/<t>/; the full log to build/fuzz/logs/<t>.log.
# Known, reported issues are suppressed by fuzz/ubsan.supp and fuzz/lsan.supp.
FB=$1; SECS=$2; shift 2
failed=0
mkdir -p "$FB/logs"
for spec in "$@"; do
    t=${spec%%:*}; maxlen=${spec#*:}
    corpus="$FB/corpus/$t"; crashes="$FB/crashes/$t"
    mkdir -p "$corpus" "$crashes"
    dirs="$corpus"
    for d in fuzz/seeds/$t fuzz/regress/$t; do [ -d "$d" ] && dirs="$dirs $d"; done
    log="$FB/logs/$t.log"
    before=$(ls "$crashes" | wc -l)
    ASAN_OPTIONS="detect_leaks=1" LSAN_OPTIONS="suppressions=fuzz/lsan.supp" \
        UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=fuzz/ubsan.supp" \
        "$FB/$t" -max_total_time="$SECS" -max_len="$maxlen" -timeout=20 -rss_limit_mb=2560 \
        -artifact_prefix="$crashes/" -print_final_stats=1 $dirs >"$log" 2>&1
    rc=$?
    after=$(ls "$crashes" | wc -l)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    new=$((after - before))
    status=ok
    if [ ! -x "$FB/$t" ]; then
        status="MISSING ($FB/$t not built)"
        failed=1
    elif [ "$rc" -ne 0 ] || [ "$new" -gt 0 ]; then
        status="CRASH (exit $rc, see $log, $crashes)"
        failed=1
    fi
    printf '%-13s execs %-9s exec/s %-6s cov %-6s ft %-6s crashes %s  %s\n' \
        "$t" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "$new" "$status"
done
exit $failed
