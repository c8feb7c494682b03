#!/usr/bin/env bash
# Issue 3's experiment: a 2-hour synthetic corpus with held-out voices, three small models each
# trained for at most 60 minutes on one CPU thread (two at a time side by side on 2 cores), scored
# on dev and test (held-out voices). Each run pre-trains its encoder with CTC alone for 1500
# steps, then adds the transducer loss; SpecAugment from step 4000.
#   bash recipes/nt-2h/run.sh [DATA_DIR] [EXP_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-data/h2}
exp=${2:-exp}
here=recipes/nt-2h
.venv/bin/transducer data synth --out "$data" --hours 2 --seed 11 --quiet
for name in fullsum-dot paper-dot fullsum-mlp fullsum-dot-vtlp; do
    OMP_NUM_THREADS=1 .venv/bin/transducer train --config "$here/$name.json" \
        --train "$data/train.jsonl" --dev "$data/dev.jsonl" --out "$exp/$name" --resume --quiet
    .venv/bin/python -m transducer.runinfo "$exp/$name"
    for split in dev test; do
        echo "$name $split $(.venv/bin/transducer eval --model "$exp/$name/best.pt" --manifest "$data/$split.jsonl" --json)"
    done
done
for name in fullsum-dot; do  # decoding at other latencies than trained (W=8)
    for W in 4 16; do
        echo "$name test W=$W $(.venv/bin/transducer eval --model "$exp/$name/best.pt" --manifest "$data/test.jsonl" --block-width $W --json)"
    done
done
