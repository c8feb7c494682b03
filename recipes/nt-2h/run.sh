#!/usr/bin/env bash
# Issue 3's experiment: a 2-hour synthetic corpus with held-out voices, small models each
# trained for at most 60 minutes, one after the other, scored on dev and test (held-out
# voices). Each run pre-trains its encoder with CTC alone for 1500 steps, then adds the
# transducer loss; SpecAugment from step 4000.
#   bash recipes/nt-2h/run.sh [DATA_DIR] [EXP_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-data/h2}
exp=${2:-exp}
here=recipes/nt-2h
.venv/bin/transducer data synth --out "$data" --hours 2 --seed 11 --quiet
# fullsum-dot-v2 adds what the default model learned (online mean normalisation of the features,
# the convolutional front-end), -drop also dropout 0.3, -labeldrop(6) label dropout 0.4 (0.6),
# -phones label dropout 0.4 and the phoneme CTC head (0.3); the v2 runs use two threads (the
# others one each).
for name in fullsum-dot paper-dot fullsum-mlp fullsum-dot-vtlp fullsum-dot-v2 fullsum-dot-v2-drop \
        fullsum-dot-v2-labeldrop fullsum-dot-v2-labeldrop6 fullsum-dot-v2-phones; do
    threads=1; [[ "$name" == fullsum-dot-v2* ]] && threads=2
    OMP_NUM_THREADS=$threads .venv/bin/transducer train --config "$here/$name.json" \
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

# The same 2 hours with the dev flite voice (awb) trained and clean dev/test plus a noisy copy
# of test (--no-flite-dev --clean-eval: the train split and the test items are those above, the
# test audio without its noise). Scored on both corpora's test audio, per engine, with the last
# three step checkpoints averaged and with the LM; -noise adds fresh noise at every step.
clean=${data}c
.venv/bin/transducer data synth --out "$clean" --hours 2 --seed 11 --no-flite-dev --clean-eval \
    --quiet
for d in "$data" "$clean"; do
    for engine in espeak flite; do
        grep "\"speaker\": \"$engine/" "$d/test.jsonl" > "$d/test-$engine.jsonl"
    done
done
for name in fullsum-dot-v2-phones fullsum-dot-v2-phones-noise; do
    run=$exp/$name-h2c
    OMP_NUM_THREADS=2 .venv/bin/transducer train --config "$here/$name.json" \
        --train "$clean/train.jsonl" --dev "$clean/dev.jsonl" --out "$run" --resume --quiet
    .venv/bin/python -m transducer.runinfo "$run"
    .venv/bin/transducer average $(ls "$run"/step-*.pt | tail -3) --out "$run/avg3.pt"
    for model in best avg3; do
        for m in "$data"/test{,-espeak,-flite} "$clean"/test{,-espeak,-flite,-noisy} "$clean/dev"; do
            echo "$name $model $m $(.venv/bin/transducer eval --model "$run/$model.pt" \
                --manifest "$m.jsonl" --json)"
        done
        for m in "$data/test" "$clean/test" "$clean/test-noisy"; do
            echo "$name $model $m LM $(.venv/bin/transducer eval --model "$run/$model.pt" \
                --manifest "$m.jsonl" --beam 4 --lm transducer/pretrained/lm.npz --lm-weight 0.3 \
                --lm-bonus 0.8 --json)"
        done
    done
done

# Pilot for morphed flite voices (--flite-morph): the 2-hour corpus above (awb held out for dev)
# and the same with 70 % of flite's training sentences in a morph of two training voices; a
# 6,000-step version of fullsum-dot-v2-phones on each (30 minutes, one thread each, side by
# side), their last checkpoints scored on dev's flite voice (awb, unseen in both) and dev's
# espeak-ng variants.
morph=${data}m
.venv/bin/transducer data synth --out "$morph" --hours 2 --seed 11 --flite-morph 0.7 --quiet
for d in "$data" "$morph"; do
    for engine in espeak flite; do
        grep "\"speaker\": \"$engine/" "$d/dev.jsonl" > "$d/dev-$engine.jsonl"
    done
    run=$exp/pilot-$(basename "$d")
    OMP_NUM_THREADS=1 .venv/bin/transducer train --config "$here/fullsum-dot-v2-phones-6k.json" \
        --train "$d/train.jsonl" --dev "$d/dev.jsonl" --out "$run" --resume --quiet &
done
wait
for d in "$data" "$morph"; do
    run=$exp/pilot-$(basename "$d")
    last=$(ls "$run"/step-*.pt | tail -1)  # not best.pt: dev chose it
    for m in dev dev-flite dev-espeak; do
        echo "$last $m $(.venv/bin/transducer eval --model "$last" --manifest "$d/$m.jsonl" --json)"
    done
