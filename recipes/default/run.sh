#!/usr/bin/env bash
# The default model (issue 6): a 22-hour corpus, the full-sum model and the paper-mode comparison
# trained side by side (one CPU thread each), then export, shipping and the comparison with
# Whisper tiny.en and PocketSphinx. Training spans sessions: every call resumes both runs and
# trains for MINUTES more (default: until max_steps).
#   bash recipes/default/run.sh [MINUTES]
set -euo pipefail
cd "$(dirname "$0")/../.."
here=recipes/default
data=data/h20
exp=exp/default
minutes=${1:-}
mkdir -p "$exp"
.venv/bin/transducer data synth --out "$data" --hours 22 --seed 21 --clean-eval --quiet > "$exp/synth.json"
for name in fullsum paper; do
    OMP_NUM_THREADS=1 .venv/bin/transducer train --config "$here/$name.json" \
        --train "$data/train.jsonl" --dev "$data/dev.jsonl" --out "$exp/$name" --resume --quiet \
        ${minutes:+--max-minutes "$minutes"} >> "$exp/$name.log" 2>&1 &
done
wait
for name in fullsum paper; do .venv/bin/python -m transducer.runinfo "$exp/$name"; done
# Score both runs (best dev checkpoints), ship the full-sum one, compare it with the peers.
for name in fullsum paper; do
    for split in dev test test-noisy; do
        echo "$name $split $(.venv/bin/transducer eval --model "$exp/$name/best.pt" \
            --manifest "$data/$split.jsonl" --backend numba --json)"
    done
done | tee "$exp/eval.txt"
.venv/bin/python recipes/default/ship.py "$exp/fullsum/best.pt" | tee "$exp/ship.json"
.venv/bin/python recipes/default/compare.py --test "$data/test.jsonl" \
    --noisy "$data/test-noisy.jsonl" --paper "$exp/paper/best.pt" --limit 100 --out docs/results
