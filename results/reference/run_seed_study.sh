#!/usr/bin/env bash
# How much of each EGS-Net comparison survives retraining: EGS-Net, its two ablations and ProtoNet,
# trained with seeds 0-4, every seed facing the same test episodes (episode seed 0), on SynFACS_C
# and on CFEE_C (trained on CK+48 + JAFFE); on SynFACS_C also `egsnet-private`, EGS-Net whose
# emotion branch owns a copy of the last backbone block in alternate learning (left out on CFEE_C
# for CPU time). Store: results/reference/seed_study.
#
# Budgets are equal in steps (150), not in images: a step of egsnet, egsnet-joint and
# egsnet-private draws an episode and a batch (82 images), one of protonet and egsnet-sim an
# episode (50); records store training.images_seen. The last sweep gives protonet and egsnet-sim
# EGS-Net's 12,300 images (246 steps); tables name those rows "protonet [train.steps=246]".
set -euo pipefail
cd "$(dirname "$0")/../.."
study=results/reference/seed_study
common=(--shots 1,5 --seeds 0,1,2,3,4 --episode-seed 0 --episodes 600 --profile quick --jobs 2)

fsfer-bench sweep --methods protonet,egsnet-sim,egsnet-joint,egsnet,egsnet-private --splits SynFACS_C \
  "${common[@]}" --out "$study"
fsfer-bench sweep --methods protonet,egsnet-sim,egsnet-joint,egsnet --splits CFEE_C --train-on CKplus,JAFFE \
  --data-root ../shared/datasets "${common[@]}" --out "$study"
# Equal images seen: 246 steps x 50 images = 12,300, EGS-Net's 150 x 82.
fsfer-bench sweep --methods protonet,egsnet-sim --splits SynFACS_C --set train.steps=246 "${common[@]}" --out "$study"
