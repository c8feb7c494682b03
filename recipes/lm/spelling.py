"""British -> American spellings for the normaliser (transducer/data/american.tsv).

    python recipes/lm/spelling.py --british /usr/share/dict/british-english-large
        --american /usr/share/dict/american-english-large --out transducer/data/american.tsv

Debian's wbritish-large and wamerican-large (SCOWL): every lower-case British word that the
American list lacks and that one of a few regular rewrites (-our -> -or, -ise -> -ize,
-isation -> -ization, -yse -> -yze, -tre -> -ter, -ogue -> -og, -ence -> -ense, doubled l
before -ed/-ing/-er, some ae/oe -> e) turns into a word the American list has, and the words
that start with a few stems both lists have (theatre, travell-, grey, ...). The rewrite must be
in the American list.
"""

import argparse
import re
from pathlib import Path

# Regular rewrites, tried on words the American list lacks (where both spellings are listed,
# e.g. "filled", they would be wrong: "filed")
RULES = [
    (r"our(s|ed|ing|er|ers|ite|ites|able|ful|less|ly)?$", r"or\1"),
    (r"is(e|es|ed|ing|er|ers|ation|ations|able)$", r"iz\1"),
    (r"ys(e|es|ed|ing|er|ers)$", r"yz\1"),
    (r"tre(s|d)?$", r"ter\1"),
    (r"ogue(s)?$", r"og\1"),
    (r"ence(s)?$", r"ense\1"),
    (r"([aeiou])ll(ed|ing|er|ers|ation)$", r"\1l\2"),
    (r"^(an|h|pal)ae", r"\1e"),  # anaemia, haemoglobin, palaeontology
    (r"paed", "ped"),  # paediatric, encyclopaedia
    (r"^(f?)oe(?=[st])", r"\1e"),  # foetus, oestrogen, oesophagus
    (r"^homoeo", "homeo"),
    (r"rrhoea", "rrhea"),
]
# Stems whose British spelling the American list also has (SCOWL's large list keeps common
# variants): rewritten wherever they start a word the British list has
STEMS = [("theatre", "theater"), ("metre", "meter"), ("litre", "liter"), ("fibre", "fiber"),
         ("travell", "travel"), ("cancell", "cancel"), ("grey", "gray"), ("catalogue", "catalog"),
         ("licence", "license"), ("judgement", "judgment"), ("programme", "program"),
         ("tyre", "tire"), ("kerb", "curb"), ("plough", "plow"), ("mould", "mold"),
         ("aluminium", "aluminum"), ("sceptic", "skeptic"), ("jewellery", "jewelry"),
         ("pyjama", "pajama"), ("centre", "center"), ("defence", "defense"),
         ("offence", "offense"), ("manoeuvre", "maneuver"), ("cheque", "check")]  # fmt: skip


def words(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    return {w for w in text.split() if w.isalpha() and w.islower() and w.isascii()} | {
        w for w in text.split() if "'" in w and w.islower() and w.isascii()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--british", type=Path, default="/usr/share/dict/british-english-large")
    parser.add_argument("--american", type=Path, default="/usr/share/dict/american-english-large")
    parser.add_argument("--out", type=Path, default=Path("transducer/data/american.tsv"))
    args = parser.parse_args()
    british, american = words(args.british), words(args.american)
    mapping = {}
    for word in sorted(british - american):
        for pattern, replacement in RULES:
            candidate = re.sub(pattern, replacement, word)
            if candidate != word and candidate in american:
                mapping[word] = candidate
                break
    for word in sorted(british):
        for stem, american_stem in STEMS:
            candidate = american_stem + word[len(stem) :]
            if word.startswith(stem) and candidate in american:
                mapping[word] = candidate
    args.out.write_text("".join(f"{b}\t{a}\n" for b, a in sorted(mapping.items())))
    print(f"{len(mapping)} spellings of {len(british - american)} British-only words")


if __name__ == "__main__":
    main()
