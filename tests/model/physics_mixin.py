"""Physics checks of a polmlip model as a test mixin, reusable by every model variant.

A test module subclasses :class:`PhysicsChecks` and provides the fixtures

* ``model``: the :class:`~polmlip.model.PolMLIP` under test, in ``dtype``;
* ``dtype``: ``torch.float32`` or ``torch.float64``;
* ``rung``: the ablation-ladder rung of ``model`` (a key of
  :data:`polmlip.model.config.LADDER`, or any label for other variants).

``reference_model`` (a float64 copy of the same weights, for the float32 checks) and
``exported`` (the model exported and loaded once per variant) have defaults here. The
frames are water (``ELEMENTS``, ``CUTOFF``); a variant with other elements overrides
:meth:`PhysicsChecks.frames` (same frame names). ``tests/model/test_ladder_physics.py``
runs the checks for every ladder rung × float32/float64.

Every check compares whatever outputs the model returns, transforming each by its shape
(``(N,)``/``(B,)`` scalars, ``(·, 3)`` polar vectors, ``(·, 3, 3)`` rank-2 tensors), so an
output a rung lacks is skipped inside the check, and renamed or new outputs are covered
without naming them; energy and forces are required by every check.

Errors are measured against the size of the quantity, ``max|a − b| ≤ rtol · max|b| +
atol``, with ``atol`` a floor for outputs that are (close to) zero. Tolerances per dtype
(``TOLERANCES``; measured worst cases over all rungs in brackets):

* ``exact``: operations that are exact in exact arithmetic (rotating or rotoreflecting
  frame, cell and field; translating an open frame; batching; TorchScript export;
  open-frame sum rules) differ only by rounding. float64: 1e-10, about 10⁴ × the float64
  rounding seen through the network, the site sums and two autograd passes [≤ 2e-14 for a
  model whose constants are float64]. float32: 1e-4 (eps ≈ 1.2e-7 amplified ~10²) [9e-6].
* ``mesh``: translating a periodic frame moves the atoms relative to the PME mesh, so
  translation invariance, Σ_i F_i = 0 and Σ_i Z*_i = Q I of a periodic frame hold only to
  the k-space accuracy (``kspace_accuracy`` 1e-5, relative to the electrostatic part):
  1e-4 [float64 4e-6, float32 5e-6].
* ``fd`` (float64): autograd forces, virial and Born charges against central differences
  (step 1e-4 Å or 1e-4 strain) of the energy and of the polarization; truncation
  h²/6 · ∂³U and rounding eps · U / h ≈ 1e-11 stay below 1e-6 relative [1.7e-7].
* ``twin`` (float32): a finite difference of a float32 energy is rounding noise (eps · U /
  h ≈ 1e-7 × 10 eV / 1e-3 Å = 1e-3 eV/Å, the size of what is tested), so float32 forces,
  virial and Born charges are compared with the float64 autograd of the same weights on the
  same (float32-rounded) frame, whose derivatives the float64 variant checks by finite
  differences: 1e-4 relative [2e-6]; the energy to 5e-5 of |U| [3.4e-6], as ~10 eV is
  summed from larger atomic and electrostatic terms.
"""

from __future__ import annotations

import copy
from typing import Dict, Iterable, List, Tuple

import numpy as np
import pytest
import torch
from ase import Atoms

from polmlip import keys
from polmlip.data import atoms_to_graph, collate
from polmlip.model.config import LADDER

from model_helpers import water_cluster

#: A frame for the checks: atoms, applied field (V/Å), total charge (e).
Frame = Tuple[Atoms, Tuple[float, float, float], float]

Outputs = Dict[str, torch.Tensor]


def cast(graph: Dict[str, torch.Tensor], dtype: torch.dtype) -> Dict[str, torch.Tensor]:
    """The graph with its floating-point tensors in ``dtype`` (indices unchanged)."""
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in graph.items()}


