"""``PolMLIPForce`` for OpenMM scripts.

    from polmlip.openmm import PolMLIPForce
    system.addForce(PolMLIPForce("model.pt", topology))
    context.setParameter("polmlip_Ez", 0.05)      # applied field, V/Å

The force is the C++ plugin ``libpolmlip_openmm.so`` (``openmm_plugin/``, built by
``scripts/bootstrap.sh``). It is loaded with ``ctypes`` and created through
``XmlSerializer`` (the plugin registers its serialization proxy when loaded), so no SWIG
wrapper is needed and the result is a real ``openmm.Force``: add it to a System, give it a
force group, serialize the System.
"""

from __future__ import annotations

import ctypes
import math
import operator
import os
import pathlib
import xml.etree.ElementTree as ET
from typing import Iterable, Optional, Sequence

from ..config_checks import finite_number
from ..devices import DEVICE_HELP, is_device_name
from ..errors import InputError

# Particles per libtorch thread of the plugin's automatic thread count, re-exported here
# (``PolMLIPForce::AtomsPerTorchThread`` of ``openmm_plugin/PolMLIPForce.h`` is the same
# constant, through the header the build generates from polmlip.units).
from ..units import ATOMS_PER_TORCH_THREAD  # noqa: F401

LIB_DIR = pathlib.Path(__file__).resolve().parents[1] / "lib"
LIBRARY_NAME = "libpolmlip_openmm.so"
#: Names of the global parameters holding the applied field (V/Å).
FIELD_PARAMETERS = ("polmlip_Ex", "polmlip_Ey", "polmlip_Ez")
_loaded = {}


def plugin_path() -> str:
    """Path of the plugin library; InputError with build instructions if it is missing."""
    path = pathlib.Path(os.environ.get("POLMLIP_OPENMM_LIBRARY", LIB_DIR / LIBRARY_NAME))
    if not path.is_file():
        raise InputError(
            f"the OpenMM plugin is not built ({path} is missing): run scripts/bootstrap.sh, "
            "or cmake -S . -B build && cmake --build build (see README)"
        )
    return str(path)


def _particle_indices(atoms: Iterable[int], n_particles: Optional[int]) -> list:
    """``atoms`` as a list of distinct particle indices in range; InputError otherwise."""
    try:
        out = [operator.index(i) for i in atoms]
    except TypeError:
        raise InputError(f"atoms must be particle indices (integers), got {atoms!r}") from None
    bad = [i for i in out if i < 0 or (n_particles is not None and i >= n_particles)]
    if bad:
        size = f" of the {n_particles} topology atoms" if n_particles is not None else ""
        raise InputError(f"atoms {bad[:5]} are not particle indices{size} (0-based)")
    if len(set(out)) != len(out):
        twice = sorted({i for i in out if out.count(i) > 1})
        raise InputError(f"atoms lists particle(s) {twice[:5]} more than once")
    return out


def load_plugin() -> None:
    """Load the plugin library once (registers ``PolMLIPForce`` with ``XmlSerializer``)."""
    if "lib" in _loaded:
        return
    path = plugin_path()
    from .. import ops

    if ops.load() != "native":
        raise InputError(
            "the OpenMM plugin needs polmlip's native operators, but the PyTorch fallback is "
            "active (POLMLIP_DISABLE_OPS is set, or libpolmlip_ops.so failed to load)"
        )
    try:
        _loaded["lib"] = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:
        raise InputError(f"the OpenMM plugin {path} cannot be loaded: {exc}") from None


def _field_value(value) -> float:
    """One field component in V/Å; accepts numbers or openmm.unit quantities."""
    import openmm.unit as u

    if u.is_quantity(value):
        target = u.volt / u.angstrom
        if not value.unit.is_compatible(target):
            raise InputError(f"field component {value} is not an electric field (use V/Å)")
        value = value.value_in_unit(target)
    value = float(value)
    if not math.isfinite(value):
        raise InputError("field components must be finite numbers (V/Å)")
    return value


def _torch_threads(value) -> int:
    """``torch_threads`` as the plugin stores it: 0 (automatic) or a positive count."""
    if value is None:
        return 0
    try:
        threads = operator.index(value) if not isinstance(value, bool) else -1
    except TypeError:
        threads = -1
    if threads < 0:
        raise InputError(
            "torch_threads must be None or 0 (automatic) or a positive number of threads, "
            f"not {value!r}"
        )
    return threads


