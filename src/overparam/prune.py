"""Pruning masks as data: magnitude pruning, random pruning, rewinding, bit-packed storage.

A mask set is a list shaped like an ensemble's params (see ``overparam.models``): a boolean
tensor (K, fan_out, fan_in) for every weight matrix and ``None`` for every bias (biases are
never pruned, as in Frankle & Carbin 2019). ``train_ensemble(..., masks=...)`` multiplies the
masks into the params before training and into gradients and params after every step, so a
pruned weight is exactly zero throughout training.

Schedules are stated as the *remaining count* after round j, ``round(n * (1 - rate) ** j)``
per layer (layer-wise pruning) or for all weights together (global pruning), so the fraction
that remains follows ``(1 - rate) ** j`` up to one weight of rounding, without rounding
errors compounding over rounds. Each round removes the smallest-magnitude *surviving*
weights (ties broken by position, deterministically), so masks are nested: a weight pruned
once stays pruned.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from .models import MLPSpec, param_shapes, weight_indices

PRUNING = ("layerwise", "global")


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


def full_masks(spec: MLPSpec, K: int, device="cpu") -> list[torch.Tensor | None]:
    """All-ones boolean masks for the weights of K members, None for the biases."""
    out: list[torch.Tensor | None] = [None] * len(param_shapes(spec))
    for i in weight_indices(spec):
        out[i] = torch.ones((K, *param_shapes(spec)[i]), dtype=torch.bool, device=device)
    return out


def _keep_top(scores: torch.Tensor, keep: int) -> torch.Tensor:
    """Boolean mask (same shape as the 1-d ``scores``) of the ``keep`` largest scores; ties
    go to the lower index (stable sort), so the result is deterministic."""
    order = torch.sort(scores, descending=True, stable=True).indices
    m = torch.zeros_like(scores, dtype=torch.bool)
    m[order[:keep]] = True
    return m


def magnitude_prune(
    spec: MLPSpec,
    params: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor | None],
    round_: int,
    rate_hidden: float = 0.2,
    rate_output: float = 0.1,
    pruning: str = "layerwise",
) -> list[torch.Tensor | None]:
    """The masks of round ``round_`` from the trained ``params`` of round ``round_ - 1``:
    among each member's surviving weights keep the largest |w|, down to the scheduled count.

    ``layerwise``: every layer to its own count (``rate_hidden``, output ``rate_output``).
    ``global``: all weight matrices ranked together, down to round(N (1 - rate_hidden)^j)
    of the N weights (the layer-wise fractions then follow from the magnitudes).
    """
    if pruning not in PRUNING:
        raise ValueError(f"pruning must be one of {PRUNING}, got {pruning!r}")
    widx = weight_indices(spec)
    K = params[widx[0]].shape[0]
    sizes = [math.prod(param_shapes(spec)[i]) for i in widx]
    out: list[torch.Tensor | None] = [None] * len(params)
    # a pruned weight scores -1: below every surviving |w|, so it is never revived
    scores = [torch.where(masks[i].bool(), params[i].detach().abs().float(), -1.0).reshape(K, -1)
              for i in widx]
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
    return out


def random_masks(spec: MLPSpec, counts_per_member: Sequence[Sequence[int]],
                 generators: Sequence[torch.Generator]) -> list[torch.Tensor | None]:
    """Uniformly random masks with the given number of surviving weights per layer:
    ``counts_per_member[k][l]`` for member k's weight matrix l, drawn from ``generators[k]``
    (the random-pruning control: same layer-wise sparsity as the ticket, random positions)."""
    widx = weight_indices(spec)
    shapes = param_shapes(spec)
    out: list[torch.Tensor | None] = [None] * len(shapes)
    for li, i in enumerate(widx):
        n = math.prod(shapes[i])
        per = []
        for counts, g in zip(counts_per_member, generators):
            m = torch.zeros(n, dtype=torch.bool)
            m[torch.randperm(n, generator=g)[: int(counts[li])]] = True
            per.append(m.reshape(shapes[i]))
        out[i] = torch.stack(per)
    return out


def remaining(spec: MLPSpec, masks: Sequence[torch.Tensor | None]) -> tuple[np.ndarray, np.ndarray]:
    """Per member: (fraction of all weights remaining (K,), per-layer fractions (K, L))."""
    widx = weight_indices(spec)
    kept = np.stack([masks[i].reshape(masks[i].shape[0], -1).sum(1).cpu().numpy() for i in widx], 1)
    sizes = np.array([math.prod(param_shapes(spec)[i]) for i in widx], dtype=float)
    return kept.sum(1) / sizes.sum(), kept / sizes


def rewind(params: Sequence[torch.Tensor], masks: Sequence[torch.Tensor | None]) -> list[torch.Tensor]:
    """Survivors take their values from ``params`` (the init, or the step-k checkpoint of
    late rewinding); pruned weights are 0. Returns new tensors, ``params`` is unchanged."""
    return [p.clone() if m is None else torch.where(m.to(p.device).bool(), p, torch.zeros_like(p))
            for p, m in zip(params, masks)]


def select(seq: Sequence[torch.Tensor | None], members) -> list[torch.Tensor | None]:
    """Members ``members`` (index list) of every stacked tensor of a params/masks list."""
    idx = torch.as_tensor(list(members), dtype=torch.long)
    return [None if t is None else t.index_select(0, idx.to(t.device)) for t in seq]


def concat(*lists: Sequence[torch.Tensor | None]) -> list[torch.Tensor | None]:
    """Stack several params/masks lists along the member dimension (None stays None)."""
    out = []
    for parts in zip(*lists):
        out.append(None if parts[0] is None else torch.cat([p.cpu() for p in parts], 0))
    return out


# ----------------------------------------------------------------------------- storage


def pack_mask(spec: MLPSpec, masks: Sequence[torch.Tensor | None], member: int) -> bytes:
    """One member's weight masks as bytes: the weight matrices flattened (row-major) in layer
    order, concatenated, bit-packed with ``numpy.packbits`` (big-endian bit order). A
    LeNet-300-100 mask is 33 kB, an MNIST-1D 100x100 MLP mask 1.9 kB."""
    bits = np.concatenate([masks[i][member].reshape(-1).cpu().numpy().astype(bool)
                           for i in weight_indices(spec)])
    return np.packbits(bits).tobytes()


def unpack_mask(spec: MLPSpec, blob: bytes) -> list[torch.Tensor | None]:
    """Inverse of ``pack_mask``: one member's masks, each (1, fan_out, fan_in) bool."""
    shapes = param_shapes(spec)
    widx = weight_indices(spec)
    sizes = [math.prod(shapes[i]) for i in widx]
    bits = np.unpackbits(np.frombuffer(blob, dtype=np.uint8), count=sum(sizes)).astype(bool)
    if len(blob) != (sum(sizes) + 7) // 8:
        raise ValueError(f"mask blob has {len(blob)} bytes, {spec} needs {(sum(sizes) + 7) // 8}")
    out: list[torch.Tensor | None] = [None] * len(shapes)
    for i, part in zip(widx, np.split(bits, np.cumsum(sizes)[:-1])):
        out[i] = torch.from_numpy(part.copy()).reshape(1, *shapes[i])
    return out
