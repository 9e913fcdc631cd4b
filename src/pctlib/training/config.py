"""The settings of a training run (:class:`TrainConfig`, checked when made) and its error type."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ..assign.losses import NORMALISATIONS, TRACKER_GROUPS
from ..models.interaction_network import ModelConfig

LAMBDA_SCOPES = ("frame", "batch")
OPTIMIZERS = ("rmsprop", "adam", "adamw")
#: settings added after runs were recorded: left out of ``to_dict`` at their defaults so old records still match
_RECENT_DEFAULTS = ("downstream_weight", "downstream_intercept", "downstream_slope", "downstream_pixel_mm", "init",
                    "one_cycle", "warmup_fraction", "optimizer", "weight_decay", "curriculum_steps")


class TrainError(RuntimeError):
    """A run that cannot start (mismatching configuration, empty dataset)."""


@dataclass(frozen=True)
class TrainConfig:
    mode: str = "ptt"  # ptt: BCE on scores; pat: Hamming loss of the assignment
    lam: float = 50.0  # blackbox interpolation (pat)
    scale_by_lambda: bool = True  # False: the released code's gradient without 1/lambda
    steps: int = 200
    batch_frames: int = 32
    lr: float = 1e-3
    step_lr: bool = False  # StepLR(step_size=lr_step, gamma=lr_gamma) as in the released code
    #: cosine decay of the learning rate from lr to lr_min_factor * lr over the run (CosineAnnealingLR); for short
    #: runs, whose last steps at the full rate leave the weights wherever the last batches pushed them
    cosine_lr: bool = False
    lr_min_factor: float = 0.05
    #: one-cycle schedule (OneCycleLR, cosine annealing): the rate rises from lr / 25 to ``lr`` over the first
    #: ``warmup_fraction`` of the steps, then decays to lr / 1e4 at the last step
    one_cycle: bool = False
    warmup_fraction: float = 0.1
    #: "rmsprop" (the paper's), "adam" or "adamw"; ``weight_decay`` applies to all three (AdamW: decoupled)
    optimizer: str = "rmsprop"
    weight_decay: float = 0.0
    #: density curriculum: the first ``curriculum_steps`` steps draw their frames from the easier frames handed to
    #: ``train_many`` as ``easy_frames`` (e.g. 50 p+/F), the rest from the training frames
    curriculum_steps: int = 0
    lr_step: int = 1000
    lr_gamma: float = 0.5
    eval_every: int = 100
    max_val_frames: int = 50
    #: before each validation the BatchNorm running statistics are recomputed at the current weights over this
    #: many training frames (fixed, stratified by phantom; ``training/batchnorm.py``); 0: the running averages
    bn_frames: int = 16
    #: frames scored in one pass (a PyG Batch; for GPUs): 1 = frame by frame, every frame its own BatchNorm batch
    #: (the paper's gradient accumulation); k > 1: BatchNorm normalises over the k frames of a pass
    frames_per_pass: int = 1
    #: the validations summarised in best.json as the run's settled value (mean and spread of the last ones)
    settle_validations: int = 4
    #: weights of the tracker and calorimeter segment groups in the loss (paper Sec. 4.3; ``assign/losses.py``)
    w_tracker: float = 1.0
    w_calorimeter: float = 1.0
    #: "group": one mean per group, weighted and added (the released code); "pooled": one mean over all segments
    loss_normalisation: str = "group"
    #: "tracker": segments leaving a tracker layer; "released": also the 2->3 segments, as the released code groups
    tracker_group: str = "tracker"
    #: "frame": lambda perturbs each frame's own loss gradient, whatever batch_frames is; "batch": the released
    #: code's convention, lambda perturbs the gradient of the batch mean (effective lambda = lam / batch_frames)
    lambda_scope: str = "frame"
    seed: int = 0
    #: seed of the batch sampling; None: ``seed``. Models trained together (``train_many``) share it, and so see the
    #: same frames in the same order
    data_seed: int | None = None
    min_track_hits: int = 4
    min_last_edep: float = 0.0625
    model: ModelConfig = field(default_factory=ModelConfig)
    #: PAT + downstream (a radiograph's objective): the loss is Hamming + downstream_weight x the WEPL loss of the assignment
    #: (``imaging.downstream.DownstreamLoss``: layer depths, WEPL calibration intercept and slope, pixel pitch of
    #: the grouping, 0 = per track), its gradient through the same blackbox assignment; frames need ``hit_wepl``
    downstream_weight: float = 0.0
    downstream_depths: tuple[float, ...] = ()
    downstream_intercept: float = 0.0
    downstream_slope: float = 0.0
    downstream_pixel_mm: float = 0.0
    #: fine-tuning: the model's weights (and input normalisation) start from this checkpoint ("": initialised by
    #: ``seed``); the optimiser and the schedule start afresh
    init: str = ""

    def __post_init__(self):
        if self.mode not in ("ptt", "pat"):
            raise TrainError(f"mode must be 'ptt' or 'pat', got {self.mode!r}")
        object.__setattr__(self, "downstream_depths", tuple(float(v) for v in self.downstream_depths))
        if not (math.isfinite(self.downstream_weight) and self.downstream_weight >= 0):
            raise TrainError(f"downstream_weight must be finite and >= 0, got {self.downstream_weight}")
        if self.downstream_weight > 0:
            if self.mode != "pat":
                raise TrainError("the downstream loss needs mode 'pat' (its gradient goes through the assignment)")
            from ..imaging.downstream import DownstreamError

            try:
                self.downstream()
            except DownstreamError as exc:
                raise TrainError(f"downstream: {exc}") from None
        if self.steps < 1 or self.batch_frames < 1 or self.eval_every < 1:
            raise TrainError("steps, batch_frames and eval_every must be positive")
        if not self.lam > 0 or not math.isfinite(self.lam):
            raise TrainError(f"lam must be positive and finite, got {self.lam}")
        from ..checks import NumberError, check_number

        try:
            check_number(self.lr, "lr", above=0.0)
            check_number(self.lr_gamma, "lr_gamma", above=0.0, maximum=1.0)
            check_number(self.lr_min_factor, "lr_min_factor", minimum=0.0, maximum=1.0)
            check_number(self.min_last_edep, "min_last_edep", minimum=0.0)
            for name in ("steps", "batch_frames", "eval_every", "max_val_frames", "lr_step", "min_track_hits",
                         "bn_frames", "settle_validations", "frames_per_pass"):
                check_number(getattr(self, name), name,
                             minimum=0 if name in ("min_track_hits", "bn_frames") else 1, integer=True)
            check_number(self.seed, "seed", minimum=0, integer=True)
            if self.data_seed is not None:
                check_number(self.data_seed, "data_seed", minimum=0, integer=True)
            check_number(self.weight_decay, "weight_decay", minimum=0.0)
            check_number(self.warmup_fraction, "warmup_fraction", above=0.0, below=1.0)
            check_number(self.curriculum_steps, "curriculum_steps", minimum=0, integer=True)
        except NumberError as exc:
            raise TrainError(str(exc)) from None
        if sum((self.step_lr, self.cosine_lr, self.one_cycle)) > 1:
            raise TrainError("choose one schedule: step_lr, cosine_lr and one_cycle cannot both be set")
        for name in ("w_tracker", "w_calorimeter"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise TrainError(f"{name} must be finite and >= 0, got {v}")
        if self.w_tracker == 0 and self.w_calorimeter == 0:
            raise TrainError("w_tracker and w_calorimeter must not both be 0")
        choices = {"loss_normalisation": NORMALISATIONS, "tracker_group": TRACKER_GROUPS,
                   "lambda_scope": LAMBDA_SCOPES, "optimizer": OPTIMIZERS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise TrainError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    def downstream(self):
        """The ``DownstreamLoss`` of the settings (None when ``downstream_weight`` is 0)."""
        if self.downstream_weight == 0:
            return None
        from ..imaging.downstream import DownstreamLoss

        return DownstreamLoss(self.downstream_depths, self.downstream_intercept, self.downstream_slope,
                              self.downstream_pixel_mm)

    def to_dict(self) -> dict:
        """The settings; the downstream and fine-tuning ones only when set, so that the records of runs made before
        they existed still match."""
        d = asdict(self)
        for name in _RECENT_DEFAULTS:
            if getattr(self, name) == getattr(TrainConfig, name):
                d.pop(name)
        if not self.downstream_depths:
            d.pop("downstream_depths")
        if "downstream_depths" in d:
            d["downstream_depths"] = list(d["downstream_depths"])
        return d
