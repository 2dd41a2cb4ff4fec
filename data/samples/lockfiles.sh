#!/usr/bin/env bash
# Regenerates the lockfiles of the sample projects with the package managers themselves, so that
# they are real lockfiles resolved against the registries (npm, PyPI, crates.io).
#
# The sample projects' other files are written by hand. Gemfile.lock files are written by hand in
# Bundler's format, and the PHP samples depend on no Composer packages; their composer.lock
# carries Composer's content-hash, computed here the way Composer computes it.
#
# Needs: node/npm (npx fetches yarn 1 and pnpm 9), python3 with venv, cargo.
set -euo pipefail
cd "$(dirname "$0")"

tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT

npm_lock() { (cd "$1" && rm -f package-lock.json && npm install --package-lock-only --ignore-scripts --no-audit --no-fund >/dev/null); }
for project in node-express-npm node-nextjs-app node-clean-service node-worker-runtime-install node-ubuntu-apt static-vite-site; do
    echo "npm: $project"
    npm_lock "$project"
done

echo "yarn: node-polka-yarn"
(cd node-polka-yarn && rm -f yarn.lock && npx --yes yarn@1.22.22 install --ignore-scripts --no-progress --non-interactive >/dev/null && rm -rf node_modules)

echo "pnpm: node-typescript-pnpm"
(cd node-typescript-pnpm && rm -f pnpm-lock.yaml && npx --yes pnpm@9.14.2 install --lockfile-only --ignore-scripts >/dev/null)

python3 -m venv "$tools/venv"
"$tools/venv/bin/pip" install --quiet uv==0.5.4 poetry==1.8.4
echo "uv: python-fastapi-uv"
(cd python-fastapi-uv && rm -f uv.lock && "$tools/venv/bin/uv" lock --quiet)
echo "poetry: python-fastapi-poetry"
(cd python-fastapi-poetry && rm -f poetry.lock && "$tools/venv/bin/poetry" lock --no-interaction >/dev/null)

for project in rust-axum-api rust-worker-debian; do
    echo "cargo: $project"
    (cd "$project" && rm -f Cargo.lock && cargo generate-lockfile --quiet)
done

for project in php-fpm-app php-apache-site; do
    echo "composer: $project"
    python3 - "$project" <<'PYTHON'
import hashlib
import json
import sys
from pathlib import Path

project = Path(sys.argv[1])
manifest = json.loads((project / "composer.json").read_text(), object_pairs_hook=dict)
if manifest.get("require", {}).keys() - {"php"} - {k for k in manifest["require"] if k.startswith("ext-")}:
    sys.exit(f"{project}: has package dependencies; resolve them with Composer instead")
# Composer's Locker::getContentHash: the relevant keys, sorted, JSON-encoded by PHP's defaults.
relevant = ["name", "version", "require", "require-dev", "conflict", "replace", "provide",
            "minimum-stability", "prefer-stable", "repositories", "extra"]
content = {key: manifest[key] for key in sorted(relevant) if key in manifest}
if "platform" in manifest.get("config", {}):
    content["config"] = {"platform": manifest["config"]["platform"]}
    content = dict(sorted(content.items()))
encoded = json.dumps(content, separators=(",", ":")).replace("/", "\\/")
lock = {
    "_readme": [
        "This file locks the dependencies of your project to a known state",
        "Read more about it at https://getcomposer.org/doc/01-basic-usage.md#installing-dependencies",
        "This file is @generated automatically",
    ],
    "content-hash": hashlib.md5(encoded.encode()).hexdigest(),
    "packages": [],
    "packages-dev": [],
    "aliases": [],
    "minimum-stability": manifest.get("minimum-stability", "stable"),
    "stability-flags": {},
    "prefer-stable": manifest.get("prefer-stable", False),
    "prefer-lowest": False,
    "platform": {k: v for k, v in manifest["require"].items()},
    "platform-dev": {},
    "plugin-api-version": "2.6.0",
}
(project / "composer.lock").write_text(json.dumps(lock, indent=4) + "\n")
PYTHON
done
