#!/bin/sh
# Asks npm's registry for an answer, once, within a bound, before `npm ci` needs it: the image's build runs this
# first, so that a build whose network reaches no registry stops within a minute and says why, instead of sitting
# at `npm ci` (npm waits minutes per request: no connect timeout of its own, the OS's is ~2 min). Any HTTP answer
# counts as reachable (a mirror may not implement /-/ping); npm's own configuration (registry, proxy, CA) is used,
# so what is checked is what `npm ci` will do.
#
#   scripts/check-npm-registry.sh [SECONDS]     # default 30
bound="${1:-30}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

if timeout "$bound" npm ping --fetch-retries=0 --fetch-timeout="$((bound * 1000))" >"$log" 2>&1; then exit 0; fi
if grep -qE '^npm error (code E[0-9]{3}$|[0-9]{3} )' "$log"; then exit 0; fi

{
  echo "The build cannot reach the npm registry $(npm config get registry), which npm ci needs:"
  grep -E '^npm error .*failed, reason: ' "$log" | sed 's/^npm error \(network \)\{0,1\}/  /' | grep . || echo "  no answer within $bound s"
  echo "Build on the host's network (docker build --network host ...) or through a proxy"
  echo "(docker build --build-arg HTTPS_PROXY=http://HOST:PORT ...); docs/deploy.md, \"The image\"."
} >&2
exit 1
