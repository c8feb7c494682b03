#!/usr/bin/env bash
# A test bed for unseen flite voices. The default model's dev set cannot tell whether a change
# helps a new flite voice (flite's dev voice, awb, trains since stage 12), so changes are tried
# here on a model that never heard awb: stage 9's shipped weights, fine-tuned for 6,000 steps on
# the default model's corpora with every awb utterance (and morph of awb) left out, each arm on
# one thread, two side by side. Scored on 409 awb utterances of dev sentences (an unseen flite
# voice), data/h20a's dev (unseen espeak-ng variants) and its flite test voice rms (unseen too).
# Needs the corpora of run.sh (data/h20a, data/h8*).
#   bash recipes/default/bed.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
here=recipes/default
exp=exp/bed
mkdir -p "$exp"
.venv/bin/transducer data synth --out data/awbdev --hours 1.2 --seed 99 --engines flite \
    --dev-fraction 0.4 --test-fraction 0.01 --clean-eval --quiet > "$exp/synth-awbdev.json"
# 16 hours like h8m and h8n (70 % of flite's training sentences morphed), half of the morphs
# towards Piper's joe (--flite-morph-piper 0.5), seeds 41 and 42
for corpus in "h8ja 41" "h8jb 42"; do
    read -r name seed <<< "$corpus"
    .venv/bin/transducer data synth --out "data/$name" --hours 8 --seed "$seed" \
        --engines espeak,flite --flite-f0 75 230 --p-clean 0.4 --no-flite-dev --clean-eval \
        --quiet --flite-morph 0.7 --flite-morph-piper 0.5 > "$exp/synth-$name.json"
done
for corpus in h20a h8f h8g h8h h8m h8n h8o h8p h8q h8r h8ja h8jb; do
    grep -v '"flite/[^"]*awb' "data/$corpus/train.jsonl" > "data/$corpus/train-noawb.jsonl"
done
git show a2d0d10:transducer/pretrained/model.pt > "$exp/stage9.pt"  # stage 9, as shipped
# arm NAME SETTING SEED CORPUS...: bed.json with SETTING (SECTION.KEY=VALUE, or "" for none)
arm() {
    local train=() extra=()
    for corpus in "${@:4}"; do train+=("data/$corpus/train-noawb.jsonl"); done
    [[ -n $2 ]] && extra=(--set "$2")
    OMP_NUM_THREADS=1 .venv/bin/transducer train --config "$here/bed.json" "${extra[@]}" \
        --seed "$3" --train "${train[@]}" --dev data/awbdev/dev.jsonl --out "$exp/$1" --resume \
        --quiet --init "$exp/stage9.pt" >> "$exp/$1.log" 2>&1
    for m in data/awbdev/dev data/h20a/dev data/h20a/test-flite; do
        echo "$1 $m $(OMP_NUM_THREADS=1 .venv/bin/transducer eval --model \
            "$exp/$1/step-0006000.pt" --manifest "$m.jsonl" --block-width 4 --beam 8 \
            --backend numba --lm transducer/pretrained/lm.npz --lm-weight 0.2 --lm-bonus 0.35 \
            --json)"
    done > "$exp/eval-$1.txt"
}
plain=(h20a h8f h8g h8h h8o h8p h8q h8r)
morphed=(h20a h8f h8g h8h h8m h8n h8q h8r)  # morphed flite voices in place of h8o and h8p
arm control "" 9001 "${plain[@]}" &
arm specaug train.spec_augment=true 9001 "${plain[@]}" &  # SpecAugment back on
wait
arm morph "" 9001 "${morphed[@]}" &
arm dropout model.dropout=0.25 9001 "${plain[@]}" &  # encoder dropout 0.25, not 0.1
wait
arm control-s2 "" 9002 "${plain[@]}" &  # the first and third again with another seed
arm morph-s2 "" 9002 "${morphed[@]}" &
wait
joemorphed=(h20a h8f h8g h8h h8ja h8jb h8q h8r)  # half of the morphs towards Piper's joe
arm joemorph "" 9001 "${joemorphed[@]}" &
arm joemorph-s2 "" 9002 "${joemorphed[@]}" &
wait
cat "$exp"/eval-*.txt
