#!/usr/bin/env bash
# Before `npm test`: the TLS tests need the openssl CLI, the cluster tests redis-server and
# the dashboard test Debian's chromium (driven by playwright-core; never a downloaded browser). Installed here when missing and we are root; otherwise the exact
# command to run is printed and the test run stops at once.
set -u
missing=""
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
[ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing$missing (Debian packages) for the tests"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing) >/dev/null 2>&1 && exit 0
  echo "could not install$missing"
fi
echo "the tests need$missing: run  sudo apt-get install -y$missing  then npm test again" >&2
exit 1
