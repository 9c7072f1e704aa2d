"""Load the body of a mace-torch model into polmlip's MACE backbone (the second step).

The first step, in mace-torch's environment, writes the body as plain arrays
(:mod:`polmlip.model.mace_dump`, or ``polmlip import-mace``). Here:

* :func:`read_mace_body` reads and checks that file;
* :func:`with_mace_settings` fills a model section's settings from it (backbone, width,
  max_ell, layers, correlation, cutoff, radial basis and MLP, envelope, first layer) and
  refuses a given setting that contradicts it;
* :func:`load_mace_body` copies the weights into a built :class:`PolMLIP`.

The copied body computes mace-torch's node features to rounding (tested against
mace-torch's own on a model trained for the test, ``tests/references/mace``). What mace-torch
does not have starts as polmlip initialises it: the irreps above mace-torch's hidden ones
(their inputs to the next layer's convolution start at zero, so the mace features are
unchanged until training moves them), the last layer's non-scalar outputs (mace-torch's
last layer makes scalars only), and the heads. The weights are converted, not copied one
for one, where the two differ in form:

* neighbour sums: mace-torch divides by the average neighbour count after its linear map,
  polmlip by its square root before; the factor goes into the linear map's weights;
* e3nn's path normalisations, which depend on the irreps present: each block is rescaled
  by the ratio of the two modules' path weights;
* the tensor-product paths: mace-torch orders its instructions by output block, polmlip by
  input; the radial MLP's output columns are permuted to match;
* the product basis: mace-torch's paths (its U matrices, generalised Clebsch–Gordan
  products) are linear combinations of polmlip's symmetric-power basis on a channel's
  features; the combination is solved by least squares on random features (exact: the
  residual is checked) and applied to the weights.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import zipfile
from typing import Any, Dict, List, Tuple

import numpy as np
import torch
from e3nn import o3

from ..errors import InputError
from ..nn.convolution import _mid_irreps
from ..nn.symmetric_product import monomial_products, symmetric_basis
from .mace_dump import FORMAT, PLAIN_BLOCK, VERSION, allowed_blocks

#: relative residual above which a product-basis conversion is refused (float64 rounding
#: is ~1e-15; a real mismatch of the bases is of order 1)
PRODUCT_TOLERANCE = 1e-9


@dataclasses.dataclass
class MaceBody:
    """A mace-torch body read from a file of :mod:`polmlip.model.mace_dump`.

    Attributes:
        path: the file. hyper: its settings (see ``mace_dump.describe``).
        arrays: float64 arrays under mace-torch's state-dict names.
    """

    path: str
    hyper: Dict[str, Any]
    arrays: Dict[str, np.ndarray]

    @property
    def hidden_lmax(self) -> int:
        """The highest order of mace-torch's hidden features (its first product's output)."""
        return o3.Irreps(self.hyper["products"][0]["irreps_out"]).lmax

    def tensor(self, name: str) -> torch.Tensor:
        if name not in self.arrays:
            raise InputError(f"{self.path}: no array {name!r} (not a complete MACE body)")
        return torch.from_numpy(self.arrays[name])


def read_mace_body(path: str | pathlib.Path, weights: bool = True) -> MaceBody:
    """Read a body file written by ``mace_dump.py``; a file of another kind is refused.
    With ``weights=False`` only its settings are read (``arrays`` stays empty)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(
            f"model.mace_body: {str(path)!r} does not exist (write it with polmlip import-mace)"
        )
    not_a_body = f"model.mace_body: {str(path)!r} is not a MACE body file written by polmlip "
    not_a_body += "import-mace"
    if not zipfile.is_zipfile(path):
        raise InputError(not_a_body + " (not a NumPy .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            hyper = json.loads(str(archive["hyper"]))
            names = [k for k in archive.files if k != "hyper"] if weights else []
            arrays = {k: archive[k] for k in names}
    except KeyError:
        raise InputError(not_a_body + " (it has no 'hyper' entry)") from None
    except Exception as err:  # noqa: BLE001 (any unreadable archive gets the same answer)
        raise InputError(not_a_body + f" ({type(err).__name__}: {err})") from None
    if not isinstance(hyper, dict) or hyper.get("format") != FORMAT:
        raise InputError(f"model.mace_body: {str(path)!r} is not a {FORMAT} file")
    if hyper.get("version") != VERSION:
        raise InputError(
            f"model.mace_body: {str(path)!r} has format version {hyper.get('version')}; this "
            f"polmlip reads version {VERSION} (write it again with this polmlip's import-mace)"
        )
    body = MaceBody(str(path), hyper, arrays)
    _check_supported(body)
    return body


def _check_supported(body: MaceBody) -> None:
    h = body.hyper
    for k, block in enumerate(h["interactions"]):
        if block["class"] not in allowed_blocks(k):
            raise InputError(f"{body.path}: interaction {k} is {block['class']}; not supported")
    correlations = {p["correlation"] for p in h["products"]}
    if len(correlations) != 1:
        raise InputError(f"{body.path}: a correlation order per layer {sorted(correlations)} "
                         "is not supported (one for all layers)")  # fmt: skip
    widths = h["radial_MLP"]
    if not widths or len(set(widths)) != 1:
        raise InputError(f"{body.path}: radial MLP widths {widths} are not supported "
                         "(equal widths only)")  # fmt: skip
    if body.hidden_lmax > 2:
        raise InputError(f"{body.path}: hidden irreps to l = {body.hidden_lmax}; polmlip's "
                         "features go to lmax 2")  # fmt: skip


def mace_settings(body: MaceBody) -> Dict[str, Any]:
    """The model settings the body fixes (ModelConfig names)."""
    h = body.hyper
    plain = h["interactions"][0]["class"] == PLAIN_BLOCK
    return {
        "backbone": "mace",
        "channels": h["channels"],
        "max_ell": h["max_ell"],
        "num_layers": h["num_interactions"],
        "correlation": h["products"][0]["correlation"],
        "cutoff": h["r_max"],
        "num_basis": h["num_bessel"],
        "radial_hidden": h["radial_MLP"][0],
        "radial_layers": len(h["radial_MLP"]),
        "envelope_exponent": h["polynomial_cutoff_p"],
        "first_interaction": "plain" if plain else "residual",
    }


def with_mace_settings(model: Dict[str, Any], base_dir: pathlib.Path) -> Dict[str, Any]:
    """A copy of the model section ``model`` (with ``mace_body``) with the body's settings
    filled in and the file's path resolved against ``base_dir``; a setting given with another
    value than the body's, an lmax below its hidden irreps or an element it lacks is an
    error."""
    path = pathlib.Path(str(model["mace_body"]))
    if not path.is_absolute():
        path = base_dir / path
    body = read_mace_body(path, weights=False)
    out = dict(model, mace_body=str(path))
    for name, value in mace_settings(body).items():
        given = out.get(name)
        if given is not None and given != value:
            raise InputError(
                f"model.{name} is {given!r} but the MACE body {str(path)!r} has {value!r}; "
                f"remove model.{name} (it is taken from the body) or use another body"
            )
        out[name] = value
    lmax = out.get("lmax", 2)
    if isinstance(lmax, int) and lmax < body.hidden_lmax:
        raise InputError(f"model.lmax ({lmax}) is below the MACE body's hidden irreps "
                         f"(l = {body.hidden_lmax}); set lmax ≥ {body.hidden_lmax}")  # fmt: skip
    _species_map(out.get("elements") or [], body)
    return out


def _species_map(elements: List[str], body: MaceBody) -> List[int]:
    """For each of ``elements``, its index in the body's one-hot encoding."""
    from ase.data import atomic_numbers

    known = body.hyper["atomic_numbers"]
    out = []
    for e in elements:
        z = atomic_numbers.get(e)
        if z not in known:
            from ase.data import chemical_symbols

            names = [chemical_symbols[k] for k in known]
            raise InputError(f"element {e} is not one of the MACE body's elements {names}")
        out.append(known.index(z))
    return out


# ---- weight conversion ----


def _linear_views(linear: o3.Linear) -> Dict[Tuple, Tuple[float, torch.Tensor]]:
    """{(i_in, i_out): (path weight, weight view)} of an e3nn Linear."""
    return {
        (ins.i_in, ins.i_out): (ins.path_weight, view)
        for _, ins, view in linear.weight_views(yield_instruction=True)
    }


def _tp_views(tp: o3.TensorProduct) -> Dict[Tuple, Tuple[float, torch.Tensor]]:
    """{(i_in1, i_in2, i_out): (path weight, weight view)} of an e3nn tensor product with
    internal weights."""
    return {
        (ins.i_in1, ins.i_in2, ins.i_out): (ins.path_weight, view)
        for _, ins, view in tp.weight_views(yield_instruction=True)
    }


def _mid_keys(irreps_in: o3.Irreps, irreps_sh: o3.Irreps, instructions) -> Dict[int, Tuple]:
    """{block of irreps_mid: (input irrep, edge irrep, output irrep)}: the same block of two
    convolutions with other input irreps or orders."""
    return {c: (irreps_in[a].ir, irreps_sh[b].ir) for a, b, c, *_ in instructions}


def _irrep_keys(irreps: o3.Irreps) -> List:
    return [ir for _, ir in irreps]


def _copy_linear(
    ours: o3.Linear, theirs: o3.Linear, inputs_ours: List, inputs_theirs: List, scale: float
) -> None:
    """Copy every block of ``theirs`` into the block of ``ours`` with the same input key
    (``inputs_x[i]``: an irrep, or what identifies the input block) and output irrep,
    rescaled by the path weights and ``scale``. Blocks of ``ours`` that ``theirs`` lacks are
    left as they are."""
    out_o, out_t = ours.irreps_out, theirs.irreps_out
    mine = {(inputs_ours[i], out_o[o].ir): (w, v) for (i, o), (w, v) in _linear_views(ours).items()}
    for (i, o), (w_t, v_t) in _linear_views(theirs).items():
        key = (inputs_theirs[i], out_t[o].ir)
        if key in mine:
            w_o, v_o = mine[key]
            v_o.copy_(v_t * (w_t / w_o * scale))


def _convolution_copy(layer, block: Dict[str, Any], body: MaceBody, prefix: str) -> None:
    """linear_up, the radial MLP and the A-basis linear map of one layer."""
    irreps_in_t = o3.Irreps(block["node_feats_irreps"])
    target_t = o3.Irreps(block["target_irreps"])
    irreps_sh = layer.tp.irreps_in2
    # linear_up: blocks by irrep; ours above mace-torch's irreps start at zero
    up_t = o3.Linear(irreps_in_t, irreps_in_t)
    up_t.weight.copy_(body.tensor(prefix + "linear_up.weight"))
    keys_in, keys_in_t = _irrep_keys(layer.linear_up.irreps_in), _irrep_keys(irreps_in_t)
    for (i, _), (_, view) in _linear_views(layer.linear_up).items():
        if keys_in[i] not in keys_in_t:
            view.zero_()
    _copy_linear(layer.linear_up, up_t, keys_in, keys_in_t, 1.0)
    # the tensor product: mace-torch's instructions sorted by output block
    mid_t, ins_t = _mid_irreps(irreps_in_t, irreps_sh, target_t)
    ins_t = sorted(ins_t, key=lambda x: x[2])
    tp_t = o3.TensorProduct(
        irreps_in_t, irreps_sh, mid_t, ins_t, shared_weights=False, internal_weights=False
    )
    keys_t = _mid_keys(irreps_in_t, irreps_sh, ins_t)
    keys_o = _mid_keys(layer.tp.irreps_in1, irreps_sh, layer.tp.instructions)
    keys_t = {c: k + (mid_t[c].ir,) for c, k in keys_t.items()}
    keys_o = {c: k + (layer.irreps_mid[c].ir,) for c, k in keys_o.items()}
    # radial MLP: hidden layers one for one, output columns by tensor-product path
    n_layers = len([k for k in body.arrays if k.startswith(prefix + "conv_tp_weights.layer")])
    for j in range(n_layers - 1):
        getattr(layer.radial, f"layer{j}").weight.copy_(
            body.tensor(f"{prefix}conv_tp_weights.layer{j}.weight")
        )
    last_t = body.tensor(f"{prefix}conv_tp_weights.layer{n_layers - 1}.weight")
    last_o = getattr(layer.radial, f"layer{n_layers - 1}").weight
    start_t = {}
    offset = 0
    for ins in tp_t.instructions:
        start_t[keys_t[ins.i_out]] = (offset, ins.path_weight, int(np.prod(ins.path_shape)))
        offset += int(np.prod(ins.path_shape))
    offset = 0
    for ins in layer.tp.instructions:
        size = int(np.prod(ins.path_shape))
        key = keys_o[ins.i_out]
        if key in start_t:
            s_t, w_t, size_t = start_t[key]
            assert size_t == size
            last_o[:, offset : offset + size].copy_(
                last_t[:, s_t : s_t + size] * (w_t / ins.path_weight)
            )
        offset += size
    # the A-basis map: mace-torch's Lin(Σ)/avg against polmlip's Lin(Σ · norm)
    lin_t = o3.Linear(mid_t, target_t)
    lin_t.weight.copy_(body.tensor(prefix + "linear.weight"))
    scale = 1.0 / (float(block["avg_num_neighbors"]) * layer.norm)
    mid_o = [keys_o[c] for c in range(len(layer.irreps_mid))]
    _copy_linear(layer.linear, lin_t, mid_o, [keys_t[c] for c in range(len(mid_t))], scale)


def _fctp_copy(ours: o3.TensorProduct, theirs: o3.TensorProduct, species: List[int]) -> None:
    """An element-dependent map (features × one-hot): blocks by irreps, element rows by
    ``species``, rescaled by the path weights."""
    mine = {
        (ours.irreps_in1[a].ir, ours.irreps_out[c].ir): (w, v)
        for (a, _, c), (w, v) in _tp_views(ours).items()
    }
    for (a, _, c), (w_t, v_t) in _tp_views(theirs).items():
        key = (theirs.irreps_in1[a].ir, theirs.irreps_out[c].ir)
        if key in mine:
            w_o, v_o = mine[key]
            v_o.copy_(v_t[:, species, :] * (w_t / w_o))


def _skip_copy(layer, block, body: MaceBody, prefix: str, species: List[int]) -> None:
    n_el = len(body.hyper["atomic_numbers"])
    elements = o3.Irreps(f"{n_el}x0e")
    if layer.residual:
        irreps_in = o3.Irreps(block["node_feats_irreps"])
        out = o3.Irreps(block["hidden_irreps"])
    else:
        irreps_in = out = o3.Irreps(block["target_irreps"])
    skip_t = o3.FullyConnectedTensorProduct(irreps_in, elements, out)
    skip_t.weight.copy_(body.tensor(prefix + "skip_tp.weight"))
    _fctp_copy(layer.skip, skip_t, species)


def _mace_paths(u: torch.Tensor, x: torch.Tensor, nu: int) -> torch.Tensor:
    """mace-torch's product paths on samples x (S, d): Σ U[M, i₁…i_ν, p] x_{i₁} … x_{i_ν}
    → (S, 2L+1, P). ``u`` is (2L+1, d, …, d, P), or (d, …, d, P) for L = 0."""
    if u.dim() == nu + 1:
        u = u.unsqueeze(0)
    out = u.unsqueeze(0).expand(x.shape[0], *u.shape)
    for _ in range(nu):  # contract the last feature index each time
        out = torch.einsum("s...ip,si->s...p", out, x)
    return out


def _product_copy(product, body: MaceBody, k: int, species: List[int]) -> None:
    """Layer ``k``'s element-dependent product weights, converted path by path (module
    docstring)."""
    prefix = f"products.{k}."
    irreps_out_t = o3.Irreps(body.hyper["products"][k]["irreps_out"])
    correlation = product.correlation
    g = torch.Generator().manual_seed(0)
    dim_in = product.dim_in
    x = torch.randn(64, dim_in, generator=g, dtype=torch.float64)
    for c_index, (_, ir) in enumerate(irreps_out_t):
        L = ir.l
        if L > product.lmax:
            continue
        name = f"{prefix}symmetric_contractions.contractions.{c_index}."
        for nu in range(1, correlation + 1):
            weight_name = "weights_max" if nu == correlation else f"weights.{correlation - 1 - nu}"
            if name + weight_name not in body.arrays:
                continue  # a path set mace-torch found empty
            w_t = body.tensor(name + weight_name)  # (elements, P, C)
            u = body.tensor(f"{name}U_matrix_{nu}")
            paths_t = _mace_paths(u, x, nu)  # (S, 2L+1, P)
            mono, basis, paths = symmetric_basis(product.lmax_in, product.lmax, nu)
            p_o = paths[L]
            column = sum(paths[l] * (2 * l + 1) for l in range(L))
            b = monomial_products(x, mono) @ basis[:, column : column + p_o * (2 * L + 1)]
            b = b.reshape(-1, p_o, 2 * L + 1)
            a = b.permute(0, 2, 1).reshape(-1, p_o)  # (S·(2L+1), P_ours)
            target = paths_t.reshape(-1, paths_t.shape[-1])  # (S·(2L+1), P_mace)
            t, *_ = torch.linalg.lstsq(a, target)
            residual = float((a @ t - target).abs().max())
            if residual > PRODUCT_TOLERANCE * max(float(target.abs().max()), 1e-300):
                raise InputError(
                    f"{body.path}: the product paths of order {nu} onto l = {L} are not "
                    f"spanned by polmlip's basis (residual {residual:.2e})"
                )
            ours = getattr(product, f"weights_{nu}")
            start = sum(product.paths[nu - 1][l] for l in range(L))
            converted = torch.einsum("epc,qp->ecq", w_t, t)[species]  # (species, C, P_ours)
            ours[:, :, start : start + p_o].copy_(converted)


def load_mace_body(model, body: MaceBody) -> None:
    """Copy the body's weights into ``model`` (a :class:`PolMLIP` whose settings
    :func:`with_mace_settings` filled from ``body``). mace-torch's modules are rebuilt in
    float64 to read its weights, whatever torch's default dtype."""
    from .polmlip import _float64_defaults

    with torch.no_grad(), _float64_defaults():
        _load(model, body)


def _load(model, body: MaceBody) -> None:
    config = model.config_dict
    settings = mace_settings(body)
    wrong = {k: (config[k], v) for k, v in settings.items() if config.get(k) != v}
    if wrong:
        raise InputError(f"the model's settings differ from the MACE body's: {wrong}")
    species = _species_map(config["elements"], body)
    n_el = len(body.hyper["atomic_numbers"])
    net = model.body
    # species embedding: mace-torch's Linear on the one-hot vector
    channels = int(body.hyper["channels"])
    embed_t = o3.Linear(o3.Irreps(f"{n_el}x0e"), o3.Irreps(f"{channels}x0e"))
    embed_t.weight.copy_(body.tensor("node_embedding.linear.weight"))
    ((w_t, view),) = _linear_views(embed_t).values()
    net.embedding.weight.copy_(view[species] * w_t)
    # Bessel frequencies: mace-torch's sin(w r)/r with w = nπ/r_max
    bessel = body.tensor("radial_embedding.bessel_fn.bessel_weights")
    net.basis.freq.copy_(bessel * net.basis.cutoff)
    for k, layer in enumerate(net.layers):
        block = body.hyper["interactions"][k]
        _convolution_copy(layer, block, body, f"interactions.{k}.")
        _skip_copy(layer, block, body, f"interactions.{k}.", species)
        _product_copy(layer.product, body, k, species)
        hidden_t = o3.Irreps(body.hyper["products"][k]["irreps_out"])
        lin_t = o3.Linear(hidden_t, hidden_t)
        lin_t.weight.copy_(body.tensor(f"products.{k}.linear.weight"))
        keys_in = _irrep_keys(layer.linear_out.irreps_in)
        _copy_linear(layer.linear_out, lin_t, keys_in, _irrep_keys(hidden_t), 1.0)
