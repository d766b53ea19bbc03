#!/usr/bin/env bash
# The run command: installs what is missing, builds, and runs `sluice standalone`
# on the example DAGs in dags/ with SQLite (UI on http://127.0.0.1:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# The binary alone: the test binary is the test command's to build.
scripts/build.sh release sluice
exec build/sluice standalone --dags dags --db sqlite://sluice.db "$@"
