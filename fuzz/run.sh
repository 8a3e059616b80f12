#!/bin/sh
# run.sh FB SECONDS target:maxlen:dicts:flags... - run each libFuzzer target for
# SECONDS, print one summary line per target, exit 1 if any target crashed
# (or was not built: a target that did not run must not pass).
#
# Corpus directories: build/fuzz/corpus/<t> (written), fuzz/seeds/<t> and
# fuzz/regress/<t> (read). dicts: names of fuzz/dict/*.dict joined by +,
# merged into FB/dict/<t>.dict and given with -dict=. -len_control=0 so
# that -max_len is the bound from the start (otherwise lengths stay near
# the largest seed for a long while). flags: more libFuzzer flags joined
# by + (fuzz.mk's FLAGS_<target>). Crashes, leaks, timeouts and OOMs go
# to build/fuzz/crashes/<t>/; the full log to build/fuzz/logs/<t>.log.
# Known, reported issues are suppressed by fuzz/ubsan.supp and fuzz/lsan.supp.
#
# What reproduces the figures is appended to FB/runs.log: a line with the
# date, the commit (with -dirty and the digest of the changes when the tree
# has any), the digest of fuzz/seeds + fuzz/regress + fuzz/dict, then per
# target the exact command, the corpus size before and its result line.
FB=$1; SECS=$2; shift 2
failed=0
mkdir -p "$FB/logs" "$FB/dict"
runs="$FB/runs.log"
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then
    commit="$commit-dirty:$( (git diff HEAD; git ls-files -o --exclude-standard | sort | xargs cat 2>/dev/null) |
        sha1sum | cut -c1-12)"
fi
seeds=$(find fuzz/seeds fuzz/regress fuzz/dict -type f 2>/dev/null | LC_ALL=C sort | xargs sha1sum |
    sha1sum | cut -c1-12)
nseeds=$(find fuzz/seeds fuzz/regress -type f 2>/dev/null | wc -l)
echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $commit seeds+regress+dict $seeds ($nseeds files)" \
    "seconds $SECS FUZZ_TCP_DIFF=${FUZZ_TCP_DIFF:-1} $(clang --version 2>/dev/null | head -1)" >>"$runs"
for spec in "$@"; do
    IFS=: read -r t maxlen dicts flags <<SPEC
$spec
SPEC
    flags=$(echo "$flags" | tr + ' ')
    corpus="$FB/corpus/$t"; crashes="$FB/crashes/$t"
    mkdir -p "$corpus" "$crashes"
    dirs="$corpus"
    for d in fuzz/seeds/$t fuzz/regress/$t; do [ -d "$d" ] && dirs="$dirs $d"; done
    dict=""
    if [ -n "$dicts" ]; then
        : >"$FB/dict/$t.dict"
        for n in $(echo "$dicts" | tr + ' '); do cat "fuzz/dict/$n.dict" >>"$FB/dict/$t.dict"; done
        dict="-dict=$FB/dict/$t.dict"
    fi
    log="$FB/logs/$t.log"
    before=$(ls "$crashes" | wc -l)
    incorpus=$(ls "$corpus" | wc -l)
    cmd="$FB/$t -max_total_time=$SECS -max_len=$maxlen -len_control=0 $dict $flags -timeout=20"
    cmd="$cmd -rss_limit_mb=2560 -artifact_prefix=$crashes/ -print_final_stats=1 $dirs"
    echo "$t: ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=fuzz/lsan.supp" \
        "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=fuzz/ubsan.supp $cmd" \
        "(working corpus before: $incorpus files)" >>"$runs"
    # shellcheck disable=SC2086
    ASAN_OPTIONS="detect_leaks=1" LSAN_OPTIONS="suppressions=fuzz/lsan.supp" \
        UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=fuzz/ubsan.supp" \
        $cmd >"$log" 2>&1
    rc=$?
    after=$(ls "$crashes" | wc -l)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    # the last time a new feature or coverage was found ("#N NEW" / "REDUCE" lines
    # carry no time: libFuzzer's pulse lines do), as seconds into the run
    lastnew=$(awk '/^#[0-9]+\t(NEW|REDUCE)/ {n=$1} END {print n ? n : "-"}' "$log")
    new=$((after - before))
    status=ok
    if [ ! -x "$FB/$t" ]; then
        status="MISSING ($FB/$t not built)"
        failed=1
    elif [ "$rc" -ne 0 ] || [ "$new" -gt 0 ]; then
        status="CRASH (exit $rc, see $log, $crashes)"
        failed=1
    fi
    line=$(printf '%-13s execs %-9s exec/s %-6s cov %-6s ft %-6s last-new %-9s crashes %s  %s' \
        "$t" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "$lastnew" "$new" "$status")
    echo "$line"
    echo "$line" >>"$runs"
done
exit $failed
