#!/usr/bin/env bash
# Regenerates the tables and figures of results/reference/README.md from the committed records,
# with the harness's own `report` and `plot` commands. Reads the store; never writes to it.
# tests/test_reference_results.py checks that README.md still holds exactly these tables.
set -euo pipefail
cd "$(dirname "$0")/../.."

# Rows: the floor, geometry, episodic meta-learners, pretrain-then-adapt, EGS-Net and its ablations.
learned=protonet,matchingnet,relationnet,maml,baseline,baseline++,simpleshot,egsnet-sim,egsnet-joint,egsnet
groups=(
  "synfacs SynFACS_C,SynFACS_B pixels,$learned"
  "synfacs_landmarks SynFACS_C,SynFACS_B pixels,landmarks,egsnet"
  "cfee CFEE_C,CFEE_B pixels,landmarks,$learned"
  "ckplus CKplus pixels,$learned"
)
for group in "${groups[@]}"; do
  read -r name splits methods <<<"$group"
  for format in latex markdown; do
    extension=$([ "$format" = latex ] && echo tex || echo md)
    fsfer-bench report --results results/reference --splits "$splits" --methods "$methods" --format "$format" \
      --label "tab:$name" --out "results/reference/tables/$name.$extension"
  done
done
fsfer-bench report --results results/reference --splits SynFACS_C,SynFACS_B,CFEE_C,CFEE_B,CKplus \
  --methods "pixels,landmarks,$learned" --format latex --standalone \
  --label tab:reference --out results/reference/tables/reference_standalone.tex --caption "$(cat <<'TEXT'
Reference results of fsfer-bench (seed 0, quick profile): 5-way accuracy (\%), mean $\pm$ 95\% confidence
interval over 600 shared test episodes. On SynFACS, \texttt{landmarks} reads the renderer's exact landmarks:
an upper bound for geometry, not a fair baseline; on CFEE it uses dlib's detections.
TEXT
)"

for split in SynFACS_C CFEE_C CKplus; do
  fsfer-bench plot shots --results results/reference --split "$split" --out "results/reference/plots/shots_$split.png"
done
fsfer-bench plot per-class --results results/reference --split SynFACS_C --shot 5 --methods pixels,protonet,egsnet \
  --out results/reference/plots/per_class_SynFACS_C_5shot.png
fsfer-bench plot confusion --results results/reference --method egsnet --split SynFACS_C --shot 5 \
  --out results/reference/plots/confusion_egsnet_SynFACS_C_5shot.png
fsfer-bench plot histogram --results results/reference --split SynFACS_C --shot 5 --methods protonet,egsnet-sim,egsnet \
  --out results/reference/plots/histogram_SynFACS_C_5shot.png

# The seed study (run_seed_study.sh): five training seeds per method on one episode set per split and
# shot; cells pool the seeds (mean of per-seed means, t-interval and paired tests over seeds).
study=results/reference/seed_study
fsfer-bench report --results "$study" --methods protonet,egsnet-sim,egsnet-joint,egsnet,egsnet-private \
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
  compare_with SynFACS_C protonet egsnet-sim egsnet-joint egsnet-private
  compare_with CFEE_C protonet egsnet-sim egsnet-joint # egsnet-private was not run on CFEE_C
} >results/reference/tables/seed_study_compare.txt

# Paste each markdown table into README.md between its markers.
python - <<'EOF'
import re
from pathlib import Path

readme = Path("results/reference/README.md")
text = readme.read_text()
for name in ("synfacs", "synfacs_landmarks", "cfee", "ckplus", "seed_study", "seed_study_compare"):
    path = Path(f"results/reference/tables/{name}.md")
    table = path.read_text() if path.exists() else "```text\n" + path.with_suffix(".txt").read_text() + "```\n"
    marker = re.compile(rf"(<!-- table: {name} -->\n).*?(<!-- /table -->)", re.S)
    text = marker.sub(lambda m: m.group(1) + table + m.group(2), text)
readme.write_text(text)
EOF
echo "updated results/reference/README.md"
