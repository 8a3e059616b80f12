#!/bin/sh
# record.sh - configure Postfix on loopback and record the test captures of pcaps/.
#
#   sh pcaps/record.sh          (root; Debian 12; loopback traffic only)
#
# Configures Postfix with postconf (loopback only, ports 25, 587 with SASL
# PLAIN/LOGIN from a sasldb, 2525; STARTTLS with a self-signed certificate;
# catch-all delivery to ~sink/Maildir; one recipient refused by an access
# map; header_checks refusing a marked Subject after the final dot;
# default_transport = error), starts it, runs the clients in pcaps/clients/
# under tcpdump, derives the .gz/.pcapng/encapsulated files, then builds
# pcaps/manifest.json with clients/manifest.py, which checks each capture
# against what the clients logged and against the Maildir, and fails on any
# difference.  Rerunnable: every step overwrites what it made before.
#
# Fails (exit 1) if tcpdump reports a dropped packet, a client fails, or a
# check fails; lo's MTU and TSO/GSO are set back to 65536/on/on and Postfix
# is stopped on every exit (SMTPTAP_KEEP_POSTFIX=1 leaves it running).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
CLIENTS="$HERE/clients"
WORK=${SMTPTAP_RECORD_WORK:-/tmp/smtptap-record}
PC=/etc/postfix
SINK=sink
PASSWORD=s3cr3t-never-logged   # = clients/common.py AUTH_PASSWORD
NONSMTP_PORT=8025

