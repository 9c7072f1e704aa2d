"""Training configuration (YAML sections ``model``, ``data``, ``training``), strictly validated."""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, Dict, Optional

import yaml

from ..config_checks import at_least, between, check_fields, one_of, positive
from ..data.targets import TARGETS
from ..devices import DEVICE_HELP, is_device_name
from ..errors import InputError
from ..keys import BEC_LAYOUTS
from ..model.config import ModelConfig

_DATA_RULES = {
    "val_fraction": between(0.0, 1.0),
    "bec_layout": one_of(*BEC_LAYOUTS),
    "bec_scale": positive(),
}

_TRAINING_RULES = {
    "epochs": at_least(1),
    "batch_size": at_least(1),
    "lr": positive(),
    "weight_decay": at_least(0),
    "lr_factor": between(0.0, 1.0),
    "lr_patience": at_least(0),
    "ema_decay": between(0.0, 1.0, closed="low"),
    "early_stopping_patience": at_least(1),
    "bec_loss": one_of("full", "projected"),
    "seed": at_least(0),
    "dtype": one_of("float32", "float64"),
    "device": (is_device_name, DEVICE_HELP),
    "checkpoint_every": at_least(1),
    "max_frames": at_least(1),
    "num_workers": at_least(0),
}


@dataclasses.dataclass
class DataConfig:
    """Where the data is and what it is called.

    Attributes:
        train: training frames (relative to the configuration file): an extxyz file (read
            into memory), or a frame set written by ``polmlip preprocess`` (read lazily, for
            data larger than memory).
        validation: optional separate file (or frame set) of validation frames.
        val_fraction: share of ``train`` held out for validation (seeded) when no
            ``validation`` file is given.
        keys: the names of the properties in the data files (a frame set takes them when it
            is made, ``polmlip preprocess --keys``), e.g. ``{forces: force,
            bec: xtb_bec}`` (a name or a list of names tried in order; settable: energy,
            forces, stress, dipole, polarization, bec, charges, polarizability,
            total_charge, external_field). A name that matches no frame is an error.
        bec_layout: the order of the 9 Born-charge numbers per atom in the files
            (:data:`polmlip.data.dataset.BEC_LAYOUTS`; checked against the rotation sum
            rule when the frames have dipoles).
        bec_scale: factor on every Born-charge label (training and validation frames), to
            calibrate a cheaper teacher's Z* against the reference method's dipoles:
            ``polmlip datagen file`` prints the ratio for its GFN2-xTB labels
            (:func:`polmlip.qmdata.calibration.dipole_change_ratio`). 1 leaves them as read.
    """

    train: str
    validation: Optional[str] = None
    val_fraction: float = 0.1
    keys: Dict[str, Any] = dataclasses.field(default_factory=dict)
    bec_layout: str = BEC_LAYOUTS[0]
    bec_scale: float = 1.0

    def validate(self) -> None:
        check_fields(self, "data", _DATA_RULES)


@dataclasses.dataclass
class _TrainingSettings:
    """Optimisation settings.

    A weighted property (weight > 0) that no frame of the data has is an error; one that some
    frames lack is fit on the frames that have it (masked per frame).

    Attributes:
        output: folder of the run (checkpoint.pt, model.pt, history, plots); one writer at
            a time.
        epochs: passes over the training frames.
        batch_size: frames per optimisation step.
        lr: AdamW learning rate. weight_decay: AdamW weight decay.
        lr_factor: factor on the learning rate when the validation loss stalls.
        lr_patience: epochs without a better validation loss before ``lr_factor`` applies.
        ema_decay: decay of the exponential moving average of the weights (the exported
            model uses the averaged weights), reached after a warm-up: step n averages with
            min(decay, (1 + n)/(10 + n)); 0 switches it off.
        early_stopping_patience: epochs without a better validation loss before stopping.
        bec_loss: ``"full"`` compares all 9 components of Z* (three backward passes per
            batch); ``"projected"`` compares vᵀZ* for one random direction v per frame and
            step (one backward pass, an unbiased estimate of the same mean square;
            validation stays full). See :func:`polmlip.train.loss.projected_bec_residual`.
        seed: seed of the split, the initial weights and the batches.
        dtype: precision of training (``float32`` is faster; the exported model keeps its
            geometry and long range in float64).
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        checkpoint_every: epochs between checkpoints (the last epoch always writes one).
        max_frames: read at most this many frames of the training file.
        num_workers: processes that build the batches' graphs (neighbour lists,
            collation) ahead of the training step; 0 builds them in the training process.
            Each data-parallel process starts its own. Batches and results are the same.
        tensorboard: also write every epoch's metrics.csv row as TensorBoard scalars to
            ``output/tensorboard`` (needs the ``tensorboard`` package, which polmlip does
            not install).
    """

    output: str = "runs/polmlip"
    epochs: int = 100
    batch_size: int = 4
    lr: float = 5e-3
    weight_decay: float = 0.0
    lr_factor: float = 0.5
    lr_patience: int = 10
    ema_decay: float = 0.99
    early_stopping_patience: int = 40
    bec_loss: str = "full"
    seed: int = 0
    dtype: str = "float64"
    device: str = "cpu"
    checkpoint_every: int = 1
    max_frames: Optional[int] = None
    num_workers: int = 0
    tensorboard: bool = False

    def validate(self) -> None:
        check_fields(self, "training", _TRAINING_RULES)


