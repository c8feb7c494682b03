"""Training data: utterances -> (waveform, token ids), batched by duration.

Features are computed per batch in the training loop (`transducer.features.fbank_torch`), so
speed perturbation can act on the waveform first.
"""

import numpy as np
import torch

from transducer.data.manifest import Utterance, read_utterance


class SpeechDataset(torch.utils.data.Dataset):
    """utterance i -> (waveform (T,) float32 at 16 kHz, token ids (U,) long), plus its phoneme
    ids (P,) long when `phones` (one list per utterance) is given."""

    def __init__(self, utts: list[Utterance], tokenizer, phones: list[list[int]] | None = None):
        self.utts = utts
        self.tokenizer = tokenizer
        self.phones = phones

    def __len__(self) -> int:
        return len(self.utts)

    def __getitem__(self, i: int):
        utt = self.utts[i]
        samples = read_utterance(utt)
        tokens = torch.tensor(self.tokenizer.encode(utt.text), dtype=torch.long)
        if self.phones is None:
            return torch.from_numpy(samples), tokens
        return torch.from_numpy(samples), tokens, torch.tensor(self.phones[i], dtype=torch.long)


def collate(items):
    """[(waveform, tokens[, phones])] -> waveforms (N, T), wave_lens, targets (N, U),
    target_lens[, phone targets (N, P), phone_lens]."""
    out = []
    for column in zip(*items, strict=True):
        out += [torch.nn.utils.rnn.pad_sequence(list(column), batch_first=True),
                torch.tensor([len(x) for x in column])]  # fmt: skip
    return tuple(out)


class BucketBatchSampler(torch.utils.data.Sampler):
    """Batches of similar duration, at most `max_seconds` of padded audio each.

    Utterances sorted by duration are cut into batches; the batch order is shuffled anew each
    epoch from (seed, epoch). With `world_size` > 1 each rank takes every world_size-th batch
    (batches dropped at the end so all ranks take the same number of steps). With
    `sorted_first_epoch` the first epoch runs shortest first (SortaGrad, Amodei et al. 2016),
    which helps a model trained from scratch find its alignments. `start` skips
    batches already done in the epoch, which is how training resumes mid-epoch.
    """

    def __init__(
        self,
        durations: list[float],
        max_seconds: float,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        sorted_first_epoch: bool = False,
    ):
        order = np.argsort(durations, kind="stable")
        self.batches, batch = [], []
        for i in order:
            if batch and (len(batch) + 1) * durations[i] > max_seconds:
                self.batches.append(batch)
                batch = []
            batch.append(int(i))
        if batch:
            self.batches.append(batch)
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.sorted_first_epoch = sorted_first_epoch
        self.epoch, self.start = 0, 0

    def set_position(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def epoch_batches(self) -> list[list[int]]:
        """This rank's batches of the current epoch, in order."""
        if self.epoch == 0 and self.sorted_first_epoch:  # SortaGrad: short utterances first
            order = np.arange(len(self.batches))
        else:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.batches))
        n = len(order) // self.world_size * self.world_size
        return [self.batches[k] for k in order[:n][self.rank :: self.world_size]]

    def __iter__(self):
        yield from self.epoch_batches()[self.start :]

    def __len__(self) -> int:
        return len(self.batches) // self.world_size
