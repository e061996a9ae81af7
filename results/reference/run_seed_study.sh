#!/usr/bin/env bash
# How much of each EGS-Net comparison survives retraining: EGS-Net, its two ablations, its
# private-block variant and ProtoNet, trained with seeds 0-4, every seed facing the same test
# episodes (episode seed 0), on SynFACS_C and on CFEE_C (trained on CK+48 + JAFFE).
# Store: results/reference/seed_study.
#
# Then the same comparison at equal images seen: EGS-Net draws an episode (50 images) and a
# batch (32) per step, 150 x 82 = 12,300 images; ProtoNet and egsnet-sim draw episodes only, so
# here they train for 246 steps (246 x 50 = 12,300). EGS-Net's cells are re-evaluated from the
# first store's trained models (same training hash: no retraining). Store:
# results/reference/seed_study_equal_images.
set -euo pipefail
cd "$(dirname "$0")/../.."
study=results/reference/seed_study
equal=results/reference/seed_study_equal_images
common=(--shots 1,5 --seeds 0,1,2,3,4 --episode-seed 0 --episodes 600 --profile quick --jobs 2)
cfee=(--train-on CKplus,JAFFE --data-root ../shared/datasets)

for split in SynFACS_C CFEE_C; do
  extra=()
  [ "$split" = CFEE_C ] && extra=("${cfee[@]}")
  fsfer-bench sweep --methods protonet,egsnet-sim,egsnet-joint,egsnet,egsnet-private --splits "$split" \
    "${extra[@]}" "${common[@]}" --out "$study"
done

mkdir -p "$equal"
cp -rn "$study/models" "$equal/" # the trained EGS-Net models, reused by training hash
for split in SynFACS_C CFEE_C; do
  extra=()
  [ "$split" = CFEE_C ] && extra=("${cfee[@]}")
  fsfer-bench sweep --methods egsnet --splits "$split" "${extra[@]}" "${common[@]}" --out "$equal"
  fsfer-bench sweep --methods protonet,egsnet-sim --splits "$split" --set train.steps=246 \
    "${extra[@]}" "${common[@]}" --out "$equal"
done
