"""Raman spectra (polmlip raman): the spectrum math against analytic cases, the depolarization
ratio 3/4 of a traceless mode, prefactors, input errors, and the command on model and stored
polarizabilities of open and periodic trajectories."""

import ase.io
import numpy as np
import pytest
from ase import units

from polmlip.cli.main import main
from polmlip.errors import InputError
from polmlip.workflows import raman

C_CM_PER_FS = 2.99792458e-5
DT = 0.5  # fs


def _oscillating(n, iso_nu=None, aniso_nu=None, seed=0, noise=0.01):
    """(n, 3, 3) α(t): a constant tensor plus a cosine of its trace at ``iso_nu`` and of a
    traceless tensor at ``aniso_nu`` (cm⁻¹), plus a little symmetric noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) * DT
    base = np.diag([1.0, 1.2, 0.9])
    alpha = np.repeat(base[None], n, axis=0)
    if iso_nu is not None:
        alpha += 0.1 * np.cos(2 * np.pi * C_CM_PER_FS * iso_nu * t)[:, None, None] * np.eye(3)
    if aniso_nu is not None:
        shape = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
        alpha += 0.1 * np.cos(2 * np.pi * C_CM_PER_FS * aniso_nu * t)[:, None, None] * shape
    e = noise * rng.standard_normal((n, 3, 3))
    return alpha + 0.5 * (e + e.transpose(0, 2, 1))


def test_isotropic_and_anisotropic_bands():
    """A breathing mode (trace) appears in the isotropic spectrum only, a traceless mode in
    the anisotropic one only, each at its wavenumber."""
    wn, s = raman.raman_spectra(_oscillating(4000, iso_nu=1640.0, aniso_nu=3400.0), DT)
    assert s["polarized"].max() == pytest.approx(1.0)
    bands = raman.raman_bands(wn, s)
    assert bands["isotropic"]["bend"] == pytest.approx(1640.0, rel=0.01)
    assert bands["anisotropic"]["stretch"] == pytest.approx(3400.0, rel=0.01)
    near = lambda nu: np.abs(wn - nu) < 30  # noqa: E731
    assert s["anisotropic"][near(1640)].max() < 0.02 * s["isotropic"][near(1640)].max()
    assert s["isotropic"][near(3400)].max() < 0.02 * s["anisotropic"][near(3400)].max()


def test_depolarization_ratio_of_a_traceless_mode_is_three_quarters():
    """VH / VV = 3/4 for a mode without isotropic part (orientational average of a
    symmetric tensor, the textbook limit of depolarized bands); far below for a breathing mode."""
    wn, s = raman.raman_spectra(_oscillating(4000, aniso_nu=1000.0, noise=0.0), DT)
    peak = np.argmax(s["polarized"])
    assert s["anisotropic"][peak] / s["polarized"][peak] == pytest.approx(0.75, rel=1e-9)
    wn, s = raman.raman_spectra(_oscillating(4000, iso_nu=1000.0, noise=0.0), DT)
    peak = np.argmax(s["polarized"])
    assert s["anisotropic"][peak] / s["polarized"][peak] < 1e-6


def test_prefactors():
    """reduced = ν̃² × lineshape; intensity = (ν̃_L − ν̃)⁴ reduced / (ν̃ (1 − e^{−x})) (CODATA
    constants from ase.units); each normalised to VV = 1."""
    alpha = _oscillating(2000, iso_nu=1000.0, aniso_nu=2500.0)
    wn, none = raman.raman_spectra(alpha, DT, prefactor="none")
    _, reduced = raman.raman_spectra(alpha, DT, prefactor="reduced")
    _, inten = raman.raman_spectra(alpha, DT, prefactor="intensity", laser_nm=532.0)
    k = np.argmin(np.abs(wn - 2500.0))
    j = np.argmin(np.abs(wn - 1000.0))
    ratio = reduced["polarized"][k] / reduced["polarized"][j]
    assert ratio == pytest.approx(
        (wn[k] / wn[j]) ** 2 * none["polarized"][k] / none["polarized"][j], rel=1e-9
    )
    laser = 1e7 / 532.0

    def factor(nu):
        x = units._hplanck * units._c * 100.0 * nu / (units._k * 300.0)
        return (laser - nu) ** 4 / (nu * (1 - np.exp(-x)))

    assert inten["polarized"][k] / inten["polarized"][j] == pytest.approx(
        ratio * factor(wn[k]) / factor(wn[j]), rel=1e-6
    )


def test_spectral_overlap():
    y = np.exp(-(((np.arange(100) - 50) / 5.0) ** 2))
    assert raman.spectral_overlap(y, 3 * y) == pytest.approx(1.0)
    assert raman.spectral_overlap(y, np.roll(y, 40)) < 0.01


def test_input_errors():
    with pytest.raises(InputError, match="shape"):
        raman.raman_spectra(np.zeros((100, 3)), DT)
    with pytest.raises(InputError, match="no spectral weight"):
        raman.raman_spectra(np.repeat(np.eye(3)[None], 100, axis=0), DT)
    with pytest.raises(InputError, match="prefactor"):
        raman.raman_spectra(_oscillating(100, iso_nu=1000.0), DT, prefactor="bogus")
    with pytest.raises(InputError, match="laser"):
        raman.raman_spectra(_oscillating(100, 1000.0), DT, prefactor="intensity", laser_nm=-1)
    with pytest.raises(InputError, match="NaN"):
        bad = _oscillating(100, iso_nu=1000.0)
        bad[3, 0, 0] = np.nan
        raman.raman_spectra(bad, DT)


def _trajectory(periodic: bool, n: int = 24):
    """Two waters vibrating (a fake trajectory: equal time steps, the same atoms)."""
    from ase.build import molecule

    a, b = molecule("H2O"), molecule("H2O")
    b.translate([2.9, 0.2, 0.1])
    atoms = a + b
    if periodic:
        atoms.set_cell([7.0, 7.5, 8.0])
        atoms.pbc = True
        atoms.center()
    t = np.arange(n) * DT
    mode = np.random.default_rng(1).standard_normal((len(atoms), 3)) * 0.03
    frames = []
    for k in range(n):
        f = atoms.copy()
        f.positions += mode * np.cos(2 * np.pi * C_CM_PER_FS * 3000.0 * t[k])
        frames.append(f)
    return frames


@pytest.mark.parametrize("periodic", [False, True])
def test_cli_with_model(tiny_model, tmp_path, capsys, periodic):
    """``polmlip raman TRAJ --model M`` on an open and a periodic trajectory writes the
    .dat (wavenumber and three spectra) and the .png; the model's α is ∂P/∂E."""
    traj = tmp_path / "traj.extxyz"
    ase.io.write(traj, _trajectory(periodic))
    out = tmp_path / "r"
    code = main(
        ["raman", str(traj), "-t", str(DT), "--model", str(tiny_model), "-o", str(out), "--quiet"]
    )
    assert code == 0
    data = np.loadtxt(str(out) + ".dat")
    assert data.shape[1] == 4 and data[:, 3].max() == pytest.approx(1.0, rel=1e-5)
    assert (tmp_path / "r.png").stat().st_size > 1000
    text = capsys.readouterr().out
    assert "polarizability of 24 frames" in text and "wrote" in text


def test_cli_with_stored_polarizability(tmp_path):
    """``--key`` reads α from the frames (e.g. GFN2-xTB's); --model and --key are exclusive."""
    frames = _trajectory(False, n=40)
    alpha = _oscillating(40, iso_nu=1500.0)
    for f, a in zip(frames, alpha):
        f.info["xtb_polarizability"] = a
    traj = tmp_path / "traj.extxyz"
    ase.io.write(traj, frames)
    out = tmp_path / "s"
    code = main(["raman", str(traj), "-t", str(DT), "--key", "xtb_polarizability", "-o", str(out)])
    assert code == 0 and (tmp_path / "s.dat").is_file()
    assert main(["raman", str(traj), "-t", str(DT), "-o", str(out)]) != 0
    assert main(["raman", str(traj), "-t", str(DT), "--key", "nothing", "-o", str(out)]) != 0