def _weight_doc(target) -> str:
    """The ``Attributes:`` entry of a target's loss weight (wrapped like the others)."""
    unit = target.unit if target.unit.isalpha() else f"({target.unit})"
    text = f"{target.weight_setting}: loss weight of {target.weight_doc}, 1/{unit}²."
    lines, line = [], "        "
    for word in text.split(" "):
        if len(line) + len(word) > 92 and line.strip():
            lines.append(line.rstrip())
            line = "            "
        line += word + " "
    return "\n".join(lines + [line.rstrip()])


#: the loss weights, one per training target (:data:`polmlip.data.targets.TARGETS`)
_TRAINING_RULES.update({t.weight_setting: at_least(0) for t in TARGETS.values()})

TrainingConfig = dataclasses.make_dataclass(
    "TrainingConfig",
    [
        (t.weight_setting, float, dataclasses.field(default=t.default_weight))
        for t in TARGETS.values()
    ],
    bases=(_TrainingSettings,),
    namespace={
        "__doc__": _TrainingSettings.__doc__.rstrip()
        + "\n"
        + "\n".join(_weight_doc(t) for t in TARGETS.values())
        + "\n    ",
        "__module__": __name__,
    },
)


@dataclasses.dataclass
class RunConfig:
    model: ModelConfig
    data: DataConfig
    training: TrainingConfig
    base_dir: pathlib.Path = pathlib.Path(".")

    def validate(self) -> None:
        """Check every section again (after command-line overrides)."""
        self.model.validate()
        self.data.validate()
        self.training.validate()

    def to_dict(self) -> Dict[str, Any]:
        return {
            "model": self.model.to_dict(),
            "data": dataclasses.asdict(self.data),
            "training": dataclasses.asdict(self.training),
        }


def _section(cls, data: Any, name: str):
    if not isinstance(data, dict):
        raise InputError(f"config section {name!r} must be a mapping")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(
            f"unknown key(s) {unknown} in config section {name!r}; valid keys: {sorted(names)}"
        )
    try:
        obj = cls(**data)
    except TypeError as exc:
        raise InputError(f"config section {name!r}: {exc}") from None
    obj.validate()
    return obj


def load_config(path: str | pathlib.Path) -> RunConfig:
    """Read and validate a YAML run configuration."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"config file {str(path)!r} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"config file {str(path)!r} is not valid YAML: {exc}") from None
    if raw is not None and not isinstance(raw, dict):
        raise InputError(f"config file {str(path)!r} must be a YAML mapping with sections")
    return parse_config(raw or {}, base_dir=path.parent)


def parse_config(raw: Dict[str, Any], base_dir: pathlib.Path = pathlib.Path(".")) -> RunConfig:
    unknown = sorted(set(raw) - {"model", "data", "training"})
    if unknown:
        raise InputError(f"unknown config section(s) {unknown}; use model, data, training")
    for required in ("model", "data"):
        if required not in raw:
            raise InputError(f"config needs a {required!r} section")
    model_section = raw["model"]
    if isinstance(model_section, dict) and model_section.get("mace_body") is not None:
        from ..model.mace_body import with_mace_settings

        model_section = with_mace_settings(model_section, pathlib.Path(base_dir))
    model = ModelConfig.from_dict(model_section)
    data = _section(DataConfig, raw["data"], "data")
    training = _section(TrainingConfig, raw.get("training") or {}, "training")
    return RunConfig(model, data, training, pathlib.Path(base_dir))
