"""Training frames held on the device: each frame read from the graph cache and copied to the device once, then
served from there, so that a GPU step does neither disk reads nor host-to-device copies.

The frames must fit: their size is measured on the first frames, extrapolated to all, and compared with a budget
(by default half the device's free memory; on the CPU half the available RAM) before anything is copied; a set that
does not fit is refused with the estimate, not left to fail half way. Each frame records once whether its edge
scalars are mirrored (``mirrored``, read by the models instead of testing the device's values at every step) and
the layout of its assignment blocks (``block_layout``, on the host: PAT's assignments then read only the scores
back from the device)."""

from __future__ import annotations

import torch

from ..assign.layout import layout_of_graph
from ..checks import available_memory_bytes
from ..models.interaction_network import is_mirrored


class ResidentError(MemoryError):
    """The frames would not fit in the memory budget of the device."""


def frame_bytes(g) -> int:
    """Bytes of the tensors of one frame (``FrameGraph``)."""
    return sum(v.numel() * v.element_size() for v in g.to_dict().values() if isinstance(v, torch.Tensor))


def available_bytes(device: torch.device) -> int:
    """Free memory of a CUDA device, or the memory this machine can give now (``checks.available_memory_bytes``)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    return available_memory_bytes()


class ResidentFrames:
    """The frames of ``frames`` (any sequence of frames with an ``identity``, e.g. ``training.data.FrameList``)
    copied to ``device`` once and served from there. ``budget_bytes``: the most they may take (default half of
    :func:`available_bytes`); ``sample``: frames measured for the estimate."""

    def __init__(self, frames, device: str | torch.device, budget_bytes: int | None = None, sample: int = 8,
                 progress: bool = False):
        from ..progress import progress_bar

        self.device = torch.device(device)
        self.identity = getattr(frames, "identity", None)
        self.parts = getattr(frames, "parts", None)  # the phantoms' shares, for stratified choices of frames
        n = len(frames)
        measured = [frame_bytes(frames[i]) for i in range(min(n, sample))]
        self.estimate = int(max(measured, default=0) * n)
        budget = available_bytes(self.device) // 2 if budget_bytes is None else int(budget_bytes)
        if self.estimate > budget:
            raise ResidentError(f"{n} frames need about {self.estimate / 2**30:.2f} GiB on {self.device} (the "
                                f"largest of the first {len(measured)} x {n}); the budget is {budget / 2**30:.2f} "
                                "GiB: train from the graph cache (resident frames off) or on fewer frames")
        self.frames = []
        for i in progress_bar(range(n), desc="frames to device", unit="frame", enabled=progress):
            g = frames[i]
            mirrored, layout = is_mirrored(g.edge_u), layout_of_graph(g)  # read on the host, before the copy
            g = g.to(self.device)
            g.mirrored, g.block_layout = mirrored, layout
            self.frames.append(g)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int):
        return self.frames[i]
