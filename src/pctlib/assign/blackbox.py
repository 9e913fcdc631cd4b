"""Blackbox differentiation of the assignment (Vlastelica et al. 2020; paper Eq. 14).

Forward: y = y(C), the exact assignment of the costs C (one entry per segment).
Backward, given dL/dy: C' = clip(C + lambda dL/dy, 0, inf), and

    dL/dC = -(y(C) - y(C')) / lambda

the gradient of the piecewise-linear interpolation f_lambda of L(y(C)). ``scale_by_lambda=False`` gives the
released code's variant, which omits the 1/lambda (the same direction, lambda times longer).

``loss_scale`` fixes what lambda perturbs. A training step averages the frames' losses, L = s sum_f L_f with
s = 1 / batch_frames, so the incoming dL/dy of one frame is s dL_f/dy: perturbing with lambda dL/dy (what the
released code does) makes the effective lambda lambda s, i.e. dependent on the batch size. Given ``loss_scale = s``
the backward pass perturbs with the frame's own gradient, C' = clip(C + lambda dL/dy / s, 0, inf), and returns
s times that frame's blackbox gradient: lambda then means the same for every batch size (the default in training,
``TrainConfig.lambda_scope = "frame"``).
"""

from __future__ import annotations

import numpy as np
import torch

from .batch import assign_costs, check_scores, thread_map
from .layout import BlockLayout


class BlackboxAssignment(torch.autograd.Function):
    @staticmethod
    def forward(ctx, cost: torch.Tensor, layout: BlockLayout, lam: float, scale_by_lambda: bool = True,
                backend: str | None = None, workers: int = 1, loss_scale: float = 1.0):
        c = cost.detach().cpu().numpy().astype(np.float64, copy=False)
        y = assign_costs(c, layout, backend, workers)
        ctx.layout, ctx.lam, ctx.scale, ctx.backend, ctx.workers = layout, float(lam), scale_by_lambda, backend, workers
        ctx.c, ctx.y, ctx.loss_scale = c, y, float(loss_scale)
        return torch.as_tensor(y, device=cost.device).to(cost.dtype)

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor):
        grad = blackbox_gradient(ctx.c, ctx.y, grad_y.detach().cpu().numpy(), ctx.layout, ctx.lam, ctx.scale,
                                 ctx.loss_scale, ctx.backend, ctx.workers)
        return torch.as_tensor(grad, device=grad_y.device).to(grad_y.dtype), None, None, None, None, None, None


def blackbox_gradient(c: np.ndarray, y: np.ndarray, grad_y: np.ndarray, layout: BlockLayout, lam: float,
                      scale_by_lambda: bool, loss_scale: float, backend: str | None = None, workers: int = 1
                      ) -> np.ndarray:
    """dL/dC of the module docstring for costs ``c``, their assignment ``y`` and the incoming ``grad_y``."""
    g = np.asarray(grad_y, dtype=np.float64) / loss_scale
    c_prime = np.maximum(c + lam * g, 0.0)
    y_prime = assign_costs(c_prime, layout, backend, workers, known=(y, unchanged_blocks(y, g, layout)))
    diff = y.astype(np.float64) - y_prime
    return (-diff / lam if scale_by_lambda else -diff) * loss_scale


class BlackboxAssignments(torch.autograd.Function):
    """:class:`BlackboxAssignment` for the cost vectors of several models on one frame, solved in one call (a thread
    pool over models when ``workers > 1``; the solvers release the GIL only partly, so this mainly saves the
    per-call overhead on a CPU and keeps a GPU's host work in one place). Each model keeps its own lambda,
    variant and loss scale; the gradients are those of one :class:`BlackboxAssignment` per model (tested)."""

    @staticmethod
    def forward(ctx, layout: BlockLayout, settings: tuple, backend: str | None, workers: int, *costs: torch.Tensor):
        cs = [c.detach().cpu().numpy().astype(np.float64, copy=False) for c in costs]
        ys = thread_map(lambda c: assign_costs(c, layout, backend), cs, workers)
        ctx.layout, ctx.settings, ctx.backend, ctx.workers, ctx.c, ctx.y = layout, settings, backend, workers, cs, ys
        return tuple(torch.as_tensor(y, device=c.device).to(c.dtype) for y, c in zip(ys, costs))

    @staticmethod
    def backward(ctx, *grads: torch.Tensor):
        def one(k):
            lam, scale_by_lambda, loss_scale = ctx.settings[k]
            return blackbox_gradient(ctx.c[k], ctx.y[k], grads[k].detach().cpu().numpy(), ctx.layout, lam,
                                     scale_by_lambda, loss_scale, ctx.backend)

        out = thread_map(one, range(len(grads)), ctx.workers)
        return (None, None, None, None, *(torch.as_tensor(d, device=grads[k].device).to(grads[k].dtype)
                                          for k, d in enumerate(out)))


