#!/usr/bin/env bash
# compare-outputs.sh - record everything one smtptap binary produces on a fixed
# set of inputs, so that two binaries (e.g. before/after a refactor) can be
# compared byte for byte by diffing their manifests.
#
# Usage:
#   scripts/compare-outputs.sh BINARY RESULTDIR [--big CAPTURE] [--only-big]
#                              [--timeout SECS]
#
# Inputs (paths relative to the repository root, which the script cd's into):
#   - every pcaps/*.pcap, pcaps/*.pcapng, pcaps/*.pcap.gz    one run each:
#       BINARY -q -r FILE -o OUT
#   - every capture under ../shared/corpus (*.pcap, *.pcapng, *.cap, *.trace,
#     and their .gz forms; the corpus ships some .gz files next to a
#     decompressed copy, both are run)                       one run each
#   - all tests/mime/*.eml together                          one run:
#       BINARY -q --eml FILE... -o OUT
#   - with --big CAPTURE, that capture                       one run
#   --only-big runs only the --big capture.
#   (-q is dropped if BINARY --help does not mention it.)
#
# Output in RESULTDIR (files the script owns are replaced on every run):
#   manifest.txt     per run, in a fixed order:
#                      <input> jsonl <sha256 of OUT/sessions.jsonl | MISSING>
#                      <input> exit <exit code>   (124: killed by --timeout,
#                                                  128+N: signal N)
#                      <input> obj <path under OUT> <sha256>   for every file
#                        under OUT/messages and OUT/files, sorted (C locale)
#                    stats.json is left out on purpose (it may change).
#   jsonl/<safe>.jsonl  each run's sessions.jsonl, for inspecting diffs
#                       (<safe>: the input name with '/' and odd characters
#                       turned into '_').
#   logs/<safe>.stderr  each run's stderr (not compared).
#   sizes.txt        <input> <bytes in OUT before deletion> <seconds> (not
#                    compared: timings vary).
#   binary.txt       the binary's path, sha256 and --version (not compared).
# Each OUT folder (RESULTDIR/out/<safe>) is deleted as soon as its run is
# recorded. At most two runs at a time (2-core machine).
#
# Compare two results with:  diff RESULTDIR_A/manifest.txt RESULTDIR_B/manifest.txt
# and, for a jsonl that differs:  diff RESULTDIR_A/jsonl/X.jsonl RESULTDIR_B/jsonl/X.jsonl
#
# Exit status: 0 when every run was recorded (whatever the runs' own exit
# codes, which are data in the manifest), 2 on a usage error.
# Note: --eml records carry the file's path as given and times taken from the
# file, so run both binaries from the same tree without touching tests/mime.

set -u
export LC_ALL=C

JOBS=2
TIMEOUT=1800

usage() {
    sed -n '6,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

abspath() {
    case $1 in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s/%s\n' "$PWD" "$1" ;;
    esac
}

BINARY=
RESULTDIR=
BIG=
ONLY_BIG=0
while [ $# -gt 0 ]; do
    case $1 in
        --big) [ $# -ge 2 ] || usage; BIG=$2; shift 2 ;;
        --big=*) BIG=${1#--big=}; shift ;;
        --only-big) ONLY_BIG=1; shift ;;
        --timeout) [ $# -ge 2 ] || usage; TIMEOUT=$2; shift 2 ;;
        -h|--help) usage ;;
        -*) echo "compare-outputs: unknown option $1" >&2; usage ;;
        *)
            if [ -z "$BINARY" ]; then BINARY=$1
            elif [ -z "$RESULTDIR" ]; then RESULTDIR=$1
            else echo "compare-outputs: extra argument $1" >&2; usage
            fi
            shift ;;
    esac
done
if [ -z "$BINARY" ] || [ -z "$RESULTDIR" ]; then usage; fi
if [ "$ONLY_BIG" = 1 ] && [ -z "$BIG" ]; then
    echo "compare-outputs: --only-big needs --big CAPTURE" >&2; exit 2
fi
case $TIMEOUT in ''|*[!0-9]*) echo "compare-outputs: bad --timeout" >&2; exit 2 ;; esac

BINARY=$(abspath "$BINARY")
RESULTDIR=$(abspath "$RESULTDIR")
[ -n "$BIG" ] && BIG=$(abspath "$BIG")
if [ ! -x "$BINARY" ]; then echo "compare-outputs: $BINARY is not executable" >&2; exit 2; fi
if [ -n "$BIG" ] && [ ! -r "$BIG" ]; then echo "compare-outputs: cannot read $BIG" >&2; exit 2; fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2

QUIET=()
if "$BINARY" --help 2>&1 | grep -q -- '--quiet\|^ *-q'; then QUIET=(-q); fi

mkdir -p "$RESULTDIR" || exit 2
rm -rf "$RESULTDIR/jsonl" "$RESULTDIR/logs" "$RESULTDIR/parts" "$RESULTDIR/out" \
       "$RESULTDIR/manifest.txt" "$RESULTDIR/sizes.txt"
mkdir -p "$RESULTDIR/jsonl" "$RESULTDIR/logs" "$RESULTDIR/parts" "$RESULTDIR/out" || exit 2
{
    echo "binary $BINARY"
    echo "sha256 $(sha256sum < "$BINARY" | cut -d' ' -f1)"
    echo "version $("$BINARY" --version 2>&1 | head -n1)"
    echo "quiet ${QUIET[*]:-no}"
} > "$RESULTDIR/binary.txt"

