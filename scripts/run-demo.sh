#!/bin/sh
# run-demo.sh - what `make run` does after building: run smtptap on a
# bundled capture and show what it found.
set -e
cd "$(dirname "$0")/.."
pcap=${1:-pcaps/mime-swaks.pcap}
out=out/demo
rm -rf "$out"
bin="${B:-build}/smtptap"
echo "== $bin -r $pcap -o $out"
"$bin" -r "$pcap" -o "$out"
echo
python3 scripts/show.py "$out"
