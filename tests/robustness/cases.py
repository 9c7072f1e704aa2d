"""The robustness table: one row per bad or unusual input and the route it goes through.

Each :class:`Case` names the input in words (``what``, shown in ``docs/errors.md``), the route
(``cli``, ``python``, ``openmm``, ``lammps``), how to run it (``action``: an argv for the CLI,
a callable ``action(work)`` for Python and OpenMM, a spec of ``write_inputs`` arguments for
LAMMPS) and a regular expression the message must contain (``match``). LAMMPS rows run at
every rank count in ``ranks``. The contract every route must show is in :mod:`.runners`.
"""

from __future__ import annotations

import dataclasses
import pathlib
import warnings
from typing import Any, Callable, Optional, Sequence

import numpy as np
import yaml

from .workspace import CONFIG, water_cluster


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    route: str
    what: str
    match: str
    action: Any
    setup: Optional[Callable[[pathlib.Path], None]] = None
    ranks: Sequence[int] = (1,)
    needs: str = ""  # "openmm", "lammps", "no-cuda", "phonopy"
    subprocess: bool = False


# ---- helpers building the inputs --------------------------------------------------------


def _older_model(work: pathlib.Path) -> None:
    """old.pt: a copy of the workspace model labelled with the previous (positional) format."""
    from polmlip import keys

    from model_helpers import with_format_version  # tests/model is on the path (workspace)

    with_format_version(work / "run/model.pt", work / "old.pt", keys.FORMAT_VERSION - 1)


def _model_with_metadata(name: str, edit):
    """A setup writing ``name``: the workspace model with its metadata text edited by
    ``edit`` (str → str)."""

    def setup(work: pathlib.Path) -> None:
        import zipfile

        from polmlip import keys

        with zipfile.ZipFile(work / "run/model.pt") as zin:
            with zipfile.ZipFile(work / name, "w") as zout:
                for item in zin.infolist():
                    data = zin.read(item.filename)
                    if item.filename.endswith(keys.METADATA_FILE):
                        data = edit(data.decode()).encode()
                    zout.writestr(item, data)

    return setup


def _without_halo(text: str) -> str:
    """The metadata of a file exported before the halo exchange (no features.halo_exchange)."""
    import json

    meta = json.loads(text)
    meta["features"].pop("halo_exchange")
    return json.dumps(meta)


_model_without_halo = _model_with_metadata("nohalo.pt", _without_halo)
#: metadata with a trailing comma (not JSON), and with the key "cutoff" twice
_model_not_json = _model_with_metadata("notjson.pt", lambda t: t.rstrip()[:-1] + ",}")
_model_repeated_key = _model_with_metadata("twice.pt", lambda t: '{"cutoff": 9.0, ' + t[1:])


def config_with(section: str, key: str, value: Any, name: str = "bad.yaml"):
    """A setup writing ``name``: the workspace config with ``section.key = value``."""

    def setup(work: pathlib.Path) -> None:
        cfg = {k: dict(v) for k, v in CONFIG.items()}
        if value is _DELETE:
            cfg[section].pop(key, None)
        elif key is None:
            cfg[section] = value
        else:
            cfg[section][key] = value
        cfg["training"]["output"] = "run_bad"
        (work / name).write_text(yaml.safe_dump(cfg))

    return setup


_DELETE = object()


def write(name: str, text: str | bytes):
    def setup(work: pathlib.Path) -> None:
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)

    return setup


def truncate(src: str, dst: str, size: int = 5000):
    def setup(work: pathlib.Path) -> None:
        (work / dst).parent.mkdir(parents=True, exist_ok=True)
        (work / dst).write_bytes((work / src).read_bytes()[:size])

    return setup


#: the body of the mace-torch model of tests/references/mace
MACE_BODY = pathlib.Path(__file__).resolve().parents[1] / "references" / "mace" / "body.npz"


def _mace_body_config(name: str, content):
    """A setup writing ``name`` (bytes, or the file at a path) and a config that names it
    as model.mace_body."""

    def setup(work: pathlib.Path) -> None:
        data = content.read_bytes() if isinstance(content, pathlib.Path) else content
        (work / name).write_bytes(data)
        config_with("model", "mace_body", name)(work)

    return setup


def train_bad(section, key, value, match, what, case_id):
    return Case(
        case_id,
        "cli",
        what,
        match,
        ["train", "bad.yaml", "--quiet"],
        config_with(section, key, value),
    )


def _energies_only(work: pathlib.Path) -> None:
    """energies.xyz: the workspace's training frames without their forces."""
    import ase.io

    frames = ase.io.read(work / "train.xyz", ":")
    for atoms in frames:
        atoms.arrays.pop("forces", None)
        if atoms.calc is not None:
            atoms.calc.results.pop("forces", None)
    ase.io.write(work / "energies.xyz", frames)


def _edited_frames(work: pathlib.Path, name: str, frame: int, how: str) -> None:
    """``name``: the workspace's training frames with frame ``frame`` spoiled: two atoms
    0.01 Å apart (``overlap``), its energy NaN (``nan``), or put in a periodic cube of 1.5 Å
    (``tiny-cell``: two atoms 0.15 Å apart through the boundary)."""
    import ase
    import ase.io

    frames = ase.io.read(work / "train.xyz", ":")
    if how == "overlap":
        frames[frame].positions[1] = frames[frame].positions[0] + [0.01, 0.0, 0.0]
    elif how == "nan":
        if frames[frame].calc is not None:  # ASE read the energy into a calculator
            frames[frame].calc.results["energy"] = float("nan")
        else:
            frames[frame].info["energy"] = float("nan")
    else:
        tiny = ase.Atoms("H2", positions=[[0.2, 0.2, 0.2], [0.2, 0.2, 1.55]], cell=[1.5] * 3)
        tiny.pbc = True
        tiny.info["energy"] = -1.0
        tiny.arrays["forces"] = np.zeros((2, 3))
        frames[frame] = tiny
    ase.io.write(work / name, frames)


def _truncated(work: pathlib.Path, name: str) -> None:
    """``name``: the workspace's training file without its last three lines."""
    lines = (work / "train.xyz").read_text().splitlines()
    (work / name).write_text("\n".join(lines[:-3]) + "\n")


def _frame_set(work: pathlib.Path, source: str, name: str, damage: str = "") -> None:
    """``name``: ``source`` written by ``polmlip preprocess``; ``damage``: ``array`` (an
    array replaced by one of another shape) or ``version`` (a manifest of another version)."""
    import json

    from polmlip.data.preprocess import preprocess
    from polmlip.data.store import MANIFEST

    preprocess(work / source, work / name, 3.5, progress=False)
    if damage == "array":
        np.save(work / name / "positions.npy", np.zeros((2, 3)))
    elif damage == "version":
        manifest = json.loads((work / name / MANIFEST).read_text())
        manifest["version"] = 0
        (work / name / MANIFEST).write_text(json.dumps(manifest))


