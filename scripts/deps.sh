#!/bin/sh
# deps.sh PURPOSE - install the Debian packages that PURPOSE needs, if missing.
# PURPOSE: build | test | bench | record | fuzz | ci.  Runs apt-get only when
# a package is missing, so a prepared machine pays nothing.
set -e
build="gcc make pkg-config python3 libpcap-dev libnids-dev zlib1g-dev libzstd-dev libjansson-dev libssl-dev
       libmagic-dev libyara-dev libpcre2-dev libfuzzy-dev libpsl-dev publicsuffix libhiredis-dev"
test="libcmocka-dev python3 python3-jsonschema tshark tnef time file ssdeep zstd postfix swaks tcpreplay
      iproute2 redis-server logrotate strace"
fuzz="clang libclang-rt-14-dev"
case "$1" in
build)  want="$build" ;;
test)   want="$build $test" ;;
bench)  want="$build tcpdump tshark dsniff python3 yara" ;;
record) want="$build postfix swaks sasl2-bin libsasl2-modules tcpdump python3 openssl iproute2 ethtool" ;;
fuzz)   want="$build $fuzz" ;;
# .ci/run: the tests, a short fuzz run and the format check.
ci)     want="$build $test $fuzz clang-format" ;;
*)      echo "deps.sh: unknown purpose '$1'" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "postfix postfix/main_mailer_type select Local only" | $SUDO debconf-set-selections 2>/dev/null || true
echo "postfix postfix/mailname string smtptap.test" | $SUDO debconf-set-selections 2>/dev/null || true
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections 2>/dev/null || true
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
