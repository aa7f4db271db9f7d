#!/usr/bin/env bash
# Predictor v2, once meta-dataset v2 is complete: the leave-one-family-out evaluation over v1 and every v2 part
# with v2's recipe, then the checkpoint trained on all of it.
#
#   DASS_CACHE=/path/to/cache benchmarks/predictor_v2.sh
#
# Resumable: the evaluation writes each fold's result to benchmarks/results/leave_one_family_out_v2.json as soon as
# it is scored and skips the folds already there (commit the file after each fold: a fold takes 20-40 minutes on
# two cores); the checkpoint (about 20 minutes) is written last, to checkpoints/predictor_v2.pt and its card.
#
# The recipe is v1's (eight members of 48 channels, 20 epochs, rank weight 4, task noise 0.3, eight label seeds)
# with `--balance 0.5`: meta-trained on v1 and v2's parts 1, 3 and the transformer part, it kept v1's meta-test at
# v1's level (0.866 zero-shot) where no balancing gave 0.860 and `--balance source` 0.824 (README).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DASS=${DASS:-.venv/bin/dass}
PARTS="part1_16px part2_32px part3_12px part4_vit part4_vit_32px"
data=(datasets_meta/meta_v1.csv.gz)
for part in $PARTS; do
  f=datasets_meta/meta_v2/$part.csv.gz
  if [ ! -f "$f" ]; then
    echo "predictor_v2.sh: $f is not exported yet; finish the collection first (datasets_meta/suites/meta_v2/collect.sh)" >&2
    exit 2
  fi
  data+=("$f")
done
"$PY" -m benchmarks.leave_one_family_out --data "${data[@]}" --families glyphs shapes textures fractals digits mnist \
  --max-groups 24 --set balance=0.5 --out benchmarks/results/leave_one_family_out_v2.json
"$DASS" pretrain --data "${data[@]}" --out checkpoints/predictor_v2.pt --epochs 20 --rank-weight 4 --label-seeds 8 \
  --task-noise 0.3 --models 8 --hidden 48 --balance 0.5