def _frames_config(work: pathlib.Path, name: str, **data) -> None:
    """bad.yaml: the workspace's config training from frame set ``name`` (and ``data``)."""
    cfg = yaml.safe_load((work / "cfg.yaml").read_text())
    cfg["data"].update(train=name, **data)
    (work / "bad.yaml").write_text(yaml.safe_dump(cfg))


#: lock files held open by ``_busy_folder`` for the rest of the test process
_HELD: list = []


def _busy_folder(folder: pathlib.Path) -> None:
    """Hold the training lock of ``folder`` as a running ``polmlip train`` would."""
    import fcntl
    import os

    from polmlip.train.run_folder import LOCK_NAME

    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, b"pid 4242 on node7, since 2026-12-07 03:00:00")
    _HELD.append(fd)


def water(n=3, seed=0, box=None):
    return water_cluster(n, seed=seed, box=box)


def overlapping(distance: float, box: Optional[float] = None):
    """A water cluster whose atoms 4 and 5 (0-based) are ``distance`` Å apart."""

    def make():
        atoms = water_cluster(4, seed=1, box=box)
        atoms.positions[5] = atoms.positions[4] + [distance, 0.0, 0.0]
        return atoms

    return make


def calc(work, **kwargs):
    from polmlip.ase import PolMLIPCalculator

    return PolMLIPCalculator(str(work / kwargs.pop("model", "run/model.pt")), **kwargs)


def energy(atoms, work, **kwargs):
    atoms.calc = calc(work, **kwargs)
    return atoms.get_potential_energy()


def with_positions(fn):
    def make():
        atoms = water(3, seed=4)
        fn(atoms)
        return atoms

    return make


# ---- OpenMM ----------------------------------------------------------------------------


def openmm_state(work, atoms=None, params=None, positions=None, **system_kwargs):
    import openmm

    from polmlip.workflows.openmm_md import system_from_atoms

    atoms = atoms if atoms is not None else water(8, seed=2, box=9.0)
    system, _ = system_from_atoms(atoms, str(work / "run/model.pt"), **system_kwargs)
    ctx = openmm.Context(
        system, openmm.VerletIntegrator(0.0005), openmm.Platform.getPlatformByName("Reference")
    )
    ctx.setPositions((atoms.positions if positions is None else positions) / 10.0)
    for k, v in (params or {}).items():
        ctx.setParameter(k, v)
    e = ctx.getState(getEnergy=True).getPotentialEnergy()._value
    if not np.isfinite(e):
        raise AssertionError(f"OpenMM returned a non-finite energy {e}")
    return e


def openmm_force(work, model="run/model.pt", **kwargs):
    from polmlip.openmm import PolMLIPForce
    from polmlip.workflows.openmm_md import topology_from_atoms

    atoms = water(3, seed=1)
    kwargs.setdefault("topology", topology_from_atoms(atoms))
    return PolMLIPForce(str(work / model), **kwargs)


def openmm_mismatch(work, what: str):
    """Energy of an OpenMM Context whose System disagrees with the model's view in one
    attribute (``what``): the particle count (a water box written by ASE to PDB, read back
    by OpenMM as fewer atoms), the elements' order (System masses of another order), the box
    (a periodic topology, the System's box never set), or a misspelt XML attribute."""
    import ase.io
    import openmm
    import openmm.app as app

    from polmlip.openmm import PolMLIPForce
    from polmlip.workflows.openmm_md import topology_from_atoms

    atoms = water(8, seed=2, box=9.0)
    model = str(work / "run/model.pt")
    system = openmm.System()
    for mass in atoms.get_masses():
        system.addParticle(float(mass))
    box = [openmm.Vec3(*v) for v in atoms.cell.array / 10.0]
    if what != "box":
        system.setDefaultPeriodicBoxVectors(*box)
    if what == "count":
        ase.io.write(work / "box.pdb", atoms)
        with warnings.catch_warnings():  # OpenMM warns of duplicate atoms in the one residue
            warnings.simplefilter("ignore")
            topology = app.PDBFile(str(work / "box.pdb")).topology
        (work / "box.pdb").unlink()
        topology.setPeriodicBoxVectors(box)
        force = PolMLIPForce(model, topology)
    elif what == "order":
        elements = atoms.get_chemical_symbols()[::-1]
        force = PolMLIPForce(model, elements=elements)
    elif what == "xml":
        text = openmm.XmlSerializer.serialize(PolMLIPForce(model, topology_from_atoms(atoms)))
        force = openmm.XmlSerializer.deserialize(text.replace("totalCharge=", "totalCharg="))
    else:
        force = PolMLIPForce(model, topology_from_atoms(atoms))
    system.addForce(force)
    ctx = openmm.Context(
        system, openmm.VerletIntegrator(0.0005), openmm.Platform.getPlatformByName("Reference")
    )
    ctx.setPositions(atoms.positions / 10.0)
    return ctx.getState(getEnergy=True).getPotentialEnergy()._value


def _overlap_positions():
    atoms = water(8, seed=2, box=9.0)
    pos = atoms.positions.copy()
    pos[1] = pos[0] + [0.02, 0, 0]
    return pos


def _nan_positions():
    pos = water(8, seed=2, box=9.0).positions.copy()
    pos[3, 1] = np.nan
    return pos


# ---- the table --------------------------------------------------------------------------

R12 = (1, 2)

