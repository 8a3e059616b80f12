#!/bin/sh
# record-mime.sh - record the MIME captures of pcaps/ (mime-*.pcap, mime-manifest.json).
#
#   sh pcaps/record-mime.sh          (root; Debian 12; loopback traffic only)
#
# Sources record.sh for its set-up only (packages, lo, Postfix configured and
# started, capture(); SMTPTAP_RECORD_SOURCED=1 stops it before it records
# anything), installs mutt if missing, raises Postfix's message_size_limit
# for the 20 MB attachment, then records with pcaps/clients/mime_client.py:
#   mime-builder.pcap   messages built by Python's email package (smtplib)
#   mime-swaks.pcap     swaks --attach, several attachments
#   mime-mutt.pcap      mutt -a in batch mode: $sendmail pipe, then smtp_url
#   mime-corpus.pcap    tests/mime/*.eml (the CRLF-clean ones) as raw bytes
#   mime-big.pcap.gz    20,000,000 random bytes base64, lo MTU 1500, TSO/GSO off
# and writes pcaps/mime-manifest.json after manifest.py's checks (capture
# reassembled by tshark and parsed independently = the clients' logs;
# accepted messages in ~sink/Maildir).  Fails on any difference, on a dropped
# packet, or if the big capture exceeds 30 MB gzipped.  Work files go to
# /tmp/smtptap-record-mime (SMTPTAP_RECORD_WORK).  Rerunnable.
set -eu
SMTPTAP_RECORD_WORK=${SMTPTAP_RECORD_WORK:-/tmp/smtptap-record-mime}
SMTPTAP_RECORD_SOURCED=1
export SMTPTAP_RECORD_WORK
# shellcheck source=record.sh
. "$(cd "$(dirname "$0")" && pwd)/record.sh"
SMTPTAP_RECORD_SOURCED=0

if ! command -v mutt >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mutt >/dev/null
fi
postconf -e "message_size_limit = 40960000"
postfix reload >/dev/null 2>&1
sleep 1

MC="python3 $CLIENTS/mime_client.py"
CORPUS_FILES=$(python3 -c "import sys; sys.path.insert(0, '$CLIENTS'); import mime_client as m; print(' '.join('$ROOT/tests/mime/' + f for f in m.CORPUS))")

capture mime-builder.pcap lo "tcp port 25" $MC builder
capture mime-swaks.pcap lo "tcp port 25" $MC swaks
capture mime-mutt.pcap lo "tcp port 25" $MC mutt --maildir "/home/$SINK/Maildir"
# shellcheck disable=SC2086
capture mime-corpus.pcap lo "tcp port 25" $MC corpus $CORPUS_FILES

# 27 MB through lo: a sender that migrates between CPUs mid-stream gets its
# segments reordered by the per-CPU input backlogs (seen: SACK recovery and
# spurious retransmissions in the capture).  The client is pinned to CPU 0.
lo_set 1500 off
capture mime-big.pcap lo "tcp port 25" taskset -c 0 $MC big
lo_set 65536 on
cd "$HERE"
gzip -9 -n -c mime-big.pcap >mime-big.pcap.gz
rm -f mime-big.pcap
size=$(stat -c %s mime-big.pcap.gz)
[ "$size" -lt 31457280 ] || die "mime-big.pcap.gz is $size bytes"

i=0
until postqueue -p 2>/dev/null | grep -q "Mail queue is empty"; do
    i=$((i + 1)); [ $i -lt 120 ] || die "postfix queue did not drain"; sleep 0.5
done
$MC manifest --work "$WORK" --pcaps "$HERE" --maildir "/home/$SINK/Maildir" --out "$HERE/mime-manifest.json"
echo "record-mime.sh: done"
