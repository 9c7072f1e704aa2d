"""Write the body of a mace-torch model as plain arrays: the first step of loading it.

Run with the Python of the environment that has mace-torch (it pins e3nn 0.4.4, which
polmlip's environment does not take); this file imports nothing from polmlip::

    python mace_dump.py my_mace.model mace_body.npz

or, from polmlip's environment, ``polmlip import-mace my_mace.model mace_body.npz
--mace-python /path/to/mace-env/bin/python``, which runs this file there and then checks
the result. ``polmlip.model.mace_body`` reads the file (``model.mace_body`` in a training
config).

The file is a compressed NumPy archive (no pickle): ``hyper`` holds the settings as JSON,
every other entry is one float64 tensor of the model's state dict under its mace-torch name
(the species embedding, the radial basis, and each layer's interaction and product basis,
U matrices included; readouts, E0s and scale/shift are not part of the body). What polmlip
cannot reproduce exactly is refused here, with the reason.
"""

import json
import sys

#: the format this file writes and polmlip.model.mace_body reads
FORMAT = "polmlip-mace-body"
VERSION = 1
#: the interaction blocks whose equations polmlip's MACE layer reproduces: the residual one
#: in every layer, and the plain one as the first (mace-torch's `MACE` models use it there)
RESIDUAL_BLOCK = "RealAgnosticResidualInteractionBlock"
PLAIN_BLOCK = "RealAgnosticInteractionBlock"


def allowed_blocks(layer: int) -> tuple:
    """The interaction block classes polmlip can load as layer ``layer`` (0 is the first)."""
    return (RESIDUAL_BLOCK, PLAIN_BLOCK) if layer == 0 else (RESIDUAL_BLOCK,)


#: state-dict prefixes that belong to the body
BODY_PREFIXES = ("node_embedding.", "radial_embedding.", "interactions.", "products.")
#: buffers polmlip rebuilds itself (Wigner 3j blocks of the tensor products, masks)
SKIPPED = ("_w3j", "output_mask", "_zeroed")


class UnsupportedModel(ValueError):
    """The model uses a part of mace-torch that polmlip's MACE backbone does not have."""


def _refuse_unsupported(model) -> None:
    """Raise UnsupportedModel naming every option polmlip cannot reproduce."""
    problems = []
    for k, block in enumerate(model.interactions):
        name = type(block).__name__
        allowed = allowed_blocks(k)
        if name not in allowed:
            problems.append(f"interaction {k} is {name} (supported: {allowed})")
        if getattr(block, "edge_irreps", block.node_feats_irreps) != block.node_feats_irreps:
            problems.append(f"interaction {k} has edge_irreps {block.edge_irreps}")
        if hasattr(block, "conv_fusion"):
            problems.append(f"interaction {k} uses a fused convolution (convert it to e3nn)")
    radial = model.radial_embedding
    if type(radial.bessel_fn).__name__ != "BesselBasis":
        problems.append(f"radial basis {type(radial.bessel_fn).__name__} (only Bessel)")
    if hasattr(radial, "distance_transform"):
        problems.append("a distance transform of the radial basis")
    if not getattr(radial, "apply_cutoff", True):
        problems.append("apply_cutoff False (the envelope on the tensor-product weights)")
    if hasattr(model, "pair_repulsion"):
        problems.append("the ZBL pair repulsion (an energy term, not body features)")
    if hasattr(model, "joint_embedding"):
        problems.append("a joint embedding of extra inputs")
    if getattr(model, "use_agnostic_product", False):
        problems.append("an element-agnostic product basis")
    for ir in model.spherical_harmonics.irreps_out:
        if ir.ir.p != (-1) ** ir.ir.l:
            problems.append("SO(3) edge harmonics (use_so3)")
            break
    for k, product in enumerate(model.products):
        for _, ir in product.symmetric_contractions.irreps_out:
            if ir.p != (-1) ** ir.l:
                problems.append(f"product {k} has the irrep {ir} (only parity (-1)^l)")
    if problems:
        raise UnsupportedModel("; ".join(problems))