CASES = [
    # training configuration: wrong types and ranges, in the file or on the command line
    train_bad(
        "training",
        "epochs",
        "three",
        r"training\.epochs must be an integer",
        '`epochs: "three"`',
        "cfg-epochs-string",
    ),
    train_bad(
        "model",
        "cutoff",
        "big",
        r"model\.cutoff must be a finite number",
        '`cutoff: "big"`',
        "cfg-cutoff-string",
    ),
    train_bad(
        "training",
        "lr",
        [1, 2],
        r"training\.lr must be a finite number",
        "`lr: [1, 2]`",
        "cfg-lr-list",
    ),
    train_bad(
        "training",
        "lr",
        float("nan"),
        r"training\.lr must be a finite number",
        "`lr: .nan`",
        "cfg-lr-nan",
    ),
    train_bad(
        "training",
        "batch_size",
        0,
        r"training\.batch_size must be ≥ 1",
        "`batch_size: 0`",
        "cfg-batch-zero",
    ),
    train_bad(
        "training", "epochs", 0, r"training\.epochs must be ≥ 1", "`epochs: 0`", "cfg-epochs-zero"
    ),
    train_bad(
        "training",
        "epochs",
        -3,
        r"training\.epochs must be ≥ 1",
        "`epochs: -3`",
        "cfg-epochs-negative",
    ),
    train_bad(
        "data",
        "val_fraction",
        1.5,
        r"data\.val_fraction must be in \(0, 1\)",
        "`val_fraction: 1.5`",
        "cfg-val-fraction",
    ),
    train_bad(
        "training",
        "device",
        "gpu",
        r"training\.device must be 'cpu', 'cuda'",
        "`device: gpu`",
        "cfg-device-name",
    ),
    train_bad(
        "model",
        "channels",
        2.5,
        r"model\.channels must be an integer",
        "`channels: 2.5`",
        "cfg-channels-float",
    ),
    train_bad(
        "training",
        "seed",
        "abc",
        r"training\.seed must be an integer",
        "`seed: abc`",
        "cfg-seed-string",
    ),
    train_bad(
        "training",
        "dtype",
        "float16",
        r"training\.dtype must be one of",
        "`dtype: float16`",
        "cfg-dtype",
    ),
    train_bad(
        "model",
        "elements",
        ["H", "H"],
        "lists an element twice",
        "`elements: [H, H]`",
        "cfg-elements-twice",
    ),
    train_bad(
        "model",
        "elements",
        ["H", "Xx"],
        r"unknown chemical element\(s\) \['Xx'\]",
        "`elements: [H, Xx]`",
        "cfg-elements-unknown",
    ),
    train_bad(
        "model", "lmax", 3, r"model\.lmax must be one of \[0, 1, 2\]", "`lmax: 3`", "cfg-lmax"
    ),
    train_bad(
        "model",
        "backbone",
        "macе",  # a Cyrillic "е": looks right, is not
        r"model\.backbone must be one of \['nequip', 'mace'\]",
        "`backbone: macе` (Cyrillic е)",
        "cfg-backbone",
    ),
    train_bad(
        "model",
        "correlation",
        2,
        r"model\.correlation \(2\) is a setting of the MACE backbone only",
        "`correlation: 2` with the default backbone",
        "cfg-correlation-without-mace",
    ),
    train_bad(
        "model",
        "max_ell",
        3,
        r"model\.max_ell \(3\) is a setting of the MACE backbone only",
        "`max_ell: 3` with the default backbone",
        "cfg-max-ell-without-mace",
    ),
    train_bad(
        "model",
        "first_interaction",
        "plain",
        r"model\.first_interaction \('plain'\) is a setting of the MACE backbone only",
        "`first_interaction: plain` with the default backbone",
        "cfg-first-interaction-without-mace",
    ),
    train_bad(
        "model",
        "mace_body",
        "missing.npz",
        r"model\.mace_body: '.*missing\.npz' does not exist",
        "`mace_body` file missing",
        "cfg-mace-body-missing",
    ),
    Case(
        "cfg-mace-body-not-a-body",
        "cli",
        "`mace_body` a file that is not a MACE body (text named .npz)",
        r"model\.mace_body: '.*notbody\.npz' is not a MACE body file",
        ["train", "bad.yaml", "--quiet"],
        _mace_body_config("notbody.npz", b"not an archive"),
    ),
    Case(
        "cfg-mace-body-contradicts",
        "cli",
        "`mace_body` with a setting it fixes given otherwise (`num_layers: 1`, the body's 2)",
        r"model\.num_layers is 1 but the MACE body 'body\.npz' has 2; remove model\.num_layers",
        ["train", "bad.yaml", "--quiet"],
        _mace_body_config("body.npz", MACE_BODY),
    ),
    train_bad(
        "model",
        "kspace_accuracy",
        2.0,
        r"model\.kspace_accuracy must be in \(0, 1\)",
        "`kspace_accuracy: 2`",
        "cfg-kspace-accuracy",
    ),
    train_bad(
        "model", "ladder", "bogus", "unknown ladder rung 'bogus'", "`ladder: bogus`", "cfg-ladder"
    ),
    train_bad(
        "model",
        "fixed_charges",
        {"H": 0.4},
        "fixed_charges must give one charge",
        "`fixed_charges` missing an element",
        "cfg-fixed-charges",
    ),
    train_bad(
        "model",
        "field_limit",
        -1.0,
        r"model\.field_limit must be > 0",
        "`field_limit: -1`",
        "cfg-field-limit",
    ),
    train_bad(
        "training",
        "ema_decay",
        1.0,
        r"training\.ema_decay must be in \[0, 1\)",
        "`ema_decay: 1.0`",
        "cfg-ema-decay",
    ),
    train_bad(
        "training",
        "max_frames",
        0,
        r"training\.max_frames must be ≥ 1",
        "`max_frames: 0`",
        "cfg-max-frames",
    ),
    train_bad(
        "training",
        "epoch",
        3,
        r"unknown key\(s\) \['epoch'\]",
        "misspelt key `epoch:`",
        "cfg-unknown-key",
    ),
    train_bad(
        "data",
        "keys",
        {"forcez": "f"},
        r"unknown data key setting\(s\) \['forcez'\]",
        "unknown `data.keys` entry",
        "cfg-data-keys",
    ),
    train_bad(
        "data",
        "keys",
        {"forces": "frc"},
        r"data\.keys\.forces = \['frc'\] matches no frame of 'train\.xyz', whose frames have "
        r"\['energy', 'forces'\]",
        "`data.keys: {forces: frc}`, a name the file does not have",
        "cfg-data-keys-unmatched",
    ),
    Case(
        "train-weighted-missing",
        "cli",
        "a data file without forces, `forces_weight` left at its default",
        r"training\.forces_weight is 10 but no frame of 'energies\.xyz' has forces.*"
        r"forces_weight: 0",
        ["train", "bad.yaml", "--quiet"],
        lambda w: (_energies_only(w), config_with("data", "train", "energies.xyz")(w)),
    ),
    train_bad(
        "data",
        "train",
        "missing.xyz",
        r"data file '.*missing\.xyz' does not exist",
        "`data.train` file missing",
        "cfg-data-missing",
    ),
    train_bad(
        "model",
        None,
        ["H", "O"],
        "model settings must be a mapping",
        "`model:` is a list",
        "cfg-model-list",
    ),
    Case(
        "cfg-not-yaml",
        "cli",
        "config is not YAML",
        "is not valid YAML",
        ["train", "bad.yaml"],
        write("bad.yaml", "model: [unclosed\n"),
    ),
    Case(
        "cfg-top-list",
        "cli",
        "config is a YAML list",
        "must be a YAML mapping",
        ["train", "bad.yaml"],
        write("bad.yaml", "- model\n- data\n"),
    ),
    Case("cfg-missing", "cli", "config file missing", "does not exist", ["train", "nope.yaml"]),
    Case(
        "train-epochs-flag",
        "cli",
        "`--epochs 0`",
        r"argument --epochs: must be ≥ 1",
        ["train", "cfg.yaml", "--epochs", "0"],
    ),
    Case(
        "train-output-file",
        "cli",
        "`--output` is an existing file",
        r"training\.output 'notes\.txt' is a file",
        ["train", "cfg.yaml", "--output", "notes.txt", "--quiet"],
    ),
    Case(
        "train-nan-second-frame",
        "cli",
        "a NaN energy in the data file's frame 1 (not the first)",
        r"'nan\.xyz', frame 1 \(counting from 0\): energy contains NaN or inf",
        ["train", "bad.yaml", "--quiet"],
        lambda w: (
            _edited_frames(w, "nan.xyz", 1, "nan"),
            config_with("data", "train", "nan.xyz")(w),
        ),
    ),
    Case(
        "train-overlap-frame",
        "cli",
        "overlapping atoms in the data file's frame 3",
        r"'overlap\.xyz', frame 3 \(counting from 0\): atoms 0 and 1 overlap",
        ["train", "bad.yaml", "--quiet"],
        lambda w: (
            _edited_frames(w, "overlap.xyz", 3, "overlap"),
            config_with("data", "train", "overlap.xyz")(w),
        ),
    ),
    Case(
        "train-tiny-cell",
        "cli",
        "one frame in a 1.5 Å periodic cell (atoms 0.15 Å apart through the boundary)",
        r"'tiny\.xyz', frame 2 \(counting from 0\): two atoms are 0\.15 Å apart.*"
        r"minimum-distance guard",
        ["train", "bad.yaml", "--quiet"],
        lambda w: (
            _edited_frames(w, "tiny.xyz", 2, "tiny-cell"),
            config_with("data", "train", "tiny.xyz")(w),
        ),
    ),
    Case(
        "train-truncated-extxyz",
        "cli",
        "a data file cut off in its last frame",
        r"cannot read 'cut\.xyz': frame 7 \(counting from 0\) is truncated or malformed",
        ["train", "bad.yaml", "--quiet"],
        lambda w: (_truncated(w, "cut.xyz"), config_with("data", "train", "cut.xyz")(w)),
    ),
    # preprocess: every frame checked as training checks it, nothing left on failure
    Case(
        "preprocess-nan-frame",
        "cli",
        "`polmlip preprocess` of a file whose frame 1 has a NaN energy",
        r"'nan\.xyz', frame 1 \(counting from 0\): energy contains NaN or inf",
        ["preprocess", "nan.xyz", "-o", "nan.frames", "--quiet"],
        lambda w: _edited_frames(w, "nan.xyz", 1, "nan"),
    ),
    Case(
        "preprocess-overlap-frame",
        "cli",
        "`polmlip preprocess` of a file with overlapping atoms in frame 3",
        r"'overlap\.xyz', frame 3 \(counting from 0\): atoms 0 and 1 overlap",
        ["preprocess", "overlap.xyz", "-o", "overlap.frames", "--quiet"],
        lambda w: _edited_frames(w, "overlap.xyz", 3, "overlap"),
    ),
    Case(
        "preprocess-truncated",
        "cli",
        "`polmlip preprocess` of a file cut off in its last frame",
        r"cannot read 'cut\.xyz': frame 7 \(counting from 0\) is truncated or malformed",
        ["preprocess", "cut.xyz", "-o", "cut.frames", "--quiet"],
        lambda w: _truncated(w, "cut.xyz"),
    ),
    Case(
        "preprocess-output-exists",
        "cli",
        "`polmlip preprocess -o` onto an existing folder",
        r"'run' exists; give a new name",
        ["preprocess", "train.xyz", "-o", "run", "--quiet"],
    ),
    Case(
        "preprocess-data-missing",
        "cli",
        "`polmlip preprocess` of a file that does not exist",
        r"data file 'nope\.xyz' does not exist",
        ["preprocess", "nope.xyz", "-o", "nope.frames", "--quiet"],
    ),
    Case(
        "preprocess-cutoff-negative",
        "cli",
        "`polmlip preprocess --cutoff -1`",
        r"the cutoff must be a positive number of Å",
        ["preprocess", "train.xyz", "-o", "t.frames", "--cutoff", "-1", "--quiet"],
    ),
    Case(
        "preprocess-output-unwritable",
        "cli",
        "`polmlip preprocess -o` into a location that cannot be written",
        r"cannot write the output '/proc/polmlip\.frames'",
        ["preprocess", "train.xyz", "-o", "/proc/polmlip.frames", "--quiet"],
    ),
    Case(
        "train-frames-other-keys",
        "cli",
        "training from a frame set with `data.keys` other than those it was made with",
        r"'train\.frames' was preprocessed with other reading settings than data\.keys and "
        r"data\.bec_layout ask for \(keys\.forces: made with \['forces', 'force', "
        r"'REF_forces'\], asked \['force'\]\)",
        ["train", "bad.yaml", "--quiet"],
        lambda w: (
            _frame_set(w, "train.xyz", "train.frames"),
            _frames_config(w, "train.frames", keys={"forces": "force"}),
        ),
    ),
    Case(
        "train-frames-unknown-element",
        "cli",
        "training an H, O model from a frame set of NaCl",
        r"'nacl\.frames': element\(s\) \['Cl', 'Na'\] are not known to this model",
        ["train", "bad.yaml", "--quiet"],
        lambda w: (
            _frame_set(w, "nacl.xyz", "nacl.frames"),
            _frames_config(w, "nacl.frames", validation="train.xyz"),
        ),
    ),
    Case(
        "train-frames-damaged",
        "cli",
        "a frame set one of whose arrays no longer matches its manifest",
        r"positions\.npy holds .* the set is damaged",
        ["train", "bad.yaml", "--quiet"],
        lambda w: (
            _frame_set(w, "train.xyz", "train.frames", "array"),
            _frames_config(w, "train.frames"),
        ),
    ),
    Case(
        "evaluate-frames-old-version",
        "cli",
        "`polmlip evaluate` of a frame set of another format version",
        r"frame set of format 'polmlip-frames' version 0; this polmlip reads",
        ["evaluate", "run/model.pt", "train.frames"],
        lambda w: _frame_set(w, "train.xyz", "train.frames", "version"),
    ),
    Case(
        "train-folder-busy",
        "cli",
        "a second `polmlip train` into a folder another run is writing",
        r"another polmlip train \(pid 4242 on node7, since [0-9: -]+\) is writing to 'run'",
        ["train", "cfg.yaml", "--quiet"],
        lambda w: _busy_folder(w / "run"),
    ),
    Case(
        "train-output-unwritable",
        "cli",
        "an output location that cannot be written (`--output /proc/...`)",
        r"cannot write the output '/proc/polmlip-run'",
        ["train", "cfg.yaml", "--output", "/proc/polmlip-run", "--quiet"],
    ),
    Case(
        "export-output-unwritable",
        "cli",
        "`polmlip export -o` into a location that cannot be written",
        r"cannot write the output '/proc/polmlip/model\.pt'",
        ["export", "run/checkpoint.pt", "-o", "/proc/polmlip/model.pt"],
    ),
    Case(
        "train-resume-changed",
        "cli",
        "resume with a changed model config",
        r"trained with other settings \(channels: 4 -> 6\)",
        ["train", "bad.yaml", "--quiet"],
        lambda w: (config_with("model", "channels", 6)(w), _same_output(w)),
    ),
    Case(
        "train-resume-dtype",
        "cli",
        "resume with another dtype",
        r"trained with other settings \(dtype: 'float64' -> 'float32'\)",
        ["train", "bad.yaml", "--quiet"],
        lambda w: (config_with("training", "dtype", "float32")(w), _same_output(w)),
    ),
    Case(
        "train-resume-truncated",
        "cli",
        "resume from a truncated checkpoint",
        "is not a readable polmlip checkpoint",
        ["train", "cfg.yaml", "--quiet"],
        truncate("run/checkpoint.pt", "run/checkpoint.pt"),
    ),
    Case(
        "train-device-cuda",
        "cli",
        "`device: cuda` without CUDA",
        "CUDA is not available",
        ["train", "bad.yaml", "--quiet"],
        config_with("training", "device", "cuda"),
        needs="no-cuda",
    ),
    # export: never overwrite an input or a checkpoint; files in the wrong role
    Case(
        "export-onto-itself",
        "cli",
        "`export ck.pt -o ck.pt`",
        "is also the input",
        ["export", "run/checkpoint.pt", "-o", "run/checkpoint.pt"],
    ),
    Case(
        "export-onto-checkpoint",
        "cli",
        "export onto another checkpoint",
        "refusing to overwrite 'ck2.pt', which is a polmlip training checkpoint",
        ["export", "run/checkpoint.pt", "-o", "ck2.pt"],
        lambda w: (w / "ck2.pt").write_bytes((w / "run/checkpoint.pt").read_bytes()),
    ),
    Case(
        "export-model-again",
        "cli",
        "export of an exported model",
        "already an exported model",
        ["export", "run/model.pt", "-o", "again.pt"],
    ),
    Case(
        "export-junk",
        "cli",
        "export of a non-checkpoint file",
        "neither a training checkpoint nor an exported polmlip model",
        ["export", "notes.txt", "-o", "m.pt"],
    ),
    Case(
        "export-missing",
        "cli",
        "export of a missing file",
        "does not exist",
        ["export", "nope.pt", "-o", "m.pt"],
    ),
    Case(
        "export-truncated",
        "cli",
        "export of a truncated checkpoint",
        "not a readable polmlip checkpoint|neither a training checkpoint",
        ["export", "trunc.pt", "-o", "m.pt"],
        truncate("run/checkpoint.pt", "trunc.pt"),
    ),
    Case(
        "export-tf-no-structure",
        "cli",
        "`--torchforce` without `--structure`",
        "--torchforce needs --structure",
        ["export", "run/model.pt", "--torchforce", "-o", "t.pt"],
    ),
    Case(
        "export-tf-bad-structure",
        "cli",
        "unreadable `--structure`",
        "cannot read structure",
        ["export", "run/model.pt", "--torchforce", "--structure", "notes.txt", "-o", "t.pt"],
    ),
    Case(
        "export-charge-nan",
        "cli",
        "`--total-charge nan`",
        "argument --total-charge: not a finite number",
        [
            "export",
            "run/model.pt",
            "--torchforce",
            "--structure",
            "water.pdb",
            "--total-charge",
            "nan",
            "-o",
            "t.pt",
        ],
        subprocess=True,
    ),
    Case(
        "export-onto-model-folder",
        "cli",
        "`-o` is a folder",
        "is a folder",
        ["export", "run/checkpoint.pt", "-o", "run"],
    ),
    # evaluate
    Case(
        "evaluate-checkpoint",
        "cli",
        "`evaluate` given a checkpoint",
        "is a polmlip training checkpoint.*polmlip export run/checkpoint.pt -o model.pt",
        ["evaluate", "run/checkpoint.pt", "train.xyz"],
        subprocess=True,
    ),
    Case(
        "evaluate-keys-json",
        "cli",
        "`--keys` with malformed JSON",
        "--keys is not valid JSON",
        ["evaluate", "run/model.pt", "train.xyz", "--keys", "{forces:"],
    ),
    Case(
        "evaluate-keys-list",
        "cli",
        "`--keys` not a JSON object",
        "--keys must be a JSON object",
        ["evaluate", "run/model.pt", "train.xyz", "--keys", "[1]"],
    ),
    Case(
        "evaluate-output-file",
        "cli",
        "`--output` is an existing file",
        "the output folder 'notes.txt' is an existing file",
        ["evaluate", "run/model.pt", "train.xyz", "--output", "notes.txt"],
    ),
    Case(
        "evaluate-output-input",
        "cli",
        "`--output` is the data file",
        "is also the input",
        ["evaluate", "run/model.pt", "train.xyz", "--output", "train.xyz"],
    ),
    Case(
        "evaluate-data-missing",
        "cli",
        "data file missing",
        "does not exist",
        ["evaluate", "run/model.pt", "nope.xyz"],
    ),
    Case(
        "evaluate-unknown-element",
        "cli",
        "data with elements the model lacks",
        r"element\(s\) \['Cl', 'Na'\] are not known to this model",
        ["evaluate", "run/model.pt", "nacl.xyz"],
    ),
    Case(
        "evaluate-torchforce",
        "cli",
        "`evaluate` given a TorchForce file",
        "TorchForce-convention file",
        ["evaluate", "tf.pt", "train.xyz"],
    ),
    # datagen, ir, lo-to
    Case(
        "datagen-onto-model",
        "cli",
        "`datagen -o` onto a model",
        "refusing to overwrite 'run/model.pt', which is an exported polmlip model",
        ["datagen", "water-clusters", "-n", "1", "-o", "run/model.pt", "--quiet"],
    ),
    Case(
        "datagen-output-unwritable",
        "cli",
        "`datagen -o` into a location that cannot be written (found before any GFN2-xTB call)",
        r"cannot write the output '/proc/polmlip/x\.xyz'",
        ["datagen", "water-clusters", "-n", "1", "-o", "/proc/polmlip/x.xyz"],
    ),
    Case(
        "datagen-frames",
        "cli",
        "`datagen -n 0`",
        "argument -n/--frames: must be ≥ 1",
        ["datagen", "water-clusters", "-n", "0", "-o", "x.xyz"],
    ),
    Case(
        "datagen-field-nan",
        "cli",
        "`datagen --field nan`",
        "not a finite number",
        ["datagen", "water-clusters", "--field", "nan", "-o", "x.xyz"],
    ),
    Case(
        "ir-device-cuda",
        "cli",
        "`ir --device cuda` without CUDA",
        "CUDA is not available",
        ["ir", "train.xyz", "-t", "1", "--model", "run/model.pt", "--device", "cuda"],
        needs="no-cuda",
    ),
    Case(
        "ir-output-unwritable",
        "cli",
        "`ir -o` into a location that cannot be written (found before any Born charge)",
        r"cannot write the output '/proc/polmlip/ir\.dat'",
        ["ir", "train.xyz", "-t", "1", "--model", "run/model.pt", "-o", "/proc/polmlip/ir"],
    ),
    Case(
        "evaluate-output-unwritable",
        "cli",
        "`evaluate --output` into a location that cannot be written",
        r"cannot write the output '/proc/polmlip-results'",
        ["evaluate", "run/model.pt", "train.xyz", "--output", "/proc/polmlip-results"],
    ),
    Case(
        "ir-timestep-nan",
        "cli",
        "`ir -t nan`",
        "argument -t/--timestep: not a finite number",
        ["ir", "train.xyz", "-t", "nan"],
    ),
    Case(
        "ir-output-model",
        "cli",
        "`ir -o` onto the model's name",
        "is also the input|refusing to overwrite",
        ["ir", "train.xyz", "-t", "1", "--model", "run/model.pt", "-o", "run/model"],
        lambda w: (w / "run/model.png").write_bytes((w / "run/model.pt").read_bytes()),
    ),
    Case(
        "lo-to-open-structure",
        "cli",
        "`lo-to` on a molecule",
        "is not periodic",
        ["lo-to", "run/model.pt", "train.xyz"],
    ),
    # Python API and the ASE calculator
    Case(
        "ase-empty",
        "python",
        "empty `Atoms()`",
        "the system has no atoms",
        lambda w: energy(_empty(), w),
    ),
    Case(
        "ase-device-cuda",
        "python",
        '`device="cuda"` without CUDA',
        "CUDA is not available",
        lambda w: calc(w, device="cuda"),
        needs="no-cuda",
    ),
    Case(
        "ase-misspelt-keyword",
        "python",
        "`PolMLIPCalculator(model, extrnal_field=...)`",
        r"unknown keyword\(s\) \['extrnal_field'\].*'external_field' instead",
        lambda w: calc(w, extrnal_field=(0.0, 0.0, 0.1)),
    ),
    Case(
        "ase-misspelt-set",
        "python",
        "`calc.set(totl_charge=1)`",
        r"unknown keyword\(s\) \['totl_charge'\] for PolMLIPCalculator.set",
        lambda w: calc(w).set(totl_charge=1.0),
    ),
    Case(
        "ase-device-name",
        "python",
        '`device="tpu"`',
        "device must be 'cpu', 'cuda'",
        lambda w: calc(w, device="tpu"),
    ),
    Case(
        "ase-overlap-zero",
        "python",
        "two atoms at the same place",
        r"atoms 4 and 5 overlap \(distance 0 Å",
        lambda w: energy(overlapping(0.0)(), w),
    ),
    Case(
        "ase-overlap-trained",
        "python",
        "atoms closer than the training data allows",
        r"atoms 4 and 5 overlap \(distance 0\.2 Å, below the model's minimum distance 0\.4",
        lambda w: energy(overlapping(0.2)(), w),
    ),
    Case(
        "ase-nan-position",
        "python",
        "NaN position",
        "NaN or inf",
        lambda w: energy(with_positions(lambda a: a.positions.__setitem__((1, 2), np.nan))(), w),
    ),
    Case(
        "ase-unknown-element",
        "python",
        "element the model lacks",
        "not known to this model",
        lambda w: energy(_nacl(), w),
    ),
    Case(
        "ase-mixed-pbc",
        "python",
        "`pbc=(True, True, False)`",
        "mixed periodicity",
        lambda w: energy(_mixed_pbc(), w),
    ),
    Case(
        "ase-pbc-no-cell",
        "python",
        "`pbc=True` without a cell",
        "degenerate cell",
        lambda w: energy(_pbc_no_cell(), w),
    ),
    Case(
        "ase-field-length",
        "python",
        "`external_field=(0, 1)`",
        "3 finite numbers",
        lambda w: calc(w, external_field=(0, 1)),
    ),
    Case(
        "ase-field-nan",
        "python",
        "NaN `external_field`",
        "3 finite numbers",
        lambda w: calc(w, external_field=(0, 0, float("nan"))),
    ),
    Case(
        "ase-field-string",
        "python",
        '`external_field="abc"`',
        "3 finite numbers",
        lambda w: calc(w, external_field="abc"),
    ),
    Case(
        "ase-field-huge",
        "python",
        "1000 V/Å field",
        "exceeds this model's field limit",
        lambda w: energy(water(), w, external_field=(0, 0, 1000.0)),
    ),
    Case(
        "ase-set-field-nan",
        "python",
        "`calc.set(external_field=nan)`",
        "3 finite numbers",
        lambda w: calc(w).set(external_field=(float("nan"), 0, 0)),
    ),
    Case(
        "ase-charge-nan",
        "python",
        "`total_charge=nan`",
        "total_charge must be a finite number",
        lambda w: calc(w, total_charge=float("nan")),
    ),
    Case(
        "ase-charge-string",
        "python",
        '`total_charge="x"`',
        "total_charge must be a finite number",
        lambda w: calc(w, total_charge="x"),
    ),
    Case(
        "ase-field-limit",
        "python",
        "`field_limit=-1`",
        "field_limit must be a positive field",
        lambda w: calc(w, field_limit=-1),
    ),
    Case(
        "ase-older-format",
        "python",
        "a model file of the older positional format",
        "older polmlip .*re-export it",
        lambda w: calc(w, model="old.pt"),
        _older_model,
    ),
    Case(
        "ase-metadata-not-json",
        "python",
        "a model file whose metadata is not JSON (a trailing comma)",
        r"corrupted polmlip metadata: not JSON \(",
        lambda w: calc(w, model="notjson.pt"),
        _model_not_json,
    ),
    Case(
        "ase-metadata-repeated-key",
        "python",
        "a model file whose metadata gives one key twice",
        r"corrupted polmlip metadata: not JSON \(the key \"cutoff\" appears twice",
        lambda w: calc(w, model="twice.pt"),
        _model_repeated_key,
    ),
    Case(
        "ase-checkpoint",
        "python",
        "a checkpoint instead of a model",
        "is a polmlip training checkpoint.*export it first",
        lambda w: calc(w, model="run/checkpoint.pt"),
    ),
    Case(
        "ase-torchforce",
        "python",
        "a TorchForce file in the ASE calculator",
        "TorchForce-convention file",
        lambda w: calc(w, model="tf.pt"),
    ),
    Case(
        "ase-not-a-model",
        "python",
        "a data file instead of a model",
        "not a polmlip model file",
        lambda w: calc(w, model="train.xyz"),
    ),
    Case(
        "ase-missing-model",
        "python",
        "missing model file",
        "does not exist",
        lambda w: calc(w, model="nope.pt"),
    ),
    Case(
        "api-config-dict",
        "python",
        '`parse_config` with `lr: "fast"`',
        r"training\.lr must be a finite number",
        lambda w: _parse(training={"lr": "fast"}),
    ),
    Case(
        "api-model-config",
        "python",
        "`ModelConfig(cutoff=-1)` validated",
        r"model\.cutoff must be > 0",
        lambda w: _model_config(cutoff=-1.0),
    ),
    # OpenMM
    Case(
        "openmm-field-nan",
        "openmm",
        '`setParameter("polmlip_Ez", nan)`',
        "NaN",
        lambda w: openmm_state(w, params={"polmlip_Ez": float("nan")}),
        needs="openmm",
    ),
    Case(
        "openmm-field-huge",
        "openmm",
        "1000 V/Å field parameter",
        "field limit",
        lambda w: openmm_state(w, params={"polmlip_Ez": 1000.0}),
        needs="openmm",
    ),
    Case(
        "openmm-overlap",
        "openmm",
        "two particles 0.02 Å apart",
        r"particles 0 and 1 overlap \(distance 0\.02",
        lambda w: openmm_state(w, positions=_overlap_positions()),
        needs="openmm",
    ),
    Case(
        "openmm-nan-position",
        "openmm",
        "NaN particle position",
        "NaN",
        lambda w: openmm_state(w, positions=_nan_positions()),
        needs="openmm",
    ),
    Case(
        "openmm-fewer-particles",
        "openmm",
        "a topology with fewer atoms than the System (ASE's PDB read back as one residue)",
        r"told about 2 particles but the System has 24.*actsOnSubset",
        lambda w: openmm_mismatch(w, "count"),
        needs="openmm",
    ),
    Case(
        "openmm-element-order",
        "openmm",
        "elements in another order than the System's particles (masses)",
        r"particle 0 has mass 15\.99.* told it is H.*fits O",
        lambda w: openmm_mismatch(w, "order"),
        needs="openmm",
    ),
    Case(
        "openmm-default-box",
        "openmm",
        "a periodic topology, the System's box never set (OpenMM's 2 nm default)",
        r"OpenMM's default \(2 nm cube\), not the topology's \(0\.9",
        lambda w: openmm_mismatch(w, "box"),
        needs="openmm",
    ),
    Case(
        "openmm-xml-misspelt",
        "openmm",
        "a misspelt attribute in the force's XML (`totalCharg`)",
        "unknown attribute 'totalCharg'",
        lambda w: openmm_mismatch(w, "xml"),
        needs="openmm",
    ),
    Case(
        "openmm-periodic-contradiction",
        "openmm",
        "`periodic=True` with a topology without a box",
        "periodic=True contradicts the topology, which has no periodic box",
        lambda w: openmm_force(w, periodic=True),
        needs="openmm",
    ),
    Case(
        "openmm-unknown-element",
        "openmm",
        "element the model lacks",
        "not known to the model",
        lambda w: openmm_force(w, topology=None, elements=["Na", "H", "H"]),
        needs="openmm",
    ),
    Case(
        "openmm-older-format",
        "openmm",
        "a model file of the older positional format",
        "older polmlip .*re-export it",
        lambda w: openmm_force(w, model="old.pt"),
        _older_model,
        needs="openmm",
    ),
    Case(
        "openmm-metadata-repeated-key",
        "openmm",
        "a model file whose metadata gives one key twice",
        r"corrupted polmlip metadata: not JSON \(the key \"cutoff\" appears twice",
        lambda w: openmm_force(w, model="twice.pt"),
        _model_repeated_key,
        needs="openmm",
    ),
    Case(
        "openmm-checkpoint",
        "openmm",
        "a checkpoint instead of a model",
        "is a polmlip training checkpoint",
        lambda w: openmm_force(w, model="run/checkpoint.pt"),
        needs="openmm",
    ),
    Case(
        "openmm-device-name",
        "openmm",
        '`device="gpu"`',
        "device must be",
        lambda w: openmm_force(w, device="gpu"),
        needs="openmm",
    ),
    Case(
        "openmm-atoms-length",
        "openmm",
        "`atoms` and `elements` of different lengths",
        "atoms but",
        lambda w: openmm_force(w, topology=None, elements=["O", "H"], atoms=[0]),
        needs="openmm",
    ),
    Case(
        "openmm-atoms-range",
        "openmm",
        "`atoms=[0, 99]` beyond the topology",
        r"atoms \[99\] are not particle indices of the 9 topology atoms",
        lambda w: openmm_force(w, atoms=[0, 99]),
        needs="openmm",
    ),
    Case(
        "openmm-atoms-negative",
        "openmm",
        "`atoms=[-1, 0, 1]` (a negative index)",
        r"atoms \[-1\] are not particle indices",
        lambda w: openmm_force(w, atoms=[-1, 0, 1]),
        needs="openmm",
    ),
    Case(
        "openmm-atoms-twice",
        "openmm",
        "`atoms=[0, 0, 1]` (a particle twice)",
        r"lists particle\(s\) \[0\] more than once",
        lambda w: openmm_force(w, atoms=[0, 0, 1]),
        needs="openmm",
    ),
    Case(
        "openmm-total-charge",
        "openmm",
        "`totalCharge=nan`",
        "finite",
        lambda w: openmm_force(w, total_charge=float("nan")),
        needs="openmm",
    ),
    # LAMMPS, 1 and 2 ranks
    Case(
        "lammps-overlap",
        "lammps",
        "two atoms 0.01 Å apart",
        r"atoms 5 and 6 overlap \(distance 0\.01 Å",
        {"atoms": overlapping(0.01, box=9.0)},
        ranks=R12,
        needs="lammps",
    ),
    Case(
        "lammps-overlap-trained",
        "lammps",
        "atoms closer than the training data allows",
        r"atoms 5 and 6 overlap \(distance 0\.2 Å < 0\.4",
        {"atoms": overlapping(0.2, box=9.0)},
        ranks=R12,
        needs="lammps",
    ),
    Case(
        "lammps-field-huge",
        "lammps",
        "`efield 0 0 1000`",
        "field limit",
        {"atoms": lambda: water(4, seed=1, box=9.0), "field": ("0", "0", "1000")},
        ranks=R12,
        needs="lammps",
    ),
    Case(
        "lammps-field-nan",
        "lammps",
        "`efield nan 0 0`",
        "nan|floating point|number",
        {"atoms": lambda: water(4, seed=1, box=9.0), "field": ("nan", "0", "0")},
        ranks=R12,
        needs="lammps",
    ),
    Case(
        "lammps-total-charge-nan",
        "lammps",
        "`total_charge nan`",
        "nan|floating point|finite charge",
        {"atoms": lambda: water(4, seed=1, box=9.0), "pair_extra": "total_charge nan"},
        needs="lammps",
    ),
    Case(
        "lammps-fix-pair-unknown",
        "lammps",
        "`fix pair` of an output the model does not declare",
        "no per-atom output 'charge'; it declares: atomic_energy permanent_charges",
        {
            "atoms": lambda: water(4, seed=1, box=9.0),
            "run": "fix p all pair 1 polmlip charge 0\nrun 0",
        },
        needs="lammps",
    ),
    Case(
        "lammps-element",
        "lammps",
        "`pair_coeff * * H N`",
        r"element N \(type 2\) is not in the model",
        {"atoms": lambda: water(4, seed=1, box=9.0), "coeff_elements": ["H", "N"]},
        ranks=R12,
        needs="lammps",
    ),
    Case(
        "lammps-model-missing",
        "lammps",
        "missing model file",
        "cannot be opened",
        {"atoms": lambda: water(4, seed=1, box=9.0), "model": "nope.pt"},
        ranks=R12,
        needs="lammps",
    ),
    Case(
        "lammps-checkpoint",
        "lammps",
        "a checkpoint instead of a model",
        "training checkpoint.*polmlip export",
        {"atoms": lambda: water(4, seed=1, box=9.0), "model": "run/checkpoint.pt"},
        ranks=R12,
        needs="lammps",
    ),
    Case(
        "lammps-truncated",
        "lammps",
        "a truncated model file",
        "corrupted or unreadable",
        {"atoms": lambda: water(4, seed=1, box=9.0), "model": "trunc.pt"},
        truncate("run/model.pt", "trunc.pt", 4000),
        ranks=(1,),
        needs="lammps",
    ),
    Case(
        "lammps-newer-format",
        "lammps",
        "a model file of a newer format",
        "newer than this plugin reads",
        {"atoms": lambda: water(4, seed=1, box=9.0), "model": "new.pt"},
        lambda w: _newer_model(w),
        needs="lammps",
    ),
    Case(
        "lammps-older-format",
        "lammps",
        "a model file of the older positional format",
        "written by an older polmlip .*model format 1 .*Re-export it",
        {"atoms": lambda: water(4, seed=1, box=9.0), "model": "old.pt"},
        _older_model,
        needs="lammps",
    ),
    Case(
        "lammps-before-halo",
        "lammps",
        "a model file exported before the halo exchange",
        "exported before the halo exchange .*re-export it",
        {"atoms": lambda: water(4, seed=1, box=9.0), "model": "nohalo.pt"},
        _model_without_halo,
        needs="lammps",
    ),
    Case(
        "lammps-metadata-not-json",
        "lammps",
        "a model file whose metadata is not JSON (a trailing comma)",
        r"corrupted polmlip metadata: not JSON \(expected a string key at byte \d+\)",
        {"atoms": lambda: water(4, seed=1, box=9.0), "model": "notjson.pt"},
        _model_not_json,
        needs="lammps",
    ),
    Case(
        "lammps-junk-model",
        "lammps",
        "a data file instead of a model",
        "not a polmlip model file",
        {"atoms": lambda: water(4, seed=1, box=9.0), "model": "train.xyz"},
        needs="lammps",
    ),
    Case(
        "lammps-units",
        "lammps",
        "`units lj`",
        "supports units metal or real",
        {"atoms": lambda: water(4, seed=1, box=9.0), "units": "lj"},
        needs="lammps",
    ),
    Case(
        "lammps-element-order",
        "lammps",
        "pair_coeff elements in another order than the types (`pair_coeff * * O H`)",
        r"atom type 1 has mass 1\.008 but pair_coeff maps it to O .*fits H.*check_masses no",
        {"atoms": lambda: water(4, seed=1, box=9.0), "coeff_elements": ["O", "H"]},
        ranks=R12,
        needs="lammps",
    ),
    Case(
        "lammps-newton",
        "lammps",
        "`newton off`",
        "requires newton pair on",
        {"atoms": lambda: water(4, seed=1, box=9.0), "pre": "newton off"},
        ranks=R12,
        needs="lammps",
    ),
    Case(
        "lammps-kspace-accuracy",
        "lammps",
        "`kspace_accuracy -1`",
        "kspace_accuracy",
        {"atoms": lambda: water(4, seed=1, box=9.0), "pair_extra": "kspace_accuracy -1"},
        needs="lammps",
    ),
    Case(
        "lammps-field-limit",
        "lammps",
        "`field_limit 0`",
        "field_limit",
        {"atoms": lambda: water(4, seed=1, box=9.0), "pair_extra": "field_limit 0"},
        needs="lammps",
    ),
    Case(
        "lammps-ewald-split",
        "lammps",
        "`ewald_split maybe`",
        "Expected boolean parameter instead of 'maybe'",
        {"atoms": lambda: water(4, seed=1, box=9.0), "pair_extra": "ewald_split maybe"},
        needs="lammps",
    ),
    Case(
        "lammps-keyword",
        "lammps",
        "unknown `pair_style` keyword",
        "bogus",
        {"atoms": lambda: water(4, seed=1, box=9.0), "pair_extra": "bogus 1"},
        needs="lammps",
    ),
]


