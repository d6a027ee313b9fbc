#!/usr/bin/env bash
# The first command on a fresh control machine (Debian 12 or 13 with only git; run it as yourself or as
# root): the distribution's packages the stand and its tests use, Node.js and npm among them when missing
# (scripts/prereqs.sh: through sudo when you are not root, and nothing at all when everything is there),
# then the project's npm packages (npm ci, into node_modules/ as the user who runs it; skipped when they are
# there as locked). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prereqs.sh
node scripts/npm-deps.mjs # npm ci, unless node_modules/ already matches the lockfile
