#!/usr/bin/env bash
# LibriSpeech: import, train (one process, or DDP with torchrun), average, decode dev-clean,
# test-clean and test-other, export ONNX. Features are computed on the fly and the feature
# statistics at the start of training, so there is no feature stage. Resumable: rerun a stage
# and it goes on where it stopped.
#   bash recipes/librispeech/run.sh --corpus DIR [--size 100|960] [--stage N] [--stop-stage M]
#       [--exp DIR] [--nproc N] [--device auto|cpu|cuda] [--precision fp32|bf16|fp16]
#   bash recipes/librispeech/run.sh --smoke [--exp DIR]   # every stage on CPU, minutes
# DIR holds LibriSpeech's parts (train-clean-100, ..., test-other). --size 100 trains on
# train-clean-100 (100h.json), 960 on all three training parts (960h.json). --smoke makes a
# tiny LibriSpeech-format corpus from synthetic speech (stage 0, espeak-ng and flite) and
# trains smoke.json on it. Several nodes: run stage 2's command under torchrun yourself, e.g.
#   torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint HOST:29400 \
#       -m transducer.train --config recipes/librispeech/960h.json --train ... --device cuda
#   0 smoke corpus   1 import   2 train   3 average   4 decode   5 export
set -euo pipefail
cd "$(dirname "$0")/../.."
stage=1 stop_stage=5 corpus="" size=100 exp="" nproc=1 smoke=0
device=auto precision=""
while [ $# -gt 0 ]; do
    case $1 in
        --stage) stage=$2; shift 2 ;;
        --stop-stage) stop_stage=$2; shift 2 ;;
        --corpus) corpus=$2; shift 2 ;;
        --size) size=$2; shift 2 ;;
        --exp) exp=$2; shift 2 ;;
        --nproc) nproc=$2; shift 2 ;;
        --device) device=$2; shift 2 ;;
        --precision) precision=$2; shift 2 ;;
        --smoke) smoke=1; shift ;;
        *) echo "unknown option $1" >&2; exit 1 ;;
    esac
done
here=recipes/librispeech
py=.venv/bin/python
tx=.venv/bin/transducer
config=$here/${size}h.json
if [ $smoke = 1 ]; then
    exp=${exp:-exp/librispeech-smoke}
    corpus=$exp/LibriSpeech config=$here/smoke.json device=cpu size=100
    [ "$stage" -eq 1 ] && stage=0
fi
exp=${exp:-exp/librispeech-${size}h}
case $size in
    100) parts="train-clean-100" ;;
    960) parts="train-clean-100 train-clean-360 train-other-500" ;;
    *) echo "--size must be 100 or 960" >&2; exit 1 ;;
esac
[ -n "$corpus" ] || { echo "--corpus DIR (LibriSpeech's parts) or --smoke" >&2; exit 1; }
run() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
data=$exp/data
mkdir -p "$data"

if run 0 && [ $smoke = 1 ]; then  # held-out voices make dev and test; test-other: noisy test
    $tx data synth --out "$exp/synth" --hours 0.1 --seed 7 --engines espeak,flite --clean-eval \
        --dev-fraction 0.15 --test-fraction 0.15 --quiet > /dev/null
    $py $here/smoke.py "$exp/synth" "$corpus"
fi

if run 1; then
    for part in $parts dev-clean test-clean test-other; do
        $tx data import librispeech "$corpus/$part" --out "$data/$part.jsonl"
    done
fi

if run 2; then
    train=() && for part in $parts; do train+=("$data/$part.jsonl"); done
    options=(--config "$config" --train "${train[@]}" --dev "$data/dev-clean.jsonl"
             --out "$exp/train" --resume --quiet --device "$device")
    [ -n "$precision" ] && options+=(--precision "$precision")
    if [ "$nproc" -gt 1 ]; then
        $py -m torch.distributed.run --standalone --nproc_per_node "$nproc" \
            -m transducer.train "${options[@]}"
    else
        $tx train "${options[@]}"
    fi
    $py -m transducer.runinfo "$exp/train"
fi

if run 3; then  # the last three step checkpoints
    # shellcheck disable=SC2046  # a list of files
    $tx average $(ls "$exp"/train/step-*.pt | tail -3) --out "$exp/avg3.pt"
fi

if run 4; then  # streaming decoding (Numba, beam 4), as `transducer transcribe` decodes
    for part in dev-clean test-clean test-other; do
        echo "{\"set\": \"$part\", \"result\": $($tx eval --model "$exp/avg3.pt" \
            --manifest "$data/$part.jsonl" --beam 4 --json)}"
    done | tee "$exp/results.jsonl"
fi

if run 5; then  # fp32 and int8 graphs, checked against the checkpoint
    $tx export --model "$exp/avg3.pt" --out "$exp/export" --int8 > "$exp/export.json"
    $py -c "import json, sys; r = json.load(open(sys.argv[1])); print('export ok:', r['ok'])
sys.exit(0 if r['ok'] else 1)" "$exp/export.json"
fi