def _newer_model(work: pathlib.Path) -> None:
    from model_helpers import with_format_version  # tests/model is on the path (workspace)

    with_format_version(work / "run/model.pt", work / "new.pt", 99)


def _same_output(work: pathlib.Path) -> None:
    """Point bad.yaml back at the workspace's run/ (where the checkpoint is)."""
    cfg = yaml.safe_load((work / "bad.yaml").read_text())
    cfg["training"]["output"] = "run"
    (work / "bad.yaml").write_text(yaml.safe_dump(cfg))


def _empty():
    from ase import Atoms

    return Atoms()


def _nacl():
    from ase import Atoms

    return Atoms("NaCl", positions=[[0, 0, 0], [2.8, 0, 0]])


def _mixed_pbc():
    atoms = water(3, seed=2)
    atoms.set_cell([8.0, 8.0, 8.0])
    atoms.set_pbc([True, True, False])
    return atoms


def _pbc_no_cell():
    atoms = water(3, seed=2)
    atoms.set_pbc(True)
    return atoms


def _parse(**sections):
    from polmlip.train.config import parse_config

    raw = {k: dict(v) for k, v in CONFIG.items()}
    for name, values in sections.items():
        raw[name].update(values)
    return parse_config(raw)


def _model_config(**kwargs):
    from polmlip.model import ModelConfig

    cfg = ModelConfig(elements=["H", "O"], **kwargs)
    cfg.validate()
    return cfg


def rows():
    """(case, ranks) for every row of the table: LAMMPS cases once per rank count."""
    out = []
    for case in CASES:
        for ranks in case.ranks if case.route == "lammps" else (1,):
            out.append((case, ranks))
    return out