def max_error(actual: torch.Tensor, expected: torch.Tensor) -> Tuple[float, float]:
    """(max |actual − expected|, max |expected|) in float64."""
    a = actual.detach().to(torch.float64)
    e = expected.detach().to(torch.float64)
    assert a.shape == e.shape, f"shapes differ: {tuple(a.shape)} vs {tuple(e.shape)}"
    if e.numel() == 0:
        return 0.0, 0.0
    return float((a - e).abs().max()), float(e.abs().max())


def mismatch(
    actual: torch.Tensor, expected: torch.Tensor, rtol: float, atol: float, what: str
) -> str:
    """ "" when max|actual − expected| ≤ rtol · max|expected| + atol, else a description."""
    err, scale = max_error(actual, expected)
    if np.isfinite(err) and err <= rtol * scale + atol:
        return ""
    return (
        f"{what}: max |Δ| = {err:.3g} exceeds {rtol:g} × max|ref| ({scale:.3g}) + {atol:g}"
        f" (relative {err / max(scale, 1e-300):.3g})"
    )


def assert_close(
    actual: torch.Tensor, expected: torch.Tensor, rtol: float, atol: float, what: str
) -> None:
    """max|actual − expected| ≤ rtol · max|expected| + atol (a size-relative error)."""
    message = mismatch(actual, expected, rtol, atol, what)
    assert not message, message


class Mismatches:
    """Collects the mismatches of several outputs, to report all of them at once."""

    def __init__(self) -> None:
        self.found: List[str] = []
        self.checked: List[str] = []

    def close(self, actual, expected, rtol: float, atol: float, what: str) -> None:
        self.checked.append(what)
        message = mismatch(actual, expected, rtol, atol, what)
        if message:
            self.found.append(message)

    def assert_none(self) -> None:
        assert not self.found, f"{len(self.found)} of {len(self.checked)} outputs differ:\n" + (
            "\n".join(self.found)
        )


