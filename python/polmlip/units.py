"""Physical constants and unit conversions used by polmlip.

Internal units everywhere: length Å, energy eV, charge e, electric field V/Å
(= eV/(e·Å)), time fs. Engine units are converted only at engine boundaries.
"""

from typing import Final

#: Coulomb constant k_e = 1/(4π ε0) in eV·Å/e² (the value of LAMMPS ``metal`` qqr2e).
COULOMB: Final[float] = 14.399645

#: 1 eV in kJ/mol.
EV_TO_KJ_PER_MOL: Final[float] = 96.48533212331002
#: 1 eV in kcal/mol.
EV_TO_KCAL_PER_MOL: Final[float] = 23.060547830619026
#: 1 nm in Å.
NM_TO_ANGSTROM: Final[float] = 10.0
#: 1 Hartree in eV (CODATA 2018).
HARTREE_TO_EV: Final[float] = 27.211386245988
#: 1 Bohr in Å (CODATA 2018).
BOHR_TO_ANGSTROM: Final[float] = 0.529177210903
#: One atomic unit of electric field (E_h / (e a0)) in V/Å.
ATOMIC_FIELD_TO_V_PER_ANGSTROM: Final[float] = HARTREE_TO_EV / BOHR_TO_ANGSTROM
#: One atomic unit of dipole (e a0) in e·Å.
ATOMIC_DIPOLE_TO_E_ANGSTROM: Final[float] = BOHR_TO_ANGSTROM

#: Speed of light in cm/fs; a frequency f in 1/fs is the wavenumber f / c in cm⁻¹.
SPEED_OF_LIGHT_CM_PER_FS: Final[float] = 2.99792458e-5
#: Second radiation constant h·c/k_B in cm·K; ħω/(k_B T) = this × ν̃[cm⁻¹] / T[K].
HC_OVER_KB_CM_K: Final[float] = 1.438776877
#: 1 THz (frequency ν, not angular) in cm⁻¹ (1e12 s⁻¹ / c, c = 299 792 458 m/s).
THZ_TO_INV_CM: Final[float] = 1e10 / 299792458.0
#: ν in THz of a harmonic mode with ω² = 1 eV/(Å²·amu): sqrt(e / (1e-20 m² · amu)) / (2π · 1e12).
SQRT_EV_PER_A2_AMU_TO_THZ: Final[float] = (
    (1.602176634e-19 / (1e-20 * 1.66053906660e-27)) ** 0.5 / (2.0 * 3.141592653589793) / 1e12
)

#: Largest applied field (V/Å) a model accepts when its training data had no larger ones:
#: 1 V/Å ≈ 0.019 au, ten times the fields of typical field-driven MD and well inside the
#: range where a linear-response model of molecules and insulators is still meaningful.
#: A model trained under fields accepts up to FIELD_LIMIT_OVER_TRAINING × the largest one.
DEFAULT_FIELD_LIMIT: Final[float] = 1.0
FIELD_LIMIT_OVER_TRAINING: Final[float] = 1.5

#: Shortest interatomic distance (Å) any model accepts: closer atoms are refused as
#: overlapping in every engine. A trained model refuses distances below
#: MIN_DISTANCE_OF_TRAINING × the shortest distance of its training data (if that is larger),
#: where its energies are extrapolations with no physical meaning.
MIN_DISTANCE: Final[float] = 0.1
MIN_DISTANCE_OF_TRAINING: Final[float] = 0.5

#: Atoms per libtorch intra-op thread chosen by the OpenMM force when the thread count is
#: automatic (benchmarks/openmm_threads.py measured the rule; docs/openmm.md "Threads").
ATOMS_PER_TORCH_THREAD: Final[int] = 2048
