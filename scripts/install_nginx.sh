#!/usr/bin/env bash
# Install Debian's nginx for the production profile (`make run-prod`, the
# production test in tests/production/ and `make bench-load`): nginx routes each
# conversation to one Rasa replica (deploy/production/nginx.conf.j2).
# Does nothing when nginx is already installed. Only the binary is used: the
# profile runs its own nginx with a generated config, never the system service.
set -euo pipefail

find_nginx() {
  command -v nginx 2>/dev/null && return 0
  local candidate
  for candidate in /usr/sbin/nginx /usr/local/sbin/nginx; do
    [ -x "$candidate" ] && { echo "$candidate"; return 0; }
  done
  return 1
}

if NGINX=$(find_nginx); then
  echo "nginx: $("$NGINX" -v 2>&1 | head -n 1) is installed ($NGINX)"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  cat >&2 <<MSG
ERROR: nginx is missing and installing it needs root.
Install Debian's nginx once, then run this again:
  sudo apt-get update && sudo apt-get install -y nginx-light
MSG
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ERROR: nginx is missing and this system has no apt-get; install nginx (1.19+)." >&2
  exit 1
fi

echo "nginx: installing Debian's nginx-light (apt-get) ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d 101: do not start the system service that the package would start.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
fi
apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
[ "$created_policy" = 1 ] && rm -f "$policy"
if ! NGINX=$(find_nginx); then
  echo "ERROR: apt-get install nginx-light did not produce an nginx binary" >&2
  exit 1
fi
echo "nginx: $("$NGINX" -v 2>&1 | head -n 1) installed ($NGINX)"
