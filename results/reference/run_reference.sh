#!/usr/bin/env bash
# Regenerates the quick-profile reference records in results/reference/ under the current protocol:
# shots counted in people, test episodes drawn with episode seed 0 (apart from the training seed),
# model selection on the final stage only, on validation people held out of the training sources.
# One training seed (0) per method: these tables speak for one trained model per method; the seed
# study (run_seed_study.sh) measures retraining variance for the EGS-Net comparison.
# Needs the shared real data at ../shared/datasets (see its README) for the mini-ImageNet group.
set -euo pipefail
cd "$(dirname "$0")/../.."
methods=pixels,protonet,matchingnet,maml,relationnet,baseline,baseline++,simpleshot,egsnet,egsnet-joint,egsnet-sim,egsnet-private
common=(--shots 1,5 --seeds 0 --episode-seed 0 --episodes 600 --profile quick --jobs 2 --out results/reference)

# Rendered faces: train on lab basic expressions, test on wild compound (C) and wild basic (B).
# SynFACS carries its renderer's exact landmarks, so the geometry methods run without --face-align.
fsfer-bench sweep --methods "$methods,landmarks,landmarks+features" --splits SynFACS_C,SynFACS_B "${common[@]}"

# Cross-domain (Ciubotaru et al. 2019): train on mini-ImageNet's 64 training classes, test on CK+.
# No geometry methods: mini-ImageNet has no faces to take landmark statistics from.
fsfer-bench sweep --methods "$methods" --splits CKplus --train-on miniImageNet \
  --data-root ../shared/datasets "${common[@]}"