die() { echo "record.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root"

# ---------------------------------------------------------------- packages
sh "$ROOT/scripts/deps.sh" record
if ! command -v tshark >/dev/null || ! command -v editcap >/dev/null; then
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tshark >/dev/null
fi

# ---------------------------------------------------------------- loopback
lo_set() {  # lo_set MTU on|off
    ip link set lo mtu "$1"
    ethtool -K lo tso "$2" gso "$2"
}
cleanup() {
    rc=$?
    [ -n "${TCPDUMP_PID:-}" ] && kill -INT "$TCPDUMP_PID" 2>/dev/null || true
    lo_set 65536 on || rc=1
    if [ "${SMTPTAP_KEEP_POSTFIX:-0}" != 1 ]; then postfix stop >/dev/null 2>&1 || true; fi
    [ $rc -eq 0 ] || echo "record.sh: FAILED (work files in $WORK)" >&2
    exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
lo_set 65536 on

# ---------------------------------------------------------------- postfix
configure_postfix() {
    id "$SINK" >/dev/null 2>&1 || useradd -m -s /usr/sbin/nologin "$SINK"
    if [ ! -s $PC/smtptap-cert.pem ] || [ ! -s $PC/smtptap-key.pem ]; then
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=mx.smtptap.test" \
            -keyout $PC/smtptap-key.pem -out $PC/smtptap-cert.pem 2>/dev/null
        chmod 600 $PC/smtptap-key.pem
    fi
    printf 'blocked@smtptap.test 550 5.1.1 Recipient address rejected by the smtptap test map\n' \
        >$PC/smtptap_rcpt_access
    postmap hash:$PC/smtptap_rcpt_access
    printf '/^Subject:.*SMTPTAP-REJECT-DATA/ REJECT 5.7.1 smtptap test: refused by header_checks\n' \
        >$PC/smtptap_header_checks
    # SASL: Cyrus auxprop from our own sasldb; smtpd runs unchrooted to read it
    mkdir -p $PC/sasl
    cat >$PC/sasl/smtpd.conf <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $PC/smtptap-sasldb2
mech_list: PLAIN LOGIN
EOF
    printf '%s' "$PASSWORD" | saslpasswd2 -p -c -f $PC/smtptap-sasldb2 -u smtptap.test tapuser
    chown root:postfix $PC/smtptap-sasldb2
    chmod 640 $PC/smtptap-sasldb2

    postconf -e \
        "compatibility_level = 3.6" \
        "myhostname = mx.smtptap.test" \
        "mydomain = smtptap.test" \
        "myorigin = smtptap.test" \
        "mydestination = smtptap.test, localhost" \
        "inet_interfaces = loopback-only" \
        "inet_protocols = all" \
        "mynetworks = 127.0.0.0/8 [::1]/128" \
        "smtpd_banner = \$myhostname ESMTP smtptap-test" \
        "relayhost =" \
        "default_transport = error" \
        "relay_transport = error" \
        "local_recipient_maps =" \
        "luser_relay = $SINK" \
        "home_mailbox = Maildir/" \
        "mailbox_size_limit = 0" \
        "message_size_limit = 20480000" \
        "local_header_rewrite_clients =" \
        "message_drop_headers =" \
        "smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination" \
        "smtpd_recipient_restrictions = check_recipient_access hash:$PC/smtptap_rcpt_access, permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination" \
        "header_checks = regexp:$PC/smtptap_header_checks" \
        "smtpd_error_sleep_time = 0" \
        "smtpd_soft_error_limit = 100" \
        "smtpd_hard_error_limit = 100" \
        "smtpd_tls_cert_file = $PC/smtptap-cert.pem" \
        "smtpd_tls_key_file = $PC/smtptap-key.pem" \
        "smtpd_tls_security_level = may" \
        "smtpd_tls_auth_only = no" \
        "smtpd_sasl_auth_enable = no" \
        "smtpd_sasl_type = cyrus" \
        "smtpd_sasl_path = smtpd" \
        "cyrus_sasl_config_path = $PC/sasl" \
        "smtpd_sasl_security_options = noanonymous" \
        "maillog_file = /var/log/postfix-smtptap.log"
    postconf -M "smtp/inet=smtp inet n - n - - smtpd"
    postconf -M "submission/inet=submission inet n - n - - smtpd"
    postconf -P "submission/inet/syslog_name=postfix/submission" \
        "submission/inet/smtpd_sasl_auth_enable=yes" \
        "submission/inet/smtpd_tls_security_level=may"
    postconf -M "2525/inet=2525 inet n - n - - smtpd"
    postconf -P "2525/inet/syslog_name=postfix/2525"
    newaliases
    postfix check
}

start_postfix() {
    if postfix status >/dev/null 2>&1; then postfix stop >/dev/null 2>&1 || true; sleep 1; fi
    postfix start >/dev/null 2>&1
    for p in 127.0.0.1:25 [::1]:25 127.0.0.1:587 127.0.0.1:2525 [::1]:2525; do
        i=0
        until ss -ltn | awk '{print $4}' | grep -qxF "$p"; do
            i=$((i + 1)); [ $i -lt 50 ] || die "postfix does not listen on $p"; sleep 0.2
        done
    done
    postsuper -d ALL >/dev/null 2>&1 || true
}

configure_postfix
start_postfix
rm -rf "/home/$SINK/Maildir"
rm -rf "$WORK"
mkdir -p "$WORK"
chmod 755 "$WORK"

# ---------------------------------------------------------------- capture
# capture NAME IFACE FILTER CMD... : record CMD's traffic into pcaps/NAME
capture() {
    name=$1 iface=$2 filter=$3
    shift 3
    SMTPTAP_SESSION_LOG="$WORK/$name.sessions.jsonl"
    export SMTPTAP_SESSION_LOG
    : >"$SMTPTAP_SESSION_LOG"
    err="$WORK/$name.tcpdump.txt"
    rm -f "$WORK/$name"
    tcpdump -i "$iface" -s 262144 -B 131072 -n -w "$WORK/$name" "$filter" 2>"$err" &
    TCPDUMP_PID=$!
    i=0
    until grep -q "listening on" "$err"; do
        i=$((i + 1)); [ $i -lt 100 ] || die "$name: tcpdump did not start: $(cat "$err")"; sleep 0.1
    done
    sleep 0.5
    echo "record.sh: $name"
    "$@" || die "$name: client failed"
    sleep 2.5
    kill -INT "$TCPDUMP_PID"
    wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=
    grep -q "^0 packets dropped by kernel" "$err" || die "$name: tcpdump dropped packets: $(cat "$err")"
    cp "$WORK/$name" "$HERE/$name"
}

# record-mime.sh sources this file for everything above (packages, lo, Postfix, capture())
if [ "${SMTPTAP_RECORD_SOURCED:-0}" = 1 ]; then return 0; fi

SW="python3 $CLIENTS/swaks_client.py"
SL="python3 $CLIENTS/smtplib_client.py"
RAW="python3 $CLIENTS/raw_client.py"

head -c 600 /dev/zero | tr '\0' 'A' | fold -w 60 >"$WORK/small-attachment.txt"
python3 -c 'import random,sys; sys.stdout.buffer.write(random.Random(4242).randbytes(3*1024*1024))' \
    >"$WORK/big-attachment.bin"

rec_pipelining() { $SW --tag pipelining --pipeline --to alice@smtptap.test,bob@smtptap.test \
    --subject "swaks --pipeline" --body "MAIL, RCPT, RCPT and DATA go in one write." \
    --attach "$WORK/small-attachment.txt" --attach-name notes.txt --attach-type text/plain; }
rec_auth_plain() { $SW --tag auth-plain --port 587 --auth PLAIN --subject "AUTH PLAIN on 587"; }
rec_auth_login() { $SW --tag auth-login --port 587 --auth LOGIN --subject "AUTH LOGIN on 587"; }
rec_starttls() { $SW --tag starttls --tls --subject "sent inside TLS"; }
rec_ipv6() { $SW --tag ipv6 --server ::1 --subject "over IPv6 ::1" --to carol@smtptap.test; }
rec_big() { $SW --tag big --subject "big message, 3 MiB attachment" \
    --body "A 3 MiB binary attachment follows, base64." \
    --attach "$WORK/big-attachment.bin" --attach-name random.bin; }
rec_bdat() { $RAW bdat; }
rec_four() {
    $SL simple --tag four-1 --host 127.0.0.1 --port 25 &&
    $SL simple --tag four-2 --host ::1 --port 25 &&
    $RAW bdat-simple --tag four-3 --host 127.0.0.1 --port 2525 &&
    $RAW bdat-simple --tag four-4 --host ::1 --port 2525
}
rec_any() {
    $SL simple --tag any-1 --host 127.0.0.1 &&
    $SL simple --tag any-2 --host ::1
}

capture smtp-pipelining.pcap lo "tcp port 25" rec_pipelining
capture smtp-auth-plain.pcap lo "tcp port 587" rec_auth_plain
capture smtp-auth-login.pcap lo "tcp port 587" rec_auth_login
capture smtp-starttls.pcap lo "tcp port 25" rec_starttls
capture smtp-bdat.pcap lo "tcp port 25" rec_bdat
capture smtp-rset.pcap lo "tcp port 25" $SL rset
capture smtp-rcpt-rejected.pcap lo "tcp port 25" $SL rcpt-rejected
capture smtp-multi-transaction.pcap lo "tcp port 25" $SL multi
capture smtp-ipv6.pcap lo "tcp port 25" rec_ipv6
capture smtp-dot-stuffing.pcap lo "tcp port 25" $SL dot-stuffing
capture smtp-data-rejected.pcap lo "tcp port 25" $SL data-rejected
capture smtp-port2525.pcap lo "tcp port 2525" $SL port2525 --port 2525
capture non-smtp-port$NONSMTP_PORT.pcap lo "tcp port $NONSMTP_PORT" \
    python3 "$CLIENTS/nonsmtp.py" --port $NONSMTP_PORT
capture smtp-four-sessions.pcap lo "tcp port 25 or tcp port 2525" rec_four
capture smtp-any-sll2.pcap any "tcp port 25" rec_any

# the big one: Ethernet-sized frames
lo_set 1500 off
capture smtp-big.pcap lo "tcp port 25" rec_big
lo_set 65536 on

# ---------------------------------------------------------------- derived files
cd "$HERE"
gzip -9 -n -c smtp-bdat.pcap >smtp-bdat.pcap.gz
editcap -F pcapng smtp-multi-transaction.pcap smtp-multi-transaction.pcapng
python3 encap.py non-smtp-port$NONSMTP_PORT.pcap non-smtp-port25.pcap --mode none \
    --map-port $NONSMTP_PORT=25 >"$WORK/non-smtp-port25.encap.jsonl"
for m in vlan qinq mpls pppoe; do
    python3 encap.py smtp-four-sessions.pcap smtp-four-sessions-$m.pcap --mode $m \
        >"$WORK/smtp-four-sessions-$m.encap.jsonl"
done
python3 encap.py smtp-four-sessions.pcap smtp-four-sessions-mixed-encap.pcap \
    --mode mixed:vlan,qinq,mpls,pppoe >"$WORK/smtp-four-sessions-mixed-encap.encap.jsonl"

# ---------------------------------------------------------------- check + manifest
i=0
until postqueue -p 2>/dev/null | grep -q "Mail queue is empty"; do
    i=$((i + 1)); [ $i -lt 120 ] || die "postfix queue did not drain"; sleep 0.5
done
python3 "$CLIENTS/manifest.py" --work "$WORK" --pcaps "$HERE" --maildir "/home/$SINK/Maildir" \
    --password "$PASSWORD" --out "$HERE/manifest.json"
echo "record.sh: done"