done

# More voices in the same 2 hours: data/h2c's command with every espeak-ng training sentence in
# a random voice variant and 70 % of flite's in a morph (half of them towards Piper's joe)
# (h2r), and the same with less and milder noise in train (h2t: half clean, SNR 8-30 dB). Their
# dev and test are h2c's; the noisy test copies differ (noise follows --p-clean / --snr), so both
# runs are scored on h2r's. fullsum-dot-v2-phones on each, scored greedy (best and the last
# three averaged) and with beam 8 + the LM at the weight and bonus that read the lowest dev CER
# with run h2r (the grid; 0.2 / 0.8), whichever checkpoint reads the lower dev CER with it. The
# h2r model is also read on 100 of its own training utterances (does it fit them?).
eval_set=${data}r
for extra in "r" "t --p-clean 0.5 --snr 8 30"; do
    name=${extra%% *}; run=$exp/fullsum-dot-v2-phones-h2$name
    # shellcheck disable=SC2086  # the corpus letter, then its extra flags
    .venv/bin/transducer data synth --out "$data$name" --hours 2 --seed 11 --no-flite-dev \
        --clean-eval --espeak-random 1.0 --flite-morph 0.7 --flite-morph-piper 0.5 \
        ${extra#"$name"} --quiet
    OMP_NUM_THREADS=2 .venv/bin/transducer train --config "$here/fullsum-dot-v2-phones.json" \
        --train "$data$name/train.jsonl" --dev "$eval_set/dev.jsonl" --out "$run" --resume --quiet
    .venv/bin/python -m transducer.runinfo "$run"
    .venv/bin/transducer average $(ls "$run"/step-*.pt | tail -3) --out "$run/avg3.pt"
    for model in best avg3; do
        for m in test test-noisy dev; do
            echo "h2$name $model $m $(.venv/bin/transducer eval --model "$run/$model.pt" \
                --manifest "$eval_set/$m.jsonl" --by engine --json)"
        done
    done
done
lm() {  # lm RUN MODEL SPLIT WEIGHT BONUS: beam 8 with the shipped LM
    .venv/bin/transducer eval --model "$exp/fullsum-dot-v2-phones-$1/$2.pt" \
        --manifest "$eval_set/$3.jsonl" --backend numba --beam 8 \
        --lm transducer/pretrained/lm.npz --lm-weight "$4" --lm-bonus "$5" --by engine --json
}
for model in best avg3; do
    for w in 0.2 0.4 0.6 0.8; do
        for b in 0.35 0.8 1.5; do echo "h2r $model dev LM $w $b $(lm h2r $model dev $w $b)"; done
    done
done
for name in h2r h2t; do
    for model in best avg3; do
        for m in dev test test-noisy; do echo "$name $model $m LM $(lm $name $model $m 0.2 0.8)"; done
    done
done
head -n 100 "$eval_set/train.jsonl" > "$eval_set/train100.jsonl"
echo "h2r fit $(.venv/bin/transducer eval --model "$exp/fullsum-dot-v2-phones-h2r/best.pt" \
    --manifest "$eval_set/train100.jsonl" --by engine --json)"

# Is it short of learning? On data/h2t, the peak learning rate doubled (lr2), then the features
# cached in memory with the cosine schedule stretched to 17,000 steps (cache: about 13 % shorter
# steps, so more of them fit in the hour). Scored as above; README quotes, for the LM and the
# noisy copy, the checkpoint (best or avg3) with the lower dev CER, and the fit on 100 of h2t's
# training utterances. Then the cache run with formant warps, and with random fixed filters
# (README: no gain from either).
head -n 100 "${data}t/train.jsonl" > "${data}t/train100.jsonl"
echo "h2t fit $(.venv/bin/transducer eval --model "$exp/fullsum-dot-v2-phones-h2t/best.pt" \
    --manifest "${data}t/train100.jsonl" --by engine --json)"
for variant in "lr2 --set train.lr=0.002" \
        "cache --set train.cache_features=true --set train.max_steps=17000" \
        "formant --set train.cache_features=true --set train.max_steps=17000 \
            --set train.formant_warp=0.3 --set train.formant_warp_frames=30" \
        "eq --set train.cache_features=true --set train.max_steps=17000 \
            --set train.eq_db=15 --set train.eq_points=12"; do
    name=${variant%% *}; run=$exp/fullsum-dot-v2-phones-$name-h2t
    # shellcheck disable=SC2086  # the variant's name, then its settings
    OMP_NUM_THREADS=2 .venv/bin/transducer train --config "$here/fullsum-dot-v2-phones.json" \
        --train "${data}t/train.jsonl" --dev "$eval_set/dev.jsonl" --out "$run" --resume \
        --quiet ${variant#"$name"}
    .venv/bin/python -m transducer.runinfo "$run"
    .venv/bin/transducer average $(ls "$run"/step-*.pt | tail -3) --out "$run/avg3.pt"
    for model in best avg3; do
        for m in dev test test-noisy; do
            echo "$name $model $m $(.venv/bin/transducer eval --model "$run/$model.pt" \
                --manifest "$eval_set/$m.jsonl" --by engine --json)"
        done
        for m in dev test; do echo "$name $model $m LM $(lm "$name-h2t" $model $m 0.2 0.8)"; done
    done
    echo "$name fit $(.venv/bin/transducer eval --model "$run/best.pt" \
        --manifest "${data}t/train100.jsonl" --by engine --json)"
done

# Only the morphs that are easy to hear (README): h2t's command with flite's morphs of `slt` and
# `awb` only, into each other and towards Piper's joe (h2u; no morphs with the diphone voice kal).
# Its dev and test are h2r's (the same items and audio: the morphs touch train items only); its
# noisy copy is its own, with h2t's kind of noise. The `cache` run on it, scored as above.
.venv/bin/transducer data synth --out "${data}u" --hours 2 --seed 11 --no-flite-dev --clean-eval \
    --espeak-random 1.0 --flite-morph 0.7 --flite-morph-piper 0.5 --flite-morph-voices slt awb \
    --p-clean 0.5 --snr 8 30 --quiet
run=$exp/fullsum-dot-v2-phones-cache-h2u
OMP_NUM_THREADS=2 .venv/bin/transducer train --config "$here/fullsum-dot-v2-phones.json" \
    --train "${data}u/train.jsonl" --dev "$eval_set/dev.jsonl" --out "$run" --resume --quiet \
    --set train.cache_features=true --set train.max_steps=17000
.venv/bin/python -m transducer.runinfo "$run"
.venv/bin/transducer average $(ls "$run"/step-*.pt | tail -3) --out "$run/avg3.pt"
head -n 100 "${data}u/train.jsonl" > "${data}u/train100.jsonl"
for model in best avg3; do
    for m in dev test; do
        echo "h2u $model $m $(.venv/bin/transducer eval --model "$run/$model.pt" \
            --manifest "$eval_set/$m.jsonl" --by engine --json)"
        echo "h2u $model $m LM $(lm cache-h2u $model $m 0.2 0.8)"
    done
    echo "h2u $model test-noisy $(.venv/bin/transducer eval --model "$run/$model.pt" \
        --manifest "${data}u/test-noisy.jsonl" --by engine --json)"
done
echo "h2u fit $(.venv/bin/transducer eval --model "$run/best.pt" \
    --manifest "${data}u/train100.jsonl" --by engine --json)"

# A stateless prediction network (README, "The model"): the cache run on h2u again with the LSTM
# prediction network replaced by a convolution over the last 3 labels (pred_context 3; no label
# dropout, which it makes moot), in its own config file. h2u's dev and test are h2r's audio. The
# Numba decoder does not run this network, so every reading is the torch decoder's (the same
# search token for token), the LM included.
run=$exp/fullsum-dot-v2-phones-stateless-h2u
OMP_NUM_THREADS=2 .venv/bin/transducer train --config "$here/fullsum-dot-v2-phones-stateless.json" \
    --train "${data}u/train.jsonl" --dev "${data}u/dev.jsonl" --out "$run" --resume --quiet
.venv/bin/python -m transducer.runinfo "$run"
.venv/bin/transducer average $(ls "$run"/step-*.pt | tail -3) --out "$run/avg3.pt"
for model in best avg3; do
    for m in dev test test-noisy; do
        echo "stateless $model $m $(.venv/bin/transducer eval --model "$run/$model.pt" \
            --manifest "${data}u/$m.jsonl" --by engine --json)"
    done
    for m in dev test; do
        echo "stateless $model $m LM $(.venv/bin/transducer eval --model "$run/$model.pt" \
            --manifest "${data}u/$m.jsonl" --beam 8 --lm transducer/pretrained/lm.npz \
            --lm-weight 0.2 --lm-bonus 0.8 --by engine --json)"
    done
done
echo "stateless fit $(.venv/bin/transducer eval --model "$run/best.pt" \
    --manifest "${data}u/train100.jsonl" --by engine --json)"
