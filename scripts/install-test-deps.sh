#!/usr/bin/env bash
# Installs everything nacre's tests need on a Debian 12 machine (run as root).
# Idempotent: packages already present are skipped quickly.
set -euo pipefail

pkgs=(
  fuse3            # /dev/fuse userspace bits (fusermount3) and the udev rule
  python3          # python example and e2e tests
  python3-numpy    # pytorch example, numpy variant (make check; python3-torch is opt-in)
  sqlite3          # sqlite example
  redis-server     # redis example
  redis-tools      # redis-cli / redis-benchmark driving the redis example
  busybox-static   # static binaries for sandbox tests
  bash coreutils procps util-linux passwd
  gcc libc6-dev    # builds the static C helloworld used by tests
)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-deps: must run as root (apt-get, test user, /dev/fuse mode)" >&2
  exit 1
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-test-deps: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Redis is started by the tests themselves; make sure the distro service does
# not hold port 6379 on machines where the package started it.
if command -v systemctl >/dev/null 2>&1; then systemctl stop redis-server >/dev/null 2>&1 || true; fi

# The unprivileged user for rootless tests.
if ! id nacretest >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash nacretest
fi

# Rootless FUSE needs /dev/fuse to be usable by ordinary users. Debian's udev
# rule makes it 0666; some machines (containers, minimal VMs) leave it 0600.
if [ -c /dev/fuse ]; then
  chmod 0666 /dev/fuse
fi
