#!/usr/bin/env bash
# Regenerates the tables and figures of results/reference/README.md from the committed records,
# with the harness's own `report` and `plot` commands. Reads the store; never writes to it.
# tests/test_reference_results.py checks that README.md still holds exactly these tables.
set -euo pipefail
cd "$(dirname "$0")/../.."

# Rows: the floor, geometry, episodic meta-learners, pretrain-then-adapt, EGS-Net and its ablations.
learned=protonet,matchingnet,relationnet,maml,baseline,baseline++,simpleshot,egsnet-sim,egsnet-joint,egsnet-private,egsnet
features_only="landmarks+features [geometry_weight=0.0]" # the fusion's appearance part: its model, geometry off
table() { # name, store, splits, methods: one table in LaTeX and markdown, training seed 0 (one model per method)
  for format in latex markdown; do
    extension=$([ "$format" = latex ] && echo tex || echo md)
    fsfer-bench report --results "$2" --splits "$3" --methods "$4" --seeds 0 --format "$format" --label "tab:$1" \
      --out "results/reference/tables/$1.$extension"
  done
}
quick=results/reference
wild=results/reference/wild
# The real-data study's methods trained at seeds 0, 1 and 2 (run_wild.sh): a table over seeds, and EGS-Net against the others.
wild_equal="protonet [train.steps=2624]" # ProtoNet given EGS-Net's 131,200 training images
wild_seeded="protonet,$wild_equal,baseline++,egsnet-joint,egsnet"
table synfacs $quick SynFACS_C,SynFACS_B "pixels,$learned"
table synfacs_landmarks $quick SynFACS_C,SynFACS_B "pixels,landmarks,landmarks+features,egsnet"
table ckplus $quick CKplus "pixels,$learned"
table wild $wild CKplus,CFEE_B,CFEE_C "pixels,landmarks,landmarks+features,$features_only,$learned"
fsfer-bench report --results $wild --splits CKplus,CFEE_B,CFEE_C --methods "pixels,landmarks,landmarks+features,$learned" \
  --seeds 0 --format latex --standalone --label tab:wild --out results/reference/tables/wild_standalone.tex --caption "$(cat <<'TEXT'
Real faces (fsfer-bench reference, seed 0, long profile): trained on FER2013 + SFEW 2.0 (the \texttt{wild} base),
face-aligned with dlib; 5-way accuracy (\%), mean $\pm$ 95\% confidence interval over 600 shared test episodes.
One trained model per method: the intervals leave out retraining variance.
TEXT
)"

for split in SynFACS_C CKplus; do
  fsfer-bench plot shots --results $quick --split "$split" --out "results/reference/plots/shots_$split.png"
done
for split in CKplus CFEE_B CFEE_C; do
  fsfer-bench plot shots --results $wild --split "$split" --seed 0 --out "results/reference/plots/wild_shots_$split.png"
done
fsfer-bench plot per-class --results $quick --split SynFACS_C --shot 5 --methods pixels,protonet,egsnet \
  --out results/reference/plots/per_class_SynFACS_C_5shot.png
fsfer-bench plot confusion --results $quick --method egsnet --split SynFACS_C --shot 5 \
  --out results/reference/plots/confusion_egsnet_SynFACS_C_5shot.png
fsfer-bench plot histogram --results $quick --split SynFACS_C --shot 5 --methods protonet,egsnet-sim,egsnet \
  --out results/reference/plots/histogram_SynFACS_C_5shot.png
fsfer-bench plot per-class --results $wild --split CFEE_C --shot 5 --methods "landmarks,$features_only,landmarks+features" \
  --out results/reference/plots/wild_per_class_CFEE_C_5shot.png

# Geometry plus appearance against its two parts and against Baseline++, the best pixel method on CFEE, on the same
# episodes and training seeds 0-2 (tests over seeds first).
{
  for split in CFEE_C CFEE_B CKplus; do
    for other in landmarks "$features_only" baseline++; do
      fsfer-bench compare landmarks+features "$other" --results $wild --split "$split" --shot 5
      echo
    done
  done
} >results/reference/tables/wild_fusion_compare.txt

# The same methods over their three training seeds (cells pool the seeds: intervals over retraining and test
# episodes, seeds x episodes crossed; tests paired by seed and episode), and EGS-Net against each of the
# others, 5-shot.
fsfer-bench report --results $wild --splits CKplus,CFEE_B,CFEE_C --methods "$wild_seeded" --format markdown \
  --out results/reference/tables/wild_seeds.md
{
  for split in CKplus CFEE_B CFEE_C; do
    for other in protonet "$wild_equal" baseline++ egsnet-joint; do
      fsfer-bench compare egsnet "$other" --results $wild --split "$split" --shot 5
      echo
    done
  done
} >results/reference/tables/wild_seeds_compare.txt
# EGS-Net minus each of them: differences paired by seed and episode, Holm-corrected across the whole table.
fsfer-bench report --results $wild --minus egsnet --methods "protonet,$wild_equal,egsnet-joint,baseline++" \
  --splits CKplus,CFEE_B,CFEE_C --shots 5 --format markdown --out results/reference/tables/wild_egsnet_minus.md

