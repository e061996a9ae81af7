#!/usr/bin/env bash
# Issue 24: the pretrained start on the third target, CK+ (run_pretrained.sh covers CFEE). CK+'s training
# pool lacks the one FER2013 image that nearly copies CK+ S055 (near_duplicates.py), so it needs its own
# pretraining: Baseline++ on the wild base with CKplus as the target, exported, then the methods' few-shot
# stage from it, as in run_pretrained.sh (500 steps, 48 px, MAML first order with inner lr 0.01). Seed 0 and
# RelationNet, MAML and EGS-Net only (CPU time): this shows whether they learn on CK+, not a seed-level
# comparison. Store: results/reference/pretrained.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=results/reference/pretrained
seed=${SEED:-0}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
base=(--splits CKplus --shots 1,5 --seeds "$seed" --train-on wild --set face_align=true --episode-seed 0
      --episodes 600 --data-root ../shared/datasets --profile long --out "$out")
backbone="$out/backbones/baselinepp-wild-ckpool-seed$seed.pt"
mkdir -p "$out/backbones"

fsfer-bench sweep --methods baseline++ "${base[@]}"
if [[ ! -f "$backbone" ]]; then
  fsfer-bench export --method baseline++ --split CKplus --train-on wild --seed "$seed" --profile long \
    --face-align --image-size 48 --data-root ../shared/datasets --store "$out" --out "$backbone"
fi
start=(--set "weights=$backbone" --set weights_preset=none --set image_size=48 --set train.steps=500)
fsfer-bench sweep --methods relationnet,egsnet "${start[@]}" "${base[@]}"
fsfer-bench sweep --methods maml --set option.first_order=true --set option.inner_lr=0.01 "${start[@]}" "${base[@]}"
