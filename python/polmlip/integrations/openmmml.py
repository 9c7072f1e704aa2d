"""openmm-ml entry point: ``MLPotential("polmlip", modelPath="model.pt")``.

Registered in ``pyproject.toml`` under the ``openmmml.potentials`` group, so that with
openmm-ml installed

    from openmmml import MLPotential
    potential = MLPotential("polmlip", modelPath="model.pt")
    system = potential.createSystem(topology, field=(0, 0, 0.05), totalCharge=0)

returns a System with a :func:`polmlip.openmm.PolMLIPForce`. ``createMixedSystem`` works too
(the force acts on the chosen atoms only). Extra ``createSystem`` arguments: ``field``
(V/Å), ``totalCharge`` (e), ``device``, ``kspaceAccuracy``, ``torchThreads`` (libtorch
threads while the model runs; default automatic, see docs/openmm.md).
"""

from __future__ import annotations

from openmmml.mlpotential import MLPotentialImpl, MLPotentialImplFactory

from .openmm import PolMLIPForce


class PolMLIPPotentialImplFactory(MLPotentialImplFactory):
    """Creates :class:`PolMLIPPotentialImpl` for the name ``polmlip``."""

    def createImpl(self, name: str, modelPath: str = None, **args) -> MLPotentialImpl:
        if modelPath is None:
            raise ValueError("MLPotential('polmlip') needs modelPath='model.pt' (polmlip export)")
        return PolMLIPPotentialImpl(modelPath)


class PolMLIPPotentialImpl(MLPotentialImpl):
    """Adds one PolMLIPForce for the selected atoms."""

    def __init__(self, model_path: str) -> None:
        self.model_path = model_path

    def addForces(
        self,
        topology,
        system,
        atoms,
        forceGroup: int,
        field=(0.0, 0.0, 0.0),
        totalCharge: float = 0.0,
        device: str = "cpu",
        kspaceAccuracy=None,
        torchThreads=None,
        **args,
    ) -> None:
        force = PolMLIPForce(
            self.model_path,
            topology,
            atoms=atoms,
            total_charge=totalCharge,
            field=field,
            device=device,
            kspace_accuracy=kspaceAccuracy,
            torch_threads=torchThreads,
        )
        force.setForceGroup(forceGroup)
        system.addForce(force)

    def getMLLongRange(self) -> bool:
        return True