# The seed study (run_seed_study.sh): five training seeds per method on one episode set per split and
# shot; cells pool the seeds (mean of per-seed means; intervals and paired tests over seeds and episodes).
study=results/reference/seed_study
equal="protonet [train.steps=246],egsnet-sim [train.steps=246]" # EGS-Net's 12,300 training images
fsfer-bench report --results "$study" --methods "protonet,egsnet-sim,$equal,egsnet-joint,egsnet,egsnet-private" \
  --splits SynFACS_C,CFEE_C --format markdown --out results/reference/tables/seed_study.md
compare_with() { # split, then the methods egsnet is compared with
  local split=$1
  shift
  for other in "$@"; do
    for shot in 1 5; do
      fsfer-bench compare egsnet "$other" --results "$study" --split "$split" --shot "$shot"
      echo
    done
  done
}
{
  compare_with SynFACS_C protonet egsnet-sim "protonet [train.steps=246]" "egsnet-sim [train.steps=246]" \
    egsnet-joint egsnet-private
  compare_with CFEE_C protonet egsnet-sim egsnet-joint # egsnet-private and the equal-images runs: SynFACS_C only
} >results/reference/tables/seed_study_compare.txt
fsfer-bench report --results "$study" --minus egsnet --splits SynFACS_C,CFEE_C \
  --methods "protonet,egsnet-sim,egsnet-joint,egsnet-private,$equal" --format markdown \
  --out results/reference/tables/seed_study_egsnet_minus.md

# Pretrain, then few-shot (run_pretrained.sh): every method starts from its seed's Baseline++ export and trains
# 500 steps more on the wild base; CFEE and CK+ targets (CK+ with its own pretraining). Then EGS-Net minus each
# (Holm across the table), the fine-tuning regimes at seeds 0-2, each pretrained row minus its
# random-initialisation counterpart in the wild store (same episodes; pretrained_vs_scratch.py), and the
# comparison's power (pretrained_power.py).
pre=results/reference/pretrained
few="train.steps=500"
maml_few="maml [$few, first_order=True, inner_lr=0.01]"
pre_others="baseline++,protonet [$few],matchingnet [$few],relationnet [$few],$maml_few"
pre_others="$pre_others,egsnet-joint [$few]"
fsfer-bench report --results $pre --splits CFEE_C,CFEE_B,CKplus --methods "$pre_others,egsnet [$few]" \
  --format markdown --out results/reference/tables/pretrained.md
fsfer-bench report --results $pre --minus "egsnet [$few]" --methods "$pre_others" --splits CFEE_C,CFEE_B,CKplus \
  --format markdown --out results/reference/tables/pretrained_egsnet_minus.md
regimes="egsnet [$few],egsnet [train.backbone_lr_scale=0.1, $few],egsnet [train.regime=linear-probe, $few]"
regimes="$regimes,protonet [$few],protonet [train.backbone_lr_scale=0.1, $few],protonet [train.regime=frozen, $few]"
fsfer-bench report --results $pre --splits CFEE_C,CFEE_B --methods "$regimes" --seeds 0,1,2 --format markdown \
  --out results/reference/tables/pretrained_regimes.md
python results/reference/pretrained_vs_scratch.py >results/reference/tables/pretrained_vs_scratch.md
python results/reference/pretrained_power.py >results/reference/tables/pretrained_power.md

# Paste each table into the READMEs (this one, and the project's where it is there) between its markers.
python - <<'EOF'
import re
from pathlib import Path

tables = ("synfacs", "synfacs_landmarks", "ckplus", "wild", "wild_fusion_compare", "wild_seeds", "wild_seeds_compare",
          "seed_study", "seed_study_compare", "wild_egsnet_minus", "seed_study_egsnet_minus", "pretrained",
          "pretrained_egsnet_minus", "pretrained_regimes", "pretrained_vs_scratch", "pretrained_power")
for readme in (Path("results/reference/README.md"), Path("README.md")):
    if not readme.exists():
        continue
    text = readme.read_text()
    for name in tables:
        path = Path(f"results/reference/tables/{name}.md")
        table = path.read_text() if path.exists() else "```text\n" + path.with_suffix(".txt").read_text() + "```\n"
        marker = re.compile(rf"(<!-- table: {name} -->\n).*?(<!-- /table -->)", re.S)
        text = marker.sub(lambda m: m.group(1) + table + m.group(2), text)
    readme.write_text(text)
    print(f"updated {readme}")
EOF