def rotate(value: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """A Cartesian output rotated by R, by its trailing shape: scalar, vector, rank 2."""
    tail = tuple(value.shape[1:])
    if tail == ():
        return value
    if tail == (3,):
        return value @ R.T
    if tail == (3, 3):
        return R @ value @ R.T
    raise AssertionError(f"no rotation rule for an output of shape {tuple(value.shape)}")


def rotation(seed: int = 3, proper: bool = True) -> np.ndarray:
    """A random rotation (det +1), or a rotoreflection (det −1) when not ``proper``."""
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q = -q
    return q if proper else -q


def total_charge_of(out: Outputs, charge: float) -> float:
    """The charge the model puts on the frame: Q where it carries charges, else 0."""
    return charge if keys.CHARGES in out else 0.0


def common_outputs(a: Outputs, b: Outputs) -> Iterable[str]:
    """Keys of outputs present in both dicts, in a stable order."""
    return sorted(set(a) & set(b))


class PhysicsChecks:
    """Equivariance, derivatives, batching, export and sum rules of a model (see module)."""

    ELEMENTS: Tuple[str, ...] = ("H", "O")
    CUTOFF: float = 3.5
    #: per-dtype tolerances (module docstring)
    TOLERANCES = {
        torch.float64: {"exact": 1e-10, "mesh": 1e-4, "fd": 1e-6, "atol": 1e-12},
        torch.float32: {"exact": 1e-4, "mesh": 1e-4, "twin": 1e-4, "energy": 5e-5, "atol": 1e-6},
    }
    #: frames of the boundary-dependent checks (keys of :meth:`frames`)
    BOUNDARIES = ("open", "charged", "periodic")
    #: the export check runs an open and a periodic frame (field and charge on the open one)
    EXPORT_BOUNDARIES = ("charged", "periodic")
    FD_STEP = 1e-4

    # ---- frames and graphs ----

    def frames(self) -> Dict[str, Frame]:
        """Named frames: a neutral open cluster without field, a charged open cluster in a
        field, a neutral skewed periodic cell in a field."""
        periodic = water_cluster(3, seed=0, box=7.0)
        periodic.set_cell([[7.0, 0.0, 0.0], [0.8, 7.3, 0.0], [-0.5, 0.6, 6.7]], scale_atoms=True)
        return {
            "open": (water_cluster(3, seed=5), (0.0, 0.0, 0.0), 0.0),
            "charged": (water_cluster(2, seed=1), (0.15, -0.08, 0.1), 1.0),
            "periodic": (periodic, (-0.06, 0.12, 0.09), 0.0),
        }

    def graph(self, frame: Frame, dtype: torch.dtype) -> Dict[str, torch.Tensor]:
        atoms, field, charge = frame
        return atoms_to_graph(
            atoms,
            list(self.ELEMENTS),
            self.CUTOFF,
            external_field=field,
            total_charge=charge,
            dtype=dtype,
        )

    def tol(self, dtype: torch.dtype, name: str) -> float:
        return self.TOLERANCES[dtype][name]

    @staticmethod
    def evaluate(model, graph, periodic: bool, bec: bool = True) -> Outputs:
        """Energy, forces, the virial of a periodic frame, the polarizability ∂P/∂E and its
        per-atom parts, and (optionally) Born charges."""
        out = model(
            graph,
            compute_forces=True,
            compute_stress=periodic,
            compute_bec=bec,
            compute_polarizability=True,
        )
        assert keys.ENERGY in out and keys.FORCES in out, sorted(out)
        return {k: v.detach() for k, v in out.items()}

    # ---- fixtures with defaults ----

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def one_thread(cls):
        """Run on one intra-op thread: the tensors are tiny, and on a shared machine a second
        thread that waits for a busy core made the module several times slower."""
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(before)

    @pytest.fixture(scope="class")
    @classmethod
    def reference_model(cls, model, dtype):
        """The float64 model with the weights of ``model`` (``model`` itself in float64)."""
        if dtype == torch.float64:
            return model
        return copy.deepcopy(model).to(torch.float64)

    @pytest.fixture(scope="class")
    @classmethod
    def exported(cls, model, rung, dtype, tmp_path_factory):
        """``model`` exported once per variant and loaded behind the PolMLIP batch interface."""
        from polmlip.export.adapter import ExportedAsModel
        from polmlip.export.io import export_model, load_exported

        name = f"{rung}-{str(dtype).replace('torch.', '')}".replace("+", "p")
        path = tmp_path_factory.mktemp(name) / "model.pt"
        export_model(model, path)
        module, _ = load_exported(path)
        # the radial networks, not their tables: these checks hold the file to the eager model
        # at "exact" (the tables' accuracy is tested in test_radial_table.py); the fused
        # convolution stays on
        module.set_radial_table(False)
        return ExportedAsModel(module)

    # ---- checks ----

    @pytest.mark.parametrize("boundary", BOUNDARIES)
    def test_rotation_equivariance(self, model, dtype, boundary):
        """Rotating (and rotoreflecting) positions, cell and field leaves the energy and every
        scalar output unchanged and rotates forces, dipoles, polarization, quadrupoles,
        Born charges, virial and polarizability as Cartesian tensors."""
        atoms, field, charge = self.frames()[boundary]
        periodic = bool(atoms.pbc.all())
        out = self.evaluate(model, self.graph((atoms, field, charge), dtype), periodic)
        rtol, atol = self.tol(dtype, "exact"), self.tol(dtype, "atol")
        found = Mismatches()
        for proper in (True, False):
            R = rotation(proper=proper)
            rot = atoms.copy()
            rot.set_positions(atoms.get_positions() @ R.T)
            if periodic:
                rot.set_cell(atoms.get_cell().array @ R.T)
            g = self.graph((rot, tuple(np.asarray(field) @ R.T), charge), dtype)
            out_r = self.evaluate(model, g, periodic)
            assert set(out_r) == set(out)
            Rt = torch.tensor(R, dtype=torch.float64)
            for k in common_outputs(out, out_r):
                expected = rotate(out[k].to(torch.float64), Rt)
                found.close(out_r[k], expected, rtol, atol, f"{k} (det R {np.linalg.det(R):+.0f})")
        found.assert_none()

    @pytest.mark.parametrize("boundary", BOUNDARIES)
    def test_translation_invariance(self, model, dtype, boundary):
        """A rigid translation t leaves forces and every per-atom output unchanged, shifts the
        polarization by Q t and the enthalpy by −Q E·t (Q the frame's charge, E the field),
        and keeps Σ_i q_i = Q."""
        atoms, field, charge = self.frames()[boundary]
        periodic = bool(atoms.pbc.all())
        out = self.evaluate(model, self.graph((atoms, field, charge), dtype), periodic)
        t = np.array([0.37, -1.21, 2.53])
        moved = atoms.copy()
        moved.translate(t)
        out_t = self.evaluate(model, self.graph((moved, field, charge), dtype), periodic)
        rtol = self.tol(dtype, "mesh" if periodic else "exact")
        atol = self.tol(dtype, "atol")
        q = total_charge_of(out, charge)
        if keys.CHARGES in out:
            size = float(out[keys.CHARGES].abs().sum()) + abs(q)
            total = out[keys.CHARGES].sum()
            assert_close(total, torch.tensor(q), 0.0, self.tol(dtype, "exact") * size, "Σ q − Q")
        found = Mismatches()
        shift = q * float(np.dot(field, t))
        found.close(out_t[keys.ENERGY], out[keys.ENERGY] - shift, rtol, atol, "energy")
        n = out[keys.FORCES].shape[0]
        for k in common_outputs(out, out_t):
            if out[k].shape[0] == n:  # per-atom outputs: all translation invariant
                found.close(out_t[k], out[k], rtol, atol, k)
        if keys.POLARIZATION in out:
            expected = out[keys.POLARIZATION] + torch.tensor(q * t, dtype=out[keys.ENERGY].dtype)
            found.close(out_t[keys.POLARIZATION], expected, rtol, atol, "polarization")
        for k in (keys.VIRIAL, keys.STRESS, keys.POLARIZABILITY):
            if k in out:
                found.close(out_t[k], out[k], rtol, atol, k)
        found.assert_none()

    @pytest.mark.parametrize("boundary", BOUNDARIES)
    def test_derivatives(self, model, reference_model, dtype, boundary):
        """Forces, (periodic) virial and Born charges Z*_i,βγ = ∂P_β/∂r_iγ.

        float64: against central differences of the energy and of the polarization.
        float32: against the float64 autograd of the same weights on the same
        (float32-rounded) frame, since a float32 finite difference is rounding noise (see the
        module docstring); the float64 variant checks those derivatives by differences."""
        frame = self.frames()[boundary]
        periodic = bool(frame[0].pbc.all())
        graph = self.graph(frame, dtype)
        out = self.evaluate(model, graph, periodic)
        if periodic:
            volume = abs(float(torch.linalg.det(graph[keys.CELL][0].double())))
            assert_close(out[keys.STRESS], -out[keys.VIRIAL] / volume, 1e-6, 0.0, "stress = −W/V")
        if dtype != torch.float64:
            ref = self.evaluate(reference_model, cast(graph, torch.float64), periodic)
            rtol = self.tol(dtype, "twin")
            scale = float(ref[keys.ENERGY].abs().max())
            assert_close(
                out[keys.ENERGY], ref[keys.ENERGY], 0.0, self.tol(dtype, "energy") * scale, "E"
            )
            for k in (keys.FORCES, keys.VIRIAL, keys.BEC):
                if k in ref:
                    assert_close(out[k], ref[k], rtol, 0.0, f"{k} float32 vs float64")
            return

        h, rtol = self.FD_STEP, self.tol(dtype, "fd")
        polar = keys.POLARIZATION in out

        def central(deform) -> Tuple[float, torch.Tensor]:
            """−(U(+h) − U(−h)) / 2h and (P(+h) − P(−h)) / 2h of a deformed graph."""
            res = [model(deform(s), compute_forces=False) for s in (h, -h)]
            du = -float((res[0][keys.ENERGY] - res[1][keys.ENERGY]).detach().sum()) / (2 * h)
            dp = torch.zeros(3, dtype=dtype)
            if polar:
                dp = (res[0][keys.POLARIZATION][0] - res[1][keys.POLARIZATION][0]) / (2 * h)
            return du, dp.detach()

        pos = graph[keys.POSITIONS]
        picks = [(i, a) for i in range(pos.shape[0]) for a in range(3)]
        picks = [picks[k] for k in np.random.default_rng(0).permutation(len(picks))[:6]]
        fd_f, fd_z, ad_f, ad_z = [], [], [], []
        for i, a in picks:

            def moved(s, i=i, a=a):
                g = dict(graph)
                g[keys.POSITIONS] = pos.clone()
                g[keys.POSITIONS][i, a] += s
                return g

            du, dp = central(moved)
            fd_f.append(du)
            ad_f.append(float(out[keys.FORCES][i, a]))
            if polar:
                fd_z.append(dp)
                ad_z.append(out[keys.BEC][i, :, a])
        scale = float(out[keys.FORCES].abs().max())
        assert_close(
            torch.tensor(ad_f, dtype=torch.float64),
            torch.tensor(fd_f, dtype=torch.float64),
            0.0,
            rtol * scale,
            "forces vs FD",
        )
        if polar:
            scale = float(out[keys.BEC].abs().max())
            assert_close(torch.stack(ad_z), torch.stack(fd_z), 0.0, rtol * scale, "Z* vs FD of P")
        if polar:
            self._check_polarizability(model, graph, out, rtol)
        if not periodic:
            return
        fd_w, ad_w = [], []
        for a, b in [(0, 0), (1, 1), (2, 2), (0, 1), (1, 2), (2, 0)]:

            def strained(s, a=a, b=b):
                d = torch.eye(3, dtype=dtype)
                d[a, b] += s
                g = dict(graph)
                g[keys.POSITIONS] = pos @ d
                g[keys.CELL] = graph[keys.CELL] @ d
                return g

            fd_w.append(central(strained)[0])
            ad_w.append(float(out[keys.VIRIAL][0, a, b]))
        scale = float(out[keys.VIRIAL].abs().max())
        assert_close(
            torch.tensor(ad_w, dtype=torch.float64),
            torch.tensor(fd_w, dtype=torch.float64),
            0.0,
            rtol * scale,
            "virial vs FD",
        )

    def _check_polarizability(self, model, graph, out: Outputs, rtol: float) -> None:
        """α = ∂P/∂E at fixed nuclei against central differences of P in the applied field
        (P is linear in E for the non-self-consistent response, so only rounding remains);
        Σ_i ∂P/∂E_i = α; α symmetric, and positive semidefinite (U concave in E)."""
        alpha = out[keys.POLARIZABILITY][0]
        h = 1e-3
        fd = torch.zeros(3, 3, dtype=torch.float64)
        for c in range(3):
            p = []
            for s in (h, -h):
                g = dict(graph)
                g[keys.EXTERNAL_FIELD] = graph[keys.EXTERNAL_FIELD].clone()
                g[keys.EXTERNAL_FIELD][0, c] += s
                p.append(model(g, compute_forces=False)[keys.POLARIZATION][0].detach())
            fd[:, c] = (p[0] - p[1]).to(torch.float64) / (2 * h)
        scale = float(fd.abs().max()) + 1e-12
        assert_close(alpha, fd, 0.0, rtol * scale, "α vs FD of P in E")
        parts = out[keys.ATOMIC_POLARIZABILITY].sum(0)
        assert_close(parts, alpha, 0.0, 1e-12 * scale, "Σ_i ∂P/∂E_i − α")
        assert_close(alpha, alpha.T, 0.0, 1e-12 * scale, "α − αᵀ")
        assert float(torch.linalg.eigvalsh(alpha).min()) > -1e-10 * scale, alpha

    def test_batch_equals_frame_by_frame(self, model, dtype):
        """One batch of an open frame, a charged open frame in a field and a periodic frame in
        a field gives every per-frame and per-atom output of each frame alone."""
        frames = list(self.frames().values())
        graphs = [self.graph(f, dtype) for f in frames]
        batch = self.evaluate(model, collate(graphs), True)
        nframes = len(graphs)
        total = sum(g[keys.SPECIES].shape[0] for g in graphs)
        assert total != nframes
        rtol, atol = self.tol(dtype, "exact"), self.tol(dtype, "atol")
        found = Mismatches()
        start = 0
        for b, (frame, g) in enumerate(zip(frames, graphs)):
            single = self.evaluate(model, g, bool(frame[0].pbc.all()))
            n = g[keys.SPECIES].shape[0]
            for k in common_outputs(batch, single):
                if batch[k].shape[0] == total:
                    found.close(batch[k][start : start + n], single[k], rtol, atol, f"{k}[{b}]")
                else:
                    assert batch[k].shape[0] == nframes, (k, tuple(batch[k].shape))
                    found.close(batch[k][b], single[k][0], rtol, atol, f"{k}[{b}]")
            for k in single:
                assert k in batch, f"{k} of frame {b} missing from the batch"
            start += n
        found.assert_none()

    @pytest.mark.parametrize("boundary", EXPORT_BOUNDARIES)
    def test_export_equals_eager(self, model, exported, dtype, boundary):
        """The exported (TorchScript) model gives the eager model's energy, forces, virial and
        stress and every other output both return."""
        frame = self.frames()[boundary]
        periodic = bool(frame[0].pbc.all())
        graph = self.graph(frame, dtype)
        eager = self.evaluate(model, graph, periodic)
        scripted = exported(graph, True, periodic, True, False, True)
        scripted = {k: v.detach() for k, v in scripted.items()}
        required = [keys.ENERGY, keys.FORCES] + ([keys.VIRIAL] if periodic else [])
        for k in required:
            assert k in scripted, f"the exported model returns no {k}: {sorted(scripted)}"
        rtol, atol = self.tol(dtype, "exact"), self.tol(dtype, "atol")
        found = Mismatches()
        for k in common_outputs(eager, scripted):
            found.close(scripted[k], eager[k], rtol, atol, k)
        found.assert_none()

    @pytest.mark.parametrize("boundary", BOUNDARIES)
    def test_acoustic_sum_rules(self, model, rung, dtype, boundary):
        """Σ_i F_i = Q E (translation of the enthalpy) for every rung, and Σ_i Z*_i = Q I for
        the Born charges of every rung with a polarization (bond charge conservation)."""
        atoms, field, charge = self.frames()[boundary]
        periodic = bool(atoms.pbc.all())
        out = self.evaluate(model, self.graph((atoms, field, charge), dtype), periodic)
        rtol = self.tol(dtype, "mesh" if periodic else "exact")
        atol = self.tol(dtype, "atol")
        q = total_charge_of(out, charge)
        f = out[keys.FORCES]
        expected = torch.tensor(field, dtype=torch.float64) * q
        assert_close(f.sum(0), expected, 0.0, rtol * float(f.abs().max()) + atol, "Σ F − Q E")
        polar = keys.POLARIZATION in out
        if rung in LADDER and any(LADDER[rung].values()):
            assert polar and keys.BEC in out, f"rung {rung} gives no P or Z*: {sorted(out)}"
        if keys.BEC not in out:
            return
        z = out[keys.BEC]
        assert z.shape == (f.shape[0], 3, 3)
        if polar:
            assert float(z.abs().max()) > 1e-3, "Born charges are trivially zero"
        identity = q * torch.eye(3, dtype=torch.float64)
        scale = max(float(z.abs().max()), abs(q))
        assert_close(z.sum(0), identity, 0.0, rtol * scale + atol, "Σ Z* − Q I")
