#!/usr/bin/env bash
# Collect meta-dataset v2 part by part, each into its own record store, and export each part when it is
# complete to datasets_meta/meta_v2/PART.csv.gz. Resumable: stop it at any moment (Ctrl-C, a kill, the end
# of a session) and run it again; finished jobs are never trained again and exported parts are skipped.
#
#   datasets_meta/suites/meta_v2/collect.sh             # DB_DIR=~/.cache/dass/meta_v2 WORKERS=2 by default
#   dass collect --db ~/.cache/dass/meta_v2/part1_16px.db --status    # how far a part is
set -euo pipefail
cd "$(dirname "$0")/../../.."
DASS=${DASS:-.venv/bin/dass}
DB_DIR=${DB_DIR:-${DASS_CACHE:-$HOME/.cache/dass}/meta_v2}
WORKERS=${WORKERS:-2}
PARTS=${PARTS:-"part1_16px part3_12px part2_32px part4_vit part4_vit_32px"}
mkdir -p "$DB_DIR" datasets_meta/meta_v2
for part in $PARTS; do
  out=datasets_meta/meta_v2/$part.csv.gz
  if [ -f "$out" ]; then
    echo "$part: exported before ($out)"
    continue
  fi
  # returns when no job is pending: every job is done, or failed after its attempts
  "$DASS" collect --suite "datasets_meta/suites/meta_v2/$part.toml" --db "$DB_DIR/$part.db" --workers "$WORKERS"
  "$DASS" collect --db "$DB_DIR/$part.db" --export "$out"
done
