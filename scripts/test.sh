#!/usr/bin/env bash
# Runs every check and test on a fresh Debian machine as root: installs what
# is missing, proves generated code is current, type-checks, checks import
# cycles, builds, then runs unit, integration and e2e tests with mocha.
# Usage: scripts/test.sh [mocha args, e.g. a spec file]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/install-deps.sh
# Each step's start, in seconds since this script began: where the set-up time goes.
step() { printf '== %s (at %d s)\n' "$1" "$SECONDS"; }
vonode_require_root scripts/test.sh
vonode_check_node
vonode_install_debian
vonode_install_npm

step "codegen check";  bash scripts/codegen.sh --check
step "typecheck";      npx tsc -p tsconfig.json --noEmit && npx tsc -p coordinator/console/web/tsconfig.json
step "lint";           npx eslint --max-warnings 0 .
step "import cycles";  npx madge --circular --extensions ts --ts-config tsconfig.json agent coordinator shared 2>&1 | grep -E 'No circular|Found' | grep -v 'Found [1-9]' || { echo 'circular imports found (npx madge --circular ...)'; exit 1; }
step "build";          npm run --silent build
step "tests"
# The suite starts daemons and CLIs from the build just made (testbed-process.ts repoNode).
export VONODE_TEST_USE_DIST=1
if [ $# -gt 0 ]; then
  exec npx mocha --reporter test/helpers/summary-reporter.cjs "$@"
fi
exec npx mocha --reporter test/helpers/summary-reporter.cjs 'test/unit/**/*.spec.ts' 'test/integration/**/*.spec.ts' 'test/e2e/**/*.spec.ts'
