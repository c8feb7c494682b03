"""Phoneme targets for the auxiliary phoneme CTC head (`ModelConfig.phone_ctc_weight`).

espeak-ng turns each training sentence into US-English IPA phonemes once, at the start of a
run. English spelling says little about sound, and a model trained on a few hours of speech
learns the spelling of its training sentences rather than the sounds of new ones; a CTC head
that must also name the phonemes ties the encoder to sounds. The head is for training only:
decoding, export and the streaming backends never read it.
"""

import re
import shutil
import subprocess

# espeak-ng's US-English phonemes (stress marks removed), each seen at least 200 times in the
# default model's 15,480 training sentences; rarer ones are left out of the targets.
PHONES = (
    "n t ɪ s ə d l ɹ k m z ɛ æ ʌ ð w p f b v iː aɪ uː eɪ ɚ ɐ oʊ h i j ŋ ɑː ɡ ᵻ ɾ əl ʃ ɜː dʒ θ "
    "ɔː aʊ ʊ tʃ ɑːɹ ɔ ɔːɹ oːɹ ɛɹ ʊɹ iə ɪɹ ɔɪ oː aɪɚ aɪə ʒ n̩ ʔ"
).split()
PHONE_IDS = {p: i for i, p in enumerate(PHONES, 1)}  # 0 is the CTC blank


def phonemize(texts: list[str], voice: str = "en-us") -> list[list[int]]:
    """Each text -> its phoneme ids (1..len(PHONES)), with one espeak-ng process for all.

    Only letters and apostrophes are read (anything else would be spoken or split a sentence).
    Each distinct text goes to espeak-ng as its own sentence, one per line, so it writes one
    line per text; a count that does not match is an error rather than misaligned targets.
    """
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise RuntimeError(
            "phone_ctc_weight > 0 needs espeak-ng to phonemize the training text; "
            "install it (`make system-deps`, or apt-get install espeak-ng)"
        )
    clean = [" ".join(re.sub(r"[^a-z']+", " ", text.lower()).split()) for text in texts]
    unique = sorted(set(clean))
    result = subprocess.run(
        [binary, "-q", "--ipa", "--sep=_", "-v", voice],
        input="".join(f"{text}.\n" for text in unique),
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.splitlines()
    if len(lines) != len(unique):
        raise RuntimeError(f"espeak-ng wrote {len(lines)} lines for {len(unique)} sentences")
    ids = {}
    for text, line in zip(unique, lines, strict=True):
        units = line.replace("ˈ", "").replace("ˌ", "").replace(" ", "_").split("_")
        ids[text] = [PHONE_IDS[p] for p in units if p in PHONE_IDS]
    return [ids[text] for text in clean]
