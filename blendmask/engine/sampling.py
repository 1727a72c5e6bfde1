"""A resumable, distributed stream of training batches.

Every sample of the stream has a *global position* p = 0, 1, 2, ...; epoch e visits the dataset in
the order of ``DistributedSampler`` (shuffled with ``seed + e``), and rank r of W takes positions
r, r + W, r + 2W, ... The random augmentation of a sample is seeded by (seed, p) alone, so the
stream is a pure function of the seed: resuming at iteration i only needs i, and W ranks with
per-rank batch B see exactly the samples of one process with batch W * B.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sized

import torch
from torch.utils.data import Dataset, DistributedSampler, Sampler


class StreamSampler(Sampler[list[tuple[int, int]]]):
    """Endless batch sampler yielding lists of ``(dataset index, global position)``.

    ``batch_size`` is per rank; the stream starts at ``start_iter`` (completed iterations).
    """

    def __init__(
        self,
        dataset: Sized,
        *,
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        start_iter: int = 0,
    ) -> None:
        if len(dataset) == 0:
            raise ValueError("the training set is empty")
        self.sampler = DistributedSampler(
            dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed
        )
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        self.start_iter = start_iter

    def positions(self) -> Iterator[tuple[int, int]]:
        """The endless per-rank stream of ``(index, global position)`` from ``start_iter`` on."""
        per_epoch = len(self.sampler)
        local = self.start_iter * self.batch_size
        epoch, offset = divmod(local, per_epoch)
        while True:
            self.sampler.set_epoch(epoch)
            for index in itertools.islice(iter(self.sampler), offset, None):
                yield index, local * self.world_size + self.rank
                local += 1
            epoch, offset = epoch + 1, 0

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        stream = self.positions()
        while True:
            yield list(itertools.islice(stream, self.batch_size))


class SeededSamples(Dataset):
    """Wraps a dataset so that item ``(index, position)`` draws its augmentation from a seed of its own.

    The torch and Python random states are set from (seed, position) for the duration of the call
    and restored afterwards, in the main process and in DataLoader workers alike.
    """

    def __init__(self, dataset: Dataset, seed: int = 0) -> None:
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: tuple[int, int]):
        index, position = item
        sample_seed = (self.seed * 1_000_003 + position) % (2**63)
        python_state = random.getstate()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(sample_seed)
                random.seed(sample_seed)
                return self.dataset[index]
        finally:
            random.setstate(python_state)
