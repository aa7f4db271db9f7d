#!/usr/bin/env bash
# Collect meta-dataset v2 part by part, each into its own record store, and export each part when it is
# complete to datasets_meta/meta_v2/PART.csv.gz. Resumable: stop it at any moment (Ctrl-C, a kill, the end
# of a session) and run it again; finished jobs are never trained again and exported parts are skipped.
#
# While a part is being collected, its finished records are also exported every SNAPSHOT_S seconds (default
# 900) to datasets_meta/meta_v2/partial/PART.csv.gz. Commit that file: a run on a machine without the record
# store (a fresh clone, a lost cache) imports it first and trains only the jobs it lacks. It is removed when
# the part's full export is written.
#
#   datasets_meta/suites/meta_v2/collect.sh             # DB_DIR=~/.cache/dass/meta_v2 WORKERS=2 by default
#   dass collect --db ~/.cache/dass/meta_v2/part1_16px.db --status    # how far a part is
set -euo pipefail
cd "$(dirname "$0")/../../.."
DASS=${DASS:-.venv/bin/dass}
DB_DIR=${DB_DIR:-${DASS_CACHE:-$HOME/.cache/dass}/meta_v2}
WORKERS=${WORKERS:-2}
SNAPSHOT_S=${SNAPSHOT_S:-900}
PARTS=${PARTS:-"part1_16px part3_12px part2_32px part4_vit part4_vit_32px"}
mkdir -p "$DB_DIR" datasets_meta/meta_v2/partial
snapshots=
trap '[ -n "$snapshots" ] && kill "$snapshots" 2>/dev/null || true' EXIT
for part in $PARTS; do
  out=datasets_meta/meta_v2/$part.csv.gz
  partial=datasets_meta/meta_v2/partial/$part.csv.gz
  db=$DB_DIR/$part.db
  if [ -f "$out" ]; then
    echo "$part: exported before ($out)"
    continue
  fi
  if [ -f "$partial" ]; then  # rows already in the store are skipped, so importing again is harmless
    "$DASS" collect --db "$db" --import "$partial"
  fi
  # a snapshot loop; on TERM it ends at once while sleeping, or after the export under way
  (
    trap 'exit 0' TERM
    while :; do
      sleep "$SNAPSHOT_S" &
      wait $! || exit 0
      "$DASS" collect --db "$db" --export "$partial" || true
    done
  ) &
  snapshots=$!
  # returns when no job is pending: every job is done, or failed after its attempts
  "$DASS" collect --suite "datasets_meta/suites/meta_v2/$part.toml" --db "$db" --workers "$WORKERS"
  kill "$snapshots" 2>/dev/null || true
  wait "$snapshots" || true
  snapshots=
  "$DASS" collect --db "$db" --export "$out"
  rm -f "$partial"
done
