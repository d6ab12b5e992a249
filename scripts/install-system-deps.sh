#!/usr/bin/env bash
# Install the Debian packages some tests need (listed one per line in tests/**/APT_PACKAGES):
# chromium for the review app's browser test, sshd/sshfs for the mount test, debootstrap for
# the HTCondor test pool. Best effort: without root or without the packages, those tests
# skip and say why.
set -uo pipefail
cd "$(dirname "$0")/.."
mapfile -t wanted < <(cat tests/APT_PACKAGES tests/*/APT_PACKAGES 2>/dev/null | sed 's/#.*//' | awk 'NF' | sort -u)
[ "${#wanted[@]}" -gt 0 ] || exit 0
missing=()
for package in "${wanted[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ "${#missing[@]}" -gt 0 ] || exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "system-deps: not root or no apt-get; not installing ${missing[*]} (their tests will skip)"
    exit 0
fi
echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || echo "system-deps: apt-get failed for ${missing[*]} (their tests will skip)"
exit 0
