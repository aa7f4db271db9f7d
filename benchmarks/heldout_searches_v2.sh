#!/usr/bin/env bash
# Searches on two held-out families (glyphs, shapes) with predictor v2's recipe and data: folds meta-trained on
# v1 + all of meta-dataset v2 without the family and without any VGG teacher, so that `vgg-s` is an unseen teacher
# family too. Every step is resumable: rerun the script and it goes on where it stopped.
#
#   1. leave_one_family_out over those folds (`leave_one_family_out_v2_novgg`): the folds' checkpoints and their
#      zero-shot / adapted ranking of the family;
#   2. `ours` on each family with its fold (`search_efficiency_heldout_v2_*`). Random search does not call the
#      predictor, so its runs are read from the earlier result (`--reference`, same task, seeds and settings);
#      WITH_RANDOM=1 runs them again here (600 full-budget trainings a family), which step 4 needs;
#   3. the picks retrained with fresh seeds (`search_reseed_heldout_v2_*`; random search's by reference unless its
#      runs are the script's own);
#   4. with WITH_RANDOM=1 only: the fold's ranking of the 600 random-search students, zero-shot and adapted on a
#      search's rung records, beside the labels' noise ceiling (100 of the students trained again with a fresh
#      seed) (`predictor_search_students_heldout_v2_*`).
#
#   DASS_CACHE=... DASS_DATA=../shared/data benchmarks/heldout_searches_v2.sh
#
# FAMILIES="textures" (with WITH_RANDOM=1: there is no earlier random search on it) runs the same steps on the
# `textures` family, the one the leave-one-family-out folds rank worst zero-shot, on a task of the same pattern as
# the other two (classes 0-9, 16 px, RGB as shapes, 1,000 training images); its fold joins the same result file.
#
# RECIPE=landmarks runs the same steps with the shipped v2's recipe (task noise 0.2, no source balancing, the tasks'
# landmarks from datasets_meta/landmarks.json; benchmarks/predictor_v2.sh) into results named *_v2lm_* (folds under
# $DASS_CACHE/lofo_folds_v2lm_novgg); the default, RECIPE=previous, is the recipe of the v2 shipped before it.
#
# SCOUTS=N runs `ours` again with `--scouts N` (N random students trained at 1 epoch before its first generation)
# into runs/heldout_$V_scoutsN and results named *_scoutsN, against the random-search runs of the results without it
# (`--reference`); where those random runs are on this machine (runs/heldout_$V/FAMILY), the fold's ranking of their
# students is scored again with the scouting runs' records (`predictor_search_students --ours-runs`). SCOUTS=0 runs
# `ours` without scouts the same way (*_scouts0): the baseline of the same machine and fold checkpoint. SEEDS=K gives
# `ours` K seeds there (default 3; random search keeps the reference's 3).
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
CACHE=${DASS_CACHE:-$HOME/.cache/dass}
case "${RECIPE:-previous}" in
  previous) V=v2; recipe=(--set balance=0.5) ;;
  landmarks) V=v2lm; recipe=(--set balance=1 task_noise=0.2 --landmarks datasets_meta/landmarks.json) ;;
  *) echo "heldout_searches_v2.sh: RECIPE=$RECIPE: expected previous or landmarks" >&2; exit 2 ;;
esac
FOLDS=$CACHE/lofo_folds_${V}_novgg
SCOUTS=${SCOUTS:-}
tag=""
[ -z "$SCOUTS" ] || tag=_scouts$SCOUTS
RUNS=${RUNS:-runs/heldout_$V$tag}
R=benchmarks/results
data=(datasets_meta/meta_v1.csv.gz)
for part in part1_16px part2_32px part3_12px part4_vit part4_vit_32px; do
  data+=("datasets_meta/meta_v2/$part.csv.gz")
done
declare -A SPEC=(
  [glyphs]="glyphs:classes=0-9:size=16:color=gray:n_train=1000:n_test=2000"
  [shapes]="shapes:classes=0-9:size=16:color=rgb:n_train=1000:n_test=2000"
  [textures]="textures:classes=0-9:size=16:color=rgb:n_train=1000:n_test=2000"
)
read -r -a FAMS <<< "${FAMILIES:-glyphs shapes}"
for family in "${FAMS[@]}"; do
  if [ -z "${SPEC[$family]:-}" ]; then
    echo "heldout_searches_v2.sh: FAMILIES: $family is not one of ${!SPEC[*]}" >&2
    exit 2
  fi
  if [ "$family" = textures ] && [ "${WITH_RANDOM:-0}" != 1 ] && [ -z "$SCOUTS" ]; then
    echo "heldout_searches_v2.sh: textures has no earlier random search to read: give WITH_RANDOM=1" >&2
    exit 2
  fi
done

"$PY" -m benchmarks.leave_one_family_out --data "${data[@]}" --families "${FAMS[@]}" --exclude-teachers vgg \
  --max-groups 24 "${recipe[@]}" --fold-dir "$FOLDS" --out $R/leave_one_family_out_${V}_novgg.json

for family in "${FAMS[@]}"; do
  folds=("$FOLDS"/*/without-$family.pt)
  if [ ${#folds[@]} -ne 1 ]; then
    echo "heldout_searches_v2.sh: expected one fold without $family under $FOLDS, found ${#folds[@]}" >&2
    exit 2
  fi
  if [ -n "$SCOUTS" ]; then  # random search's runs and picks: those of the results without scouts
    strategies=(--strategies ours --scouts "$SCOUTS" --seeds "${SEEDS:-3}"
      --reference $R/search_efficiency_heldout_${V}_$family.json)
    reference=(--reference $R/search_reseed_heldout_${V}_$family.json)
  elif [ "${WITH_RANDOM:-0}" = 1 ]; then
    strategies=(--strategies ours random)
    reference=()
  else  # random search's picks, when its runs are not the script's own
    strategies=(--strategies ours --reference $R/search_efficiency_heldout_$family.json)
    reference=(--reference $R/search_reseed_heldout_$family.json)
  fi
  "$PY" -m benchmarks.search_efficiency --task "${SPEC[$family]}" vgg-s "${strategies[@]}" \
    --checkpoint "${folds[0]}" --out "$RUNS/$family" --result $R/search_efficiency_heldout_${V}_$family$tag.json
  "$PY" -m benchmarks.search_reseed --runs "$RUNS/$family/full" "${reference[@]}" \
    --out $R/search_reseed_heldout_${V}_$family$tag.json
  if [ -n "$SCOUTS" ]; then
    random_runs=runs/heldout_$V/$family/full
    if compgen -G "$random_runs/*/random/seed*/records.db" > /dev/null; then
      "$PY" -m benchmarks.predictor_search_students --runs "$random_runs" --ours-runs "$RUNS/$family/full" \
        --ceiling-students 100 --checkpoint "${folds[0]}" --out $R/predictor_search_students_heldout_${V}_$family$tag.json
    else
      echo "heldout_searches_v2.sh: $family: no random-search runs under $random_runs: its ranking is not scored again"
    fi
  elif [ "${WITH_RANDOM:-0}" = 1 ]; then
    "$PY" -m benchmarks.predictor_search_students --runs "$RUNS/$family/full" --oracle-draws 3 --ceiling-students 100 \
      --checkpoint "${folds[0]}" --out $R/predictor_search_students_heldout_${V}_$family.json
  fi
done