def assign_differentiable_many(scores: list[torch.Tensor], layout: BlockLayout, lams: list[float],
                               scale_by_lambda: list[bool], loss_scales: list[float], backend: str | None = None,
                               workers: int = 1) -> list[torch.Tensor]:
    """:func:`assign_differentiable` for several models' scores of the same frame, in one call."""
    if not scores:
        return []
    for s, ls in zip(scores, loss_scales):
        check_scores(s.detach().cpu().numpy())
        if not ls > 0:
            raise ValueError(f"loss_scale must be positive, got {ls}")
    settings = tuple((float(l), bool(b), float(ls)) for l, b, ls in zip(lams, scale_by_lambda, loss_scales))
    return list(BlackboxAssignments.apply(layout, settings, backend, workers, *[1.0 - s for s in scores]))


def unchanged_blocks(y: np.ndarray, grad_y: np.ndarray, layout: BlockLayout) -> np.ndarray:
    """Blocks whose assignment provably stays optimal under C' = clip(C + lambda dL/dy, 0, inf).

    If dL/dy <= 0 on every assigned segment and >= 0 on every other segment of a block, the perturbation lowers (or
    keeps) the cost of the current matching and raises (or keeps) every other entry: any other matching gains at
    most what the current one gains, feasibility is unchanged, so the current matching remains a maximum-cardinality
    least-cost matching and need not be recomputed.
    """
    ok = np.where(y == 1, grad_y <= 0, grad_y >= 0)
    ptr = layout.block_ptr
    out = np.ones(layout.n_blocks, dtype=bool)
    nonempty = ptr[1:] > ptr[:-1]
    if nonempty.any():
        starts = ptr[:-1][nonempty]
        out[nonempty] = np.logical_and.reduceat(ok, starts) if ok.size else True
    return out


def assign_differentiable(scores: torch.Tensor, layout: BlockLayout, lam: float, scale_by_lambda: bool = True,
                          backend: str | None = None, workers: int = 1, loss_scale: float = 1.0) -> torch.Tensor:
    """Assignment of segments from scores (cost 1 - s) with blackbox gradients flowing back to the scores;
    ``loss_scale``: the factor the frame's loss is multiplied by before ``backward`` (module docstring)."""
    check_scores(scores.detach().cpu().numpy())
    if not loss_scale > 0:
        raise ValueError(f"loss_scale must be positive, got {loss_scale}")
    return BlackboxAssignment.apply(1.0 - scores, layout, lam, scale_by_lambda, backend, workers, loss_scale)


def interpolated_loss(cost: np.ndarray, layout: BlockLayout, loss_of_y, grad_of_y, lam: float,
                      backend: str | None = None) -> float:
    """f_lambda(C) = L(y(C')) - <C, y(C) - y(C')> / lambda with C' = clip(C + lambda dL/dy(y(C)), 0, inf): the
    piecewise-linear interpolation whose gradient is the blackbox gradient (Vlastelica et al. 2020)."""
    y = assign_costs(cost, layout, backend).astype(np.float64)
    c_prime = np.clip(cost + lam * grad_of_y(y), 0.0, None)
    y_prime = assign_costs(c_prime, layout, backend).astype(np.float64)
    return float(loss_of_y(y_prime) - np.dot(cost, y - y_prime) / lam)
