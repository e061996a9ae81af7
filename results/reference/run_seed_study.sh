#!/usr/bin/env bash
# EGS-Net against its ablations and ProtoNet over three training seeds, on SynFACS_C and CFEE_C.
# The paired tests of the reference tables are conditional on one trained model per method;
# this shows how much of each difference survives retraining. Its own store: results/reference/seed_study.
set -euo pipefail
cd "$(dirname "$0")/../.."
common=(--methods protonet,egsnet-sim,egsnet-joint,egsnet --shots 1,5 --seeds 0,1,2 --episodes 600
  --profile quick --jobs 2 --out results/reference/seed_study)
fsfer-bench sweep --splits SynFACS_C "${common[@]}"
fsfer-bench sweep --splits CFEE_C --train-on CKplus,JAFFE --data-root ../shared/datasets "${common[@]}"
