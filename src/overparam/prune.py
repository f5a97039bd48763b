"""Pruning masks as data: magnitude pruning, the random controls, rewinding, bit-packed storage.

A :class:`Mask` holds the weight masks of an ensemble of K members (see ``overparam.models``):
a list shaped like the ensemble's params, a boolean tensor (K, fan_out, fan_in) for every
weight matrix and ``None`` for every bias (biases are never pruned, as in Frankle & Carbin
2019). ``train_ensemble(..., masks=mask.layers)`` multiplies the masks into the params before
training and into gradients and params after every step, so a pruned weight is exactly zero
throughout training.

Schedules are stated as the *remaining count* after round j, ``round(n * (1 - rate) ** j)``
per layer (layer-wise pruning) or for all weights together (global pruning), so the fraction
that remains follows ``(1 - rate) ** j`` up to one weight of rounding, without rounding
errors compounding over rounds. Each round removes the smallest-magnitude *surviving*
weights (ties broken by position, deterministically), so masks are nested: a weight pruned
once stays pruned.

The controls of a lottery ticket (named as in open_lth's ``randomly_reinitialize`` and
``randomly_prune``): :func:`randomly_reinitialize` (same mask, fresh init) and
:func:`randomly_prune` (same per-layer counts, uniformly random positions).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .models import MLPSpec, init_mlp_ensemble, param_shapes, weight_indices

PRUNING = ("layerwise", "global")

Layers = Sequence[torch.Tensor | None]


def select_members(seq: Layers, members: Iterable[int]) -> list[torch.Tensor | None]:
    """Members ``members`` (index list) of every stacked tensor of a params/masks list."""
    idx = torch.as_tensor(list(members), dtype=torch.long)
    return [None if t is None else t.index_select(0, idx.to(t.device)) for t in seq]


def concat_members(*lists: Layers) -> list[torch.Tensor | None]:
    """Stack several params/masks lists along the member dimension, on the CPU (None stays
    None)."""
    return [
        None if parts[0] is None else torch.cat([p.cpu() for p in parts], 0)
        for parts in zip(*lists)
    ]


@dataclass(frozen=True, eq=False)
class Mask:
    """The weight masks of K members of a ``spec`` network (see the module docstring)."""

    spec: MLPSpec
    layers: tuple[torch.Tensor | None, ...]

    def __post_init__(self) -> None:
        layers = tuple(self.layers)
        object.__setattr__(self, "layers", layers)
        shapes, widx = param_shapes(self.spec), weight_indices(self.spec)
        if len(layers) != len(shapes):
            raise ValueError(f"a mask of {self.spec} has {len(shapes)} entries, got {len(layers)}")
        first = layers[widx[0]]
        K = None if first is None else first.shape[0]
        for i, (m, s) in enumerate(zip(layers, shapes)):
            if (m is None) != (i not in widx) or (m is not None and tuple(m.shape) != (K, *s)):
                raise ValueError(
                    f"mask entry {i}: expected {'None' if i not in widx else (K, *s)}"
                    f", got {None if m is None else tuple(m.shape)}"
                )

    # ------------------------------------------------------------------ construction

    @classmethod
    def full(cls, spec: MLPSpec, K: int, device="cpu") -> Mask:
        """All-ones boolean masks for the weights of K members."""
        shapes = param_shapes(spec)
        widx = weight_indices(spec)
        return cls(
            spec,
            tuple(
                torch.ones((K, *shapes[i]), dtype=torch.bool, device=device) if i in widx else None
                for i in range(len(shapes))
            ),
        )

    @classmethod
    def unpack(cls, spec: MLPSpec, blob: bytes) -> Mask:
        """Inverse of :meth:`pack`: one member's mask (K = 1)."""
        shapes = param_shapes(spec)
        widx = weight_indices(spec)
        sizes = [math.prod(shapes[i]) for i in widx]
        if len(blob) != (sum(sizes) + 7) // 8:
            raise ValueError(
                f"mask blob has {len(blob)} bytes, {spec} needs {(sum(sizes) + 7) // 8}"
            )
        bits = np.unpackbits(np.frombuffer(blob, dtype=np.uint8), count=sum(sizes)).astype(bool)
        out: list[torch.Tensor | None] = [None] * len(shapes)
        for i, part in zip(widx, np.split(bits, np.cumsum(sizes)[:-1])):
            out[i] = torch.from_numpy(part.copy()).reshape(1, *shapes[i])
        return cls(spec, tuple(out))

    @classmethod
    def concat(cls, *masks: Mask) -> Mask:
        """The members of several masks, in order (on the CPU)."""
        if any(m.spec != masks[0].spec for m in masks):
            raise ValueError("cannot concatenate masks of different networks")
        return cls(masks[0].spec, tuple(concat_members(*(m.layers for m in masks))))

    def select(self, members: Iterable[int]) -> Mask:
        """The members ``members`` (index list)."""
        return Mask(self.spec, tuple(select_members(self.layers, members)))

    # ------------------------------------------------------------------ reading

    @property
    def K(self) -> int:
        """Number of members."""
        return int(self.weights[0].shape[0])

    @property
    def weights(self) -> list[torch.Tensor]:
        """The weight matrices' masks, in layer order."""
        return [m for m in self.layers if m is not None]

    @property
    def sizes(self) -> list[int]:
        """Number of weights of each weight matrix (of one member)."""
        return [math.prod(m.shape[1:]) for m in self.weights]

    def kept(self) -> np.ndarray:
        """(K, L) surviving weights of every member in every weight matrix."""
        return np.stack([m.reshape(m.shape[0], -1).sum(1).cpu().numpy() for m in self.weights], 1)

    def remaining(self) -> tuple[np.ndarray, np.ndarray]:
        """Per member: (fraction of all weights remaining (K,), per-layer fractions (K, L))."""
        kept = self.kept()
        sizes = np.array(self.sizes, dtype=float)
        return kept.sum(1) / sizes.sum(), kept / sizes

    def apply(self, params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Survivors take their values from ``params`` (the init, or the step-k checkpoint of
        late rewinding); pruned weights are 0. Returns new tensors, ``params`` is unchanged."""
        return [
            p.clone() if m is None else torch.where(m.to(p.device).bool(), p, torch.zeros_like(p))
            for p, m in zip(params, self.layers)
        ]

    def pack(self, member: int) -> bytes:
        """One member's mask as bytes: the weight matrices flattened (row-major) in layer order,
        concatenated, bit-packed with ``numpy.packbits`` (big-endian bit order). A LeNet-300-100
        mask is 33 kB, an MNIST-1D 100x100 MLP mask 1.9 kB."""
        bits = np.concatenate(
            [m[member].reshape(-1).cpu().numpy().astype(bool) for m in self.weights]
        )
        return np.packbits(bits).tobytes()


# ----------------------------------------------------------------------------- magnitude pruning


def layer_rates(spec: MLPSpec, rate_hidden: float, rate_output: float) -> list[float]:
    """Per-weight-matrix pruning rate: ``rate_hidden`` for every layer but the last (the
    output layer), which gets ``rate_output`` (Frankle & Carbin 2019: 20% / 10%)."""
    for r in (rate_hidden, rate_output):
        if not 0.0 <= r < 1.0:
            raise ValueError(f"pruning rates must be in [0, 1), got {r}")
    return [rate_hidden] * (spec.num_layers - 1) + [rate_output]


def scheduled_counts(sizes: Sequence[int], rates: Sequence[float], round_: int) -> list[int]:
    """Weights that remain in each layer after ``round_`` rounds: round(n (1 - rate)^j), at
    least 1 so that no layer disconnects the network."""
    return [max(1, int(round(n * (1.0 - r) ** round_))) for n, r in zip(sizes, rates)]


def _keep_top(scores: torch.Tensor, keep: int) -> torch.Tensor:
    """Boolean mask (same shape as the 1-d ``scores``) of the ``keep`` largest scores; ties
    go to the lower index (stable sort), so the result is deterministic."""
    order = torch.sort(scores, descending=True, stable=True).indices
    m = torch.zeros_like(scores, dtype=torch.bool)
    m[order[:keep]] = True
    return m


def magnitude_prune(
    params: Sequence[torch.Tensor],
    mask: Mask,
    round_: int,
    rate_hidden: float = 0.2,
    rate_output: float = 0.1,
    pruning: str = "layerwise",
) -> Mask:
    """The mask of round ``round_`` from the trained ``params`` of round ``round_ - 1`` (and
    its ``mask``): among each member's surviving weights keep the largest |w|, down to the
    scheduled count.

    ``layerwise``: every layer to its own count (``rate_hidden``, output ``rate_output``).
    ``global``: all weight matrices ranked together, down to round(N (1 - rate_hidden)^j)
    of the N weights (the layer-wise fractions then follow from the magnitudes).
    """
    if pruning not in PRUNING:
        raise ValueError(f"pruning must be one of {PRUNING}, got {pruning!r}")
    spec = mask.spec
    widx = weight_indices(spec)
    K = params[widx[0]].shape[0]
    sizes = mask.sizes
    out: list[torch.Tensor | None] = [None] * len(params)
    # a pruned weight scores -1: below every surviving |w|, so it is never revived
    scores = [
        torch.where(m.bool(), params[i].detach().abs().float(), -1.0).reshape(K, -1)
        for i, m in zip(widx, mask.weights)
    ]
    if pruning == "layerwise":
        counts = scheduled_counts(sizes, layer_rates(spec, rate_hidden, rate_output), round_)
        for i, s, c in zip(widx, scores, counts):
            out[i] = torch.stack([_keep_top(s[k], c) for k in range(K)]).reshape(params[i].shape)
    else:
        (count,) = scheduled_counts([sum(sizes)], [rate_hidden], round_)
        flat = torch.cat(scores, dim=1)
        keep = torch.stack([_keep_top(flat[k], count) for k in range(K)])
        for i, part in zip(widx, torch.split(keep, sizes, dim=1)):
            out[i] = part.reshape(params[i].shape)
    return Mask(spec, tuple(out))


# ----------------------------------------------------------------------------- controls


def randomly_reinitialize(spec: MLPSpec, seeds: Sequence[int]) -> list[torch.Tensor]:
    """The reinit control's weights: a fresh init of ``spec`` (member k from ``seeds[k]``,
    ``overparam.models.init_mlp_ensemble``). Apply the ticket's mask to it to get the
    control (same mask, different init)."""
    return init_mlp_ensemble(spec, seeds)


def randomly_prune(mask: Mask, generators: Sequence[torch.Generator]) -> Mask:
    """The random-pruning control: member k keeps as many weights in every layer as member k
    of ``mask``, at uniformly random positions drawn from ``generators[k]`` (layer by layer,
    one ``randperm`` per layer)."""
    if len(generators) != mask.K:
        raise ValueError(f"{len(generators)} generators for a mask of {mask.K} members")
    counts = mask.kept()
    shapes = param_shapes(mask.spec)
    out: list[torch.Tensor | None] = [None] * len(shapes)
    for li, i in enumerate(weight_indices(mask.spec)):
        n = math.prod(shapes[i])
        per = []
        for k, g in enumerate(generators):
            m = torch.zeros(n, dtype=torch.bool)
            m[torch.randperm(n, generator=g)[: int(counts[k, li])]] = True
            per.append(m.reshape(shapes[i]))
        out[i] = torch.stack(per)
    return Mask(mask.spec, tuple(out))