def PolMLIPForce(
    model: str | os.PathLike,
    topology=None,
    *,
    elements: Optional[Sequence[str]] = None,
    atoms: Optional[Iterable[int]] = None,
    total_charge: float = 0.0,
    field: Sequence = (0.0, 0.0, 0.0),
    periodic: Optional[bool] = None,
    device: str = "cpu",
    kspace_accuracy: Optional[float] = None,
    torch_threads: Optional[int] = None,
    check_masses: bool = True,
    name: str = "PolMLIPForce",
):
    """Create the polmlip force for an OpenMM System.

    Args:
        model: file written by ``polmlip export`` (or ``polmlip export --torchforce``).
        topology: ``openmm.app.Topology`` giving each particle's element (or pass ``elements``).
        elements: chemical symbols of the particles the model acts on, in order.
        atoms: system indices of those particles, for a force on part of the System (ML/MM).
            Default: every particle, and the System must have as many particles as the
            topology has atoms (checked when the Context is created).
        total_charge: total charge (e) of those particles.
        field: default applied field (V/Å, numbers or ``openmm.unit`` quantities); the
            context parameters ``polmlip_Ex/Ey/Ez`` change it during a run.
        periodic: whether the force uses the periodic box; default: whether the topology has
            a periodic box (True without a topology). With a topology it must agree with it.
            A periodic force built from a topology refuses to start at OpenMM's default box
            (2 nm cube) when the topology's box differs (box vectors never set).
        device: ``"cpu"`` or ``"cuda"``/``"cuda:N"`` for the libtorch model.
        kspace_accuracy: relative accuracy of the long-range sum (default: the model's).
        torch_threads: libtorch intra-op threads while the model runs (restored afterwards).
            ``None`` or 0: automatic, i.e. ``POLMLIP_TORCH_THREADS`` if set, else one thread
            per :data:`ATOMS_PER_TORCH_THREAD` particles of the force, between 1 and torch's
            current count (see docs/openmm.md, "Threads").
        check_masses: check each particle's mass in the System against its element when the
            Context is created (a mass that fits another element of the model better, by more
            than half its own element's, is refused: elements in another order than the
            particles). ``False`` for deliberately repartitioned masses.

    Returns:
        an ``openmm.Force``.

    Raises:
        InputError: missing or corrupted model, elements the model does not know, an
            unbuilt plugin, bad field units, a negative ``torch_threads``.
    """
    import openmm

    from ..export.io import load_exported

    path = pathlib.Path(model).resolve()
    _, meta = load_exported(path, kind=None)
    if topology is None and elements is None:
        raise InputError("PolMLIPForce needs a topology or a list of elements")
    n_topology = topology.getNumAtoms() if topology is not None else None
    atom_list = _particle_indices(atoms, n_topology) if atoms is not None else None
    if elements is None:
        all_atoms = list(topology.atoms())
        chosen = [all_atoms[i] for i in atom_list] if atom_list is not None else all_atoms
        missing = [a.index for a in chosen if a.element is None]
        if missing:
            raise InputError(f"topology atoms {missing[:5]} have no element")
        elements = [a.element.symbol for a in chosen]
    elements = [str(e) for e in elements]
    if atom_list is not None and len(atom_list) != len(elements):
        raise InputError(f"{len(atom_list)} atoms but {len(elements)} elements")
    if meta.get("kind", "engine") == "torchforce":
        if list(meta["particle_elements"]) != elements:
            raise InputError(
                f"the TorchForce file {str(path)!r} was exported for a different particle list "
                f"({len(meta['particle_elements'])} particles); export it for this topology"
            )
    else:
        unknown = sorted(set(elements) - set(meta["elements"]))
        if unknown:
            raise InputError(
                f"element(s) {unknown} of the topology are not known to the model {path.name}, "
                f"which was trained for {meta['elements']}"
            )
    topology_box = topology.getPeriodicBoxVectors() if topology is not None else None
    if periodic is None:
        periodic = topology is None or topology_box is not None
    elif topology is not None and bool(periodic) != (topology_box is not None):
        raise InputError(
            f"periodic={periodic!r} contradicts the topology, which "
            f"{'has a' if topology_box is not None else 'has no'} periodic box; leave periodic "
            "unset to follow the topology, or fix the topology's box"
        )
    if not isinstance(check_masses, bool):
        raise InputError(f"check_masses must be True or False, not {check_masses!r}")
    if meta.get("kind") == "torchforce" and bool(meta["periodic"]) != bool(periodic):
        raise InputError(
            f"the TorchForce file was exported {'with' if meta['periodic'] else 'without'} a "
            "periodic box, which this system does not match"
        )
    if not is_device_name(device):
        raise InputError(f"device must be {DEVICE_HELP}, got {device!r}")
    total_charge = finite_number(total_charge, "total_charge", " (e)")
    fx, fy, fz = (_field_value(v) for v in field)
    if kspace_accuracy is not None and not 0.0 < float(kspace_accuracy) < 1.0:
        raise InputError("kspace_accuracy must be in (0, 1)")
    threads = _torch_threads(torch_threads)
    load_plugin()

    node = ET.Element(
        "Force",
        type="PolMLIPForce",
        version="1",
        file=str(path),
        device=device,
        totalCharge=repr(float(total_charge)),
        kspaceAccuracy=repr(float(kspace_accuracy or 0.0)),
        torchThreads=str(threads),
        usesPeriodic="1" if periodic else "0",
        forceGroup="0",
        name=name,
        Ex=repr(fx),
        Ey=repr(fy),
        Ez=repr(fz),
        actsOnSubset="1" if atom_list is not None else "0",
        checkMasses="1" if check_masses else "0",
    )
    if periodic and topology_box is not None:
        import openmm.unit as u

        for a, vector in zip("abc", topology_box):
            for d, value in zip("xyz", vector.value_in_unit(u.nanometer)):
                node.set(f"topologyBox{a}{d}", repr(float(value)))
    parts = ET.SubElement(node, "Particles")
    indices = atom_list if atom_list is not None else range(len(elements))
    for i, el in zip(indices, elements):
        ET.SubElement(parts, "Particle", index=str(int(i)), element=el)
    return openmm.XmlSerializer.deserialize(ET.tostring(node, encoding="unicode"))


