"""Engine integrations: ASE (this package), LAMMPS and OpenMM plugins (built separately)."""