def describe(model) -> dict:
    """The settings polmlip needs to rebuild the body (JSON-serialisable)."""
    import mace

    radial = model.radial_embedding
    first = model.interactions[0]
    widths = [
        int(p.shape[1])
        for name, p in first.conv_tp_weights.named_parameters()
        if name.endswith("weight")
    ][:-1]
    return {
        "format": FORMAT,
        "version": VERSION,
        "mace_version": getattr(mace, "__version__", "unknown"),
        "model_class": type(model).__name__,
        "atomic_numbers": [int(z) for z in model.atomic_numbers],
        "r_max": float(radial.bessel_fn.r_max),
        "num_bessel": int(radial.bessel_fn.bessel_weights.numel()),
        "polynomial_cutoff_p": int(radial.cutoff_fn.p),
        "max_ell": int(model.spherical_harmonics.irreps_out.lmax),
        "num_interactions": len(model.interactions),
        "channels": int(model.node_embedding.linear.irreps_out.dim),
        "radial_MLP": widths,
        "interactions": [
            {
                "class": type(block).__name__,
                "node_feats_irreps": str(block.node_feats_irreps),
                "target_irreps": str(block.target_irreps),
                "hidden_irreps": str(block.hidden_irreps),
                "avg_num_neighbors": float(block.avg_num_neighbors),
            }
            for block in model.interactions
        ],
        "products": [
            {
                "irreps_out": str(product.symmetric_contractions.irreps_out),
                "correlation": int(product.symmetric_contractions.contractions[0].correlation),
            }
            for product in model.products
        ],
        "atomic_energies": [float(e) for e in model.atomic_energies_fn.atomic_energies.reshape(-1)],
    }


def body_arrays(model) -> dict:
    """The body's tensors as float64 NumPy arrays under their state-dict names."""
    out = {}
    for name, tensor in model.state_dict().items():
        if not name.startswith(BODY_PREFIXES) or any(s in name for s in SKIPPED):
            continue
        if tensor.numel() == 0 or not tensor.is_floating_point():
            continue
        out[name] = tensor.detach().cpu().double().numpy()
    return out


def dump(model, path: str) -> dict:
    """Check ``model`` (a mace-torch MACE or ScaleShiftMACE) and write its body to ``path``
    (.npz); returns the settings written."""
    import numpy as np

    _refuse_unsupported(model)
    hyper = describe(model)
    np.savez_compressed(path, hyper=np.array(json.dumps(hyper)), **body_arrays(model))
    return hyper


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args and args[0] in ("-h", "--help") else 2
    try:
        import mace  # noqa: F401
        import torch
    except ImportError as err:
        print(f"mace_dump: this Python ({sys.executable}) has no mace-torch ({err}); run it "
              "with the Python of the environment where mace-torch is installed",
              file=sys.stderr)  # fmt: skip
        return 1
    try:
        model = torch.load(args[0], map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 (reported to the user, who sees the cause)
        print(f"mace_dump: cannot read {args[0]} as a mace-torch model: {err}", file=sys.stderr)
        return 1
    if isinstance(model, torch.jit.ScriptModule):
        print(f"mace_dump: {args[0]} is a TorchScript (compiled) model; give the .model file "
              "mace_run_train writes beside it (without _compiled)", file=sys.stderr)  # fmt: skip
        return 1
    if not hasattr(model, "interactions") or not hasattr(model, "products"):
        print(f"mace_dump: {args[0]} holds a {type(model).__name__}, not a MACE model "
              "(a .model file written by mace_run_train)", file=sys.stderr)  # fmt: skip
        return 1
    try:
        hyper = dump(model, args[1])
    except UnsupportedModel as err:
        print(f"mace_dump: polmlip cannot load this model's body: {err}", file=sys.stderr)
        return 1
    print(
        f"mace_dump: wrote {args[1]}: {hyper['num_interactions']} layers, "
        f"{hyper['channels']} channels, max_ell {hyper['max_ell']}, "
        f"elements Z = {hyper['atomic_numbers']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
