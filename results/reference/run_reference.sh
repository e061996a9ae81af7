#!/usr/bin/env bash
# Regenerates the reference records in results/reference/ with the harness's own commands:
# every registered method, seed 0, 1- and 5-shot, 600 episodes, the quick profile.
# Needs the shared real-data samples at ../shared/datasets (see its README).
set -euo pipefail
cd "$(dirname "$0")/../.."
methods=pixels,protonet,matchingnet,maml,relationnet,baseline,baseline++,simpleshot,egsnet,egsnet-joint,egsnet-sim
common=(--shots 1,5 --seeds 0 --episodes 600 --profile quick --jobs 2 --out results/reference)

# Rendered faces: train on lab basic expressions, test on wild compound (C) and wild basic (B).
fsfer-bench sweep --methods "$methods,landmarks" --splits SynFACS_C,SynFACS_B "${common[@]}"

# Real data: train on CK+48 and JAFFE, test on CFEE compound and basic expressions.
fsfer-bench sweep --methods "$methods" --splits CFEE_C,CFEE_B --train-on CKplus,JAFFE \
  --data-root ../shared/datasets "${common[@]}"
# The landmark baseline needs detected landmarks: the same cells with --face-align.
fsfer-bench sweep --methods landmarks --splits CFEE_C,CFEE_B --train-on CKplus,JAFFE --set face_align=true \
  --data-root ../shared/datasets "${common[@]}"

# Cross-domain (Ciubotaru et al. 2019): train on mini-ImageNet's 64 training classes, test on CK+.
# No landmark baseline here: mini-ImageNet has no faces to take its statistics from.
fsfer-bench sweep --methods "$methods" --splits CKplus --train-on miniImageNet \
  --data-root ../shared/datasets "${common[@]}"
