"""Importers that turn existing corpora into manifests."""

from pathlib import Path

import soundfile as sf

from transducer.data.manifest import ManifestError, Utterance
from transducer.text import normalize


def _duration(path: Path) -> float:
    try:
        info = sf.info(str(path))
    except (sf.SoundFileError, RuntimeError) as e:
        raise ManifestError(f"{path}: cannot read audio header ({e})") from e
    return info.frames / info.samplerate


def import_librispeech(root: str | Path) -> list[Utterance]:
    """A LibriSpeech-layout folder: <spk>/<chapter>/<spk>-<chapter>-NNNN.flac plus
    <spk>-<chapter>.trans.txt ("<utt-id> TRANSCRIPT" per line). Speaker is "librispeech/<spk>"."""
    root = Path(root)
    transcripts = sorted(root.glob("*/*/*.trans.txt"))
    if not transcripts:
        raise ManifestError(f"{root}: no */*/*.trans.txt files: not a LibriSpeech-layout folder")
    utts = []
    for trans in transcripts:
        for lineno, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            utt_id, _, text = line.partition(" ")
            audio = trans.parent / f"{utt_id}.flac"
            if not audio.is_file():
                raise ManifestError(f"{trans}:{lineno}: audio {audio.name} not found")
            speaker = "librispeech/" + utt_id.split("-")[0]
            utts.append(Utterance(utt_id, str(audio), _duration(audio), normalize(text), speaker))
    return utts


def _read_table(path: Path, n_fields: int | None = None) -> dict[str, list[str]]:
    """Kaldi table: "<key> <value...>" per line -> {key: [fields]}."""
    table = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        key, *rest = line.split()
        if not rest or (n_fields is not None and len(rest) != n_fields):
            raise ManifestError(f"{path}:{lineno}: malformed line {line!r}")
        table[key] = rest
    return table


def import_kaldi(data_dir: str | Path) -> list[Utterance]:
    """A Kaldi data dir: wav.scp and text, optional segments and utt2spk.

    Only plain paths are supported in wav.scp; piped commands ("sox ... |") are refused.
    """
    data_dir = Path(data_dir)
    for name in ("wav.scp", "text"):
        if not (data_dir / name).is_file():
            raise ManifestError(f"{data_dir}: missing {name}: not a Kaldi data dir")
    wavs = {}
    for key, fields in _read_table(data_dir / "wav.scp").items():
        if fields[-1] == "|" or len(fields) != 1:
            raise ManifestError(f"{data_dir / 'wav.scp'}: {key}: piped commands are not supported")
        path = Path(fields[0])
        wavs[key] = path if path.is_absolute() else data_dir / path
    texts = _read_table(data_dir / "text")
    speakers = {}
    if (data_dir / "utt2spk").is_file():
        speakers = {k: v[0] for k, v in _read_table(data_dir / "utt2spk", 1).items()}
    if (data_dir / "segments").is_file():
        segments = _read_table(data_dir / "segments", 3)
    else:
        segments = {key: [key, "0", "-1"] for key in wavs}
    utts = []
    for utt_id, (rec, start, end) in segments.items():
        if rec not in wavs:
            raise ManifestError(
                f"{data_dir / 'segments'}: {utt_id}: recording {rec!r} not in wav.scp"
            )
        if utt_id not in texts:
            raise ManifestError(f"{data_dir / 'text'}: no transcript for {utt_id!r}")
        start, end = float(start), float(end)
        duration = (end if end > 0 else _duration(wavs[rec])) - start
        text = normalize(" ".join(texts[utt_id]))
        speaker = "kaldi/" + speakers.get(utt_id, utt_id)
        utts.append(Utterance(utt_id, str(wavs[rec]), duration, text, speaker, start))
    return utts
