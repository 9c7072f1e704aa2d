"""The seed paper's central claim in miniature: latent charges learned from energies and forces
of a known fixed-charge teacher (point charges + Born–Mayer repulsion, computed with numpy)
recover the teacher's charges and Born effective charges (Z* = q I exactly)."""

import ase.io
import numpy as np

from polmlip import keys
from polmlip.data import atoms_to_graph
from polmlip.qmdata.teacher import DEFAULT_CHARGES, random_clusters
from polmlip.train.config import parse_config
from polmlip.train.trainer import Trainer

ELEMENTS = ["Na", "Cl", "O"]


def test_learned_charges_recover_teacher(tmp_path):
    ase.io.write(tmp_path / "teacher.xyz", random_clusters(80, seed=0), format="extxyz")
    run = parse_config(
        {
            "model": {
                "elements": ELEMENTS,
                "ladder": "q",
                "channels": 8,
                "lmax": 1,
                "cutoff": 3.5,
                "num_layers": 2,
            },
            "data": {"train": str(tmp_path / "teacher.xyz"), "val_fraction": 0.15},
            "training": {
                "output": str(tmp_path / "run"),
                "epochs": 40,
                "batch_size": 4,
                "lr": 0.01,
                "ema_decay": 0.9,
                "seed": 0,
            },
        }
    )
    trainer = Trainer(run, progress=False)
    trainer.train()
    model = trainer.best_model()
    learned, teacher, bec, bec_ref = [], [], [], []
    for atoms in random_clusters(10, seed=123):  # held-out clusters
        out = model(atoms_to_graph(atoms, ELEMENTS, 3.5), compute_bec=True)
        q_ref = np.array([DEFAULT_CHARGES[s] for s in atoms.get_chemical_symbols()])
        learned.append(out[keys.CHARGES].detach().numpy())
        teacher.append(q_ref)
        bec.append(out[keys.BEC].detach().numpy())
        bec_ref.append(q_ref[:, None, None] * np.eye(3))
    q, q_ref = np.concatenate(learned), np.concatenate(teacher)
    assert np.corrcoef(q, q_ref)[0, 1] >= 0.99
    assert abs((q @ q_ref) / (q_ref @ q_ref) - 1.0) <= 0.05
    assert np.abs(np.concatenate(bec) - np.concatenate(bec_ref)).mean() < 0.05