# ---- the inputs: one line per run, "<label>\t<kind>\t<path>" ---------------
INPUTS=$RESULTDIR/parts/inputs
: > "$INPUTS"
if [ "$ONLY_BIG" = 0 ]; then
    for f in pcaps/*.pcap pcaps/*.pcapng pcaps/*.pcap.gz; do
        [ -f "$f" ] && printf '%s\tr\t%s\n' "$f" "$f"
    done | sort >> "$INPUTS"
    if [ -d ../shared/corpus ]; then
        find ../shared/corpus -type f \( -name '*.pcap' -o -name '*.pcapng' \
            -o -name '*.cap' -o -name '*.trace' -o -name '*.pcap.gz' \
            -o -name '*.pcapng.gz' -o -name '*.cap.gz' -o -name '*.trace.gz' \) \
            | sort | while IFS= read -r f; do
                printf '%s\tr\t%s\n' "corpus/${f#../shared/corpus/}" "$f"
            done >> "$INPUTS"
    else
        echo "compare-outputs: warning: ../shared/corpus not found, skipped" >&2
    fi
    if ls tests/mime/*.eml > /dev/null 2>&1; then
        printf '%s\teml\t%s\n' "tests/mime/*.eml" "tests/mime" >> "$INPUTS"
    fi
fi
if [ -n "$BIG" ]; then
    printf '%s\tr\t%s\n' "big/$(basename "$BIG")" "$BIG" >> "$INPUTS"
fi

safe_name() {
    printf '%s' "$1" | sed 's/\*/all/g; s/[^A-Za-z0-9._-]/_/g'
}

# ---- one run -----------------------------------------------------------------
run_one() {  # index label kind path
    local idx=$1 label=$2 kind=$3 path=$4
    local safe out part rc t0 t1 size
    safe=$(safe_name "$label")
    out=$RESULTDIR/out/$safe
    part=$RESULTDIR/parts/$(printf '%05d' "$idx")
    rm -rf "$out"
    local -a cmd
    if [ "$kind" = eml ]; then
        local -a emls
        emls=("$path"/*.eml)
        cmd=("$BINARY" "${QUIET[@]}" --eml "${emls[@]}" -o "$out")
    else
        cmd=("$BINARY" "${QUIET[@]}" -r "$path" -o "$out")
    fi
    t0=$(date +%s.%N)
    if [ "$TIMEOUT" -gt 0 ]; then
        timeout --kill-after=10 "$TIMEOUT" "${cmd[@]}" < /dev/null \
            > /dev/null 2> "$RESULTDIR/logs/$safe.stderr"
    else
        "${cmd[@]}" < /dev/null > /dev/null 2> "$RESULTDIR/logs/$safe.stderr"
    fi
    rc=$?
    t1=$(date +%s.%N)
    {
        if [ -f "$out/sessions.jsonl" ]; then
            printf '%s jsonl %s\n' "$label" "$(sha256sum < "$out/sessions.jsonl" | cut -d' ' -f1)"
            cp "$out/sessions.jsonl" "$RESULTDIR/jsonl/$safe.jsonl"
        else
            printf '%s jsonl MISSING\n' "$label"
        fi
        printf '%s exit %s\n' "$label" "$rc"
        if [ -d "$out" ]; then
            ( cd "$out" && for d in messages files; do
                  [ -d "$d" ] && find "$d" -type f -print0
              done | sort -z | xargs -0 -r sha256sum ) \
            | while read -r hash file; do
                  printf '%s obj %s %s\n' "$label" "${file#\*}" "$hash"
              done
        fi
    } > "$part.tmp"
    size=$(du -sb "$out" 2> /dev/null | cut -f1)
    printf '%s %s %s\n' "$label" "${size:-0}" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" > "$part.size"
    rm -rf "$out"
    mv "$part.tmp" "$part"
}

# ---- run them, at most $JOBS at a time --------------------------------------
START=$(date +%s.%N)
idx=0
running=0
while IFS=$'\t' read -r label kind path; do
    idx=$((idx + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n
        running=$((running - 1))
    fi
    run_one "$idx" "$label" "$kind" "$path" &
    running=$((running + 1))
done < "$INPUTS"
wait

# ---- assemble in input order ------------------------------------------------
missing=0
: > "$RESULTDIR/manifest.txt"
: > "$RESULTDIR/sizes.txt"
for i in $(seq 1 "$idx"); do
    p=$RESULTDIR/parts/$(printf '%05d' "$i")
    if [ -f "$p" ]; then
        cat "$p" >> "$RESULTDIR/manifest.txt"
        cat "$p.size" >> "$RESULTDIR/sizes.txt"
    else
        missing=$((missing + 1))
        label=$(sed -n "${i}p" "$INPUTS" | cut -f1)
        echo "compare-outputs: run $i ($label) left no record" >&2
    fi
done
rm -rf "$RESULTDIR/parts" "$RESULTDIR/out"

M=$RESULTDIR/manifest.txt
runs=$(awk '$2 == "exit"' "$M" | wc -l)
objs=$(awk '$2 == "obj"' "$M" | wc -l)
nonzero=$(awk '$2 == "exit" && $3 != 0' "$M" | wc -l)
nojsonl=$(awk '$2 == "jsonl" && $3 == "MISSING"' "$M" | wc -l)
secs=$(awk -v a="$START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
if [ "$nonzero" -gt 0 ]; then
    awk '$2 == "exit" && $3 != 0 { print "compare-outputs: non-zero exit " $3 ": " $1 }' "$M" >&2
fi
echo "compare-outputs: $runs runs, $objs objects, $nonzero non-zero exits, $nojsonl without sessions.jsonl, ${secs}s -> $M"
[ "$missing" -eq 0 ] || exit 1
exit 0
