"""Batched MLP ensembles: K members stored as stacked tensors, one forward for all.

An ensemble's parameters are a flat list ``[W_1, b_1, W_2, b_2, ...]`` (no biases when
``spec.bias`` is False) with a leading member dimension K: ``W_l`` is (K, fan_out, fan_in)
and ``b_l`` is (K, fan_out). Member k is initialised from its own
``torch.Generator().manual_seed(seeds[k])`` on the CPU, so its initial weights are the same
whether it is trained alone or inside an ensemble, on any device.

Parametrizations (``MLPSpec.parametrization``):

- ``"standard"``: ``h' = W h + b`` with torch.nn.Linear's default init,
  W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (Kaiming-uniform with a = sqrt(5)).
- ``"ntk"`` (Jacot et al. 2018): ``h' = W h / sqrt(fan_in) + beta * b`` with W, b ~ N(0, 1)
  and ``beta = NTK_BETA = 0.1``. The scale factors live in the forward pass, so gradient
  descent on (W, b) is gradient descent in the NTK parametrization.

Masks (lottery-ticket pruning) are a list shaped like the params, ``None`` for an unmasked
entry; ``mlp_forward`` multiplies them into the weights. Keeping pruned weights at exactly
zero during training is the trainer's job (see ``overparam.train``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

NTK_BETA = 0.1  # bias multiplier of the NTK parametrization (Jacot et al. 2018 use 0.1)

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "gelu": F.gelu,
    "sigmoid": torch.sigmoid,
    "identity": lambda h: h,
}
# in-place versions, used where no autograd graph needs the pre-activation
_ACT_INPLACE = {"relu": torch.relu_, "tanh": torch.tanh_, "sigmoid": torch.sigmoid_}
PARAMETRIZATIONS = ("standard", "ntk")


@dataclass(frozen=True)
class MLPSpec:
    in_dim: int
    hidden: tuple[int, ...]
    out_dim: int
    activation: str = "relu"
    parametrization: str = "standard"  # or "ntk"
    bias: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        dims = self.dims
        if any(d <= 0 for d in dims):
            raise ValueError(f"MLP layer sizes must be positive, got {dims}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {self.activation!r}; choose from {sorted(ACTIVATIONS)}"
            )
        if self.parametrization not in PARAMETRIZATIONS:
            raise ValueError(
                f"unknown parametrization {self.parametrization!r}; choose from {PARAMETRIZATIONS}"
            )

    @property
    def dims(self) -> tuple[int, ...]:
        return (self.in_dim, *self.hidden, self.out_dim)

    @property
    def num_layers(self) -> int:
        return len(self.dims) - 1

    @property
    def gemm_flops_per_sample(self) -> int:
        """GEMM FLOPs of one optimizer step for one member on one sample, exactly: forward
        2 * sum(fan_in * fan_out), the weight gradients as much again, and the input gradients
        of every layer but the first (none w.r.t. the data). Masks do not change it (the
        GEMMs stay dense); elementwise ops are not counted."""
        macs = [i * o for i, o in zip(self.dims[:-1], self.dims[1:])]
        return 4 * sum(macs) + 2 * sum(macs[1:])


def param_shapes(spec: MLPSpec) -> list[tuple[int, ...]]:
    """Per-member shapes of the params list, in order: W_1, (b_1,) W_2, (b_2,) ..."""
    shapes: list[tuple[int, ...]] = []
    for fan_in, fan_out in zip(spec.dims[:-1], spec.dims[1:]):
        shapes.append((fan_out, fan_in))
        if spec.bias:
            shapes.append((fan_out,))
    return shapes


def weight_indices(spec: MLPSpec) -> list[int]:
    """Positions of the weight matrices in the params list."""
    step = 2 if spec.bias else 1
    return list(range(0, step * spec.num_layers, step))


def num_params(spec: MLPSpec) -> int:
    """Number of trainable parameters of one member."""
    return sum(math.prod(s) for s in param_shapes(spec))


def layer_scales(spec: MLPSpec) -> list[tuple[float, float]]:
    """(weight multiplier, bias multiplier) of every layer in the forward pass."""
    if spec.parametrization == "ntk":
        return [(1.0 / math.sqrt(fan_in), NTK_BETA) for fan_in in spec.dims[:-1]]
    return [(1.0, 1.0)] * spec.num_layers


def _init_member(spec: MLPSpec, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(int(seed))
    out = []
    for shape in param_shapes(spec):
        if spec.parametrization == "ntk":
            out.append(torch.randn(shape, generator=g))
        else:
            # bias bound uses the fan_in of its layer: the weight drawn just before it
            fan_in = shape[1] if len(shape) == 2 else out[-1].shape[1]
            bound = 1.0 / math.sqrt(fan_in)
            out.append(torch.rand(shape, generator=g).mul_(2 * bound).sub_(bound))
    return out


def init_mlp_ensemble(
    spec: MLPSpec, seeds: Sequence[int], device="cpu", dtype: torch.dtype = torch.float32
) -> list[torch.Tensor]:
    """Stacked params of len(seeds) members; member k drawn (in float32, on the CPU) from
    ``torch.Generator().manual_seed(seeds[k])``, then cast and moved."""
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("need at least one seed")
    members = [_init_member(spec, s) for s in seeds]
    return [
        torch.stack([m[i] for m in members]).to(device=device, dtype=dtype).contiguous()
        for i in range(len(members[0]))
    ]


def _split_layers(spec: MLPSpec, seq: Sequence) -> list[tuple]:
    if len(seq) != len(param_shapes(spec)):
        raise ValueError(f"expected {len(param_shapes(spec))} tensors for {spec}, got {len(seq)}")
    if spec.bias:
        return [(seq[2 * i], seq[2 * i + 1]) for i in range(spec.num_layers)]
    return [(seq[i], None) for i in range(spec.num_layers)]


def mlp_forward(
    spec: MLPSpec,
    params: Sequence[torch.Tensor],
    x: torch.Tensor,
    masks: Sequence[torch.Tensor | None] | None = None,
) -> torch.Tensor:
    """Logits (K, B, out_dim) of all members.

    ``x`` is (K, B, in_dim) (a batch per member) or (B, in_dim) (the same batch for every
    member: then the first layer is one GEMM against all members' weights at once).
    """
    act = ACTIVATIONS[spec.activation]
    if not torch.is_grad_enabled() and spec.activation in _ACT_INPLACE:
        act = _ACT_INPLACE[spec.activation]  # evaluation: no graph needs the pre-activation
    layers = _split_layers(spec, params)
    mask_layers = _split_layers(spec, masks) if masks is not None else [(None, None)] * len(layers)
    K = layers[0][0].shape[0]
    last = len(layers) - 1
    # Per-member batches run feature-major, h^T = W h^T + b: (K, out, in) @ (K, in, B). Then
    # autograd's weight gradient g @ h is a fresh contiguous (K, out, in) tensor, where the
    # row-major form h @ W^T would hand back a transposed one that AccumulateGrad must copy.
    ht = x.transpose(-2, -1) if x.dim() == 3 else None
    h = x if x.dim() == 2 else None
    for i, ((w, b), (mw, mb), (ws, bs)) in enumerate(zip(layers, mask_layers, layer_scales(spec))):
        if mw is not None:
            w = w * mw
        if mb is not None and b is not None:
            b = b * mb
        if h is not None:  # shared input (B, in): one GEMM (B, in) @ (in, K*out) for all members
            fan_out = w.shape[1]
            wt = w.reshape(K * fan_out, -1).t()
            if b is None:
                z = torch.mm(h, wt) * ws if ws != 1.0 else torch.mm(h, wt)
            else:
                z = torch.addmm(b.reshape(-1), h, wt, beta=bs, alpha=ws)
            h = None
            ht = z.view(-1, K, fan_out).permute(1, 2, 0)  # (K, out, B) view
        elif b is None:
            ht = torch.bmm(w, ht) * ws if ws != 1.0 else torch.bmm(w, ht)
        else:
            ht = torch.baddbmm(b.unsqueeze(-1), w, ht, beta=bs, alpha=ws)
        if i < last:
            ht = act(ht)
    assert ht is not None  # the last layer always writes ht
    return ht.transpose(1, 2)


# Manual backward of the training fast path. In-place activations (_ACT_INPLACE) keep only
# their output, from which relu, tanh and sigmoid derivatives follow; gelu keeps its input.
_ACT_BACKWARD = {  # (grad wrt output, pre-activation z, output a) -> grad wrt z
    "relu": lambda g, z, a: torch.ops.aten.threshold_backward(g, a, 0),
    "tanh": lambda g, z, a: torch.ops.aten.tanh_backward(g, a),
    "sigmoid": lambda g, z, a: torch.ops.aten.sigmoid_backward(g, a),
    "gelu": lambda g, z, a: torch.ops.aten.gelu_backward(g, z),
    "identity": lambda g, z, a: g,
}


@torch.no_grad()
def mlp_forward_backward(
    spec: MLPSpec,
    params: Sequence[torch.Tensor],
    x: torch.Tensor,
    head: Callable[[torch.Tensor], tuple[object, torch.Tensor]],
    grads: Sequence[torch.Tensor],
):
    """Forward and hand-written backward of the batched MLP, without an autograd graph.

    ``x`` is (K, B, in_dim). ``head(logits)`` gets the (K, B, out_dim) logits and returns
    ``(value, dlogits)``: anything, and the gradient of the objective w.r.t. the logits. The
    gradient w.r.t. every param is written into ``grads`` (preallocated, shaped like
    ``params``) with ``out=`` GEMMs, so a step allocates no param-sized memory. Returns
    ``value``. Equal to autograd through ``mlp_forward`` (tests/test_train.py checks).
    """
    layers = _split_layers(spec, params)
    grad_layers = _split_layers(spec, grads)
    scales = layer_scales(spec)
    last = len(layers) - 1
    keep_input = spec.activation == "gelu"
    inplace = _ACT_INPLACE.get(spec.activation)
    act = ACTIVATIONS[spec.activation]
    inputs = [x.transpose(1, 2)]  # layer inputs, feature-major (K, fan_in, B)
    pre: list[torch.Tensor | None] = []
    h = inputs[0]
    for i, ((w, b), (ws, bs)) in enumerate(zip(layers, scales)):
        if b is None:
            z = torch.bmm(w, h)
            if ws != 1.0:
                z.mul_(ws)
        else:
            z = torch.baddbmm(b.unsqueeze(-1), w, h, beta=bs, alpha=ws)
        if i == last:
            break
        pre.append(z if keep_input else None)
        h = inplace(z) if inplace is not None else act(z)
        inputs.append(h)
    with torch.enable_grad():
        value, dlogits = head(z.transpose(1, 2))
    g = dlogits.transpose(1, 2)  # (K, out, B)
    for i in range(last, -1, -1):
        (w, _), (gw, gb), (ws, bs) = layers[i], grad_layers[i], scales[i]
        torch.bmm(g, inputs[i].transpose(1, 2), out=gw)
        if ws != 1.0:
            gw.mul_(ws)
        if gb is not None:
            torch.sum(g, dim=-1, out=gb)
            if bs != 1.0:
                gb.mul_(bs)
        if i > 0:
            g = torch.bmm(w.transpose(1, 2), g)
            if ws != 1.0:
                g.mul_(ws)
            g = _ACT_BACKWARD[spec.activation](g, pre[i - 1], inputs[i])
    return value