#: shapes of the per-frame outputs :func:`get_output` reshapes (the rest: per particle)
_FRAME_SHAPES = {"energy": (), "polarization": (3,), "polarizability": (3, 3)}


def get_output(context, name: str, force_index: Optional[int] = None):
    """One output of the PolMLIPForce in ``context``'s System, evaluated at the context's
    current positions, box and applied field (``PolMLIPForce::getOutput`` of the plugin).

    Args:
        context: an ``openmm.Context`` (or ``Simulation.context``).
        name: a declared output (docs/export.md): ``"polarization"`` (3,) e·Å,
            ``"polarizability"`` (3, 3) e·Å²/V, α = ∂P/∂E at fixed nuclei through every
            response channel, ``"energy"`` eV, or a per-atom output such as ``"charges"``,
            ``"bec"`` or ``"atomic_polarizability"`` (a row per particle of the force).
        force_index: the force's index in the System; default: its only PolMLIPForce.

    Returns:
        a numpy array in the model's units (one model evaluation; forces come from the State).

    Raises:
        InputError: no such output, no (or several) PolMLIPForce, a TorchForce-convention file.
    """
    import numpy as np

    load_plugin()
    function = _loaded["lib"].polmlip_openmm_output
    function.restype = ctypes.c_long
    function.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_double),
        ctypes.c_long,
        ctypes.c_char_p,
        ctypes.c_long,
    ]
    n_particles = context.getSystem().getNumParticles()
    capacity = 9 * n_particles + 16  # the widest output: 9 values per particle
    values = (ctypes.c_double * capacity)()
    message = ctypes.create_string_buffer(2048)
    count = function(
        ctypes.c_void_p(int(context.this)),
        -1 if force_index is None else int(force_index),
        str(name).encode(),
        values,
        capacity,
        message,
        len(message),
    )
    if count < 0:
        raise InputError(message.value.decode(errors="replace"))
    out = np.array(values[: min(count, capacity)], dtype=np.float64)
    if name in _FRAME_SHAPES:
        return out.reshape(_FRAME_SHAPES[name])
    rows = out.size // 9 if name in ("bec", "atomic_polarizability", "quadrupoles") else None
    return out.reshape(rows, 3, 3) if rows is not None else out
