#!/bin/sh
# plateau.sh ROUND_SECONDS QUIET_ROUNDS MAX_ROUNDS target... - run each libFuzzer
# target in rounds of ROUND_SECONDS (through fuzz.mk's run, so every round is in
# build/fuzz/runs.log with its command and corpus) until QUIET_ROUNDS rounds in a
# row found no new edge ("cov", libFuzzer's count of covered edges), or MAX_ROUNDS
# rounds ran. Features ("ft") keep growing slowly for ever on any parser, so they
# do not decide; edges do: a plateau here means "no new edge in QUIET_ROUNDS x
# ROUND_SECONDS of fuzzing from a corpus that keeps every earlier round's finds".
#
# Prints and appends to FB/plateau.log one line per round and one verdict per
# target: "plateau after N s" or "no plateau in N s (still rising)". Exits 1 on
# a crash (fuzz.mk's run does) so that a long campaign never hides one.
#
# Each round restarts libFuzzer from the merged working corpus; the corpus load
# is counted in the round (it is a few seconds for these corpora).
ROUND=$1; QUIET=$2; MAX=$3; shift 3
FB=${FB:-build/fuzz}
log="$FB/plateau.log"
mkdir -p "$FB"
echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) $(git rev-parse --short=12 HEAD) round ${ROUND}s quiet $QUIET max $MAX" >>"$log"
for t in "$@"; do
    best=0; quiet=0; n=0; total=0
    while [ "$n" -lt "$MAX" ]; do
        n=$((n + 1))
        # not "make | tail": a pipe's status is tail's, and a crash must stop the campaign
        out=$(make -s --no-print-directory -f fuzz/fuzz.mk run FB="$FB" FUZZ_SECONDS="$ROUND" \
            FUZZ_TARGETS="$t")
        rc=$?
        line=$(echo "$out" | tail -1)
        if [ "$rc" -ne 0 ]; then echo "$t round $n: $line" | tee -a "$log"; exit 1; fi
        total=$((total + ROUND))
        cov=$(echo "$line" | sed -n 's/.* cov \([0-9]*\) .*/\1/p')
        if [ -n "$cov" ] && [ "$cov" -gt "$best" ]; then best=$cov; quiet=0; else quiet=$((quiet + 1)); fi
        echo "$t round $n (${total}s): $line" | tee -a "$log"
        [ "$quiet" -ge "$QUIET" ] && break
    done
    corpus=$(ls "$FB/corpus/$t" | wc -l)
    if [ "$quiet" -ge "$QUIET" ]; then
        verdict="plateau: cov $best, no new edge in the last $((QUIET * ROUND)) s of $total s, corpus $corpus"
    else
        verdict="no plateau in $total s: cov $best still rising, corpus $corpus"
    fi
    echo "$t $verdict" | tee -a "$log"
done
