"""The equivariant short-range body (the backbone): species embedding + message-passing layers.

The backbone interface: a module that maps the graph (species, edge vectors, edges with
local receivers) to per-atom features ``keys.NODE_FEATURES`` of irreps ``irreps_out``, each
layer computing its local atoms' features and ``polmlip::halo`` filling the ghost rows
between layers. The heads, charge conservation, electrostatics, response and field coupling
read only those features. :data:`BACKBONES` names the layer types that implement it:
``nequip`` (gated NequIP-style convolutions, :mod:`polmlip.nn.interaction`) and ``mace``
(MACE's A-basis and higher-order product basis, :mod:`polmlip.nn.mace`).
"""

import copy
from typing import Dict, List

import torch
from e3nn import o3
from e3nn.util.jit import compile_mode

from .. import keys
from .convolution import Convolution, hidden_irreps
from .interaction import Interaction
from .mace import MACEInteraction
from .radial import BesselBasis, PolynomialCutoff
from .radial_table import tabulate

__all__ = ["BACKBONES", "EquivariantBody", "hidden_irreps"]

#: the backbones (message-passing layer types) a model can be built with
BACKBONES = ("nequip", "mace")


@compile_mode("script")
class EquivariantBody(torch.nn.Module):
    """Per-atom equivariant features h_i from species and neighbour geometry.

    Args:
        num_species: number of elements. channels: multiplicity C of each irrep.
        lmax: highest irrep order (≤ 2). num_layers: message-passing layers.
        cutoff: Å. num_basis: Bessel functions. radial_widths: the radial MLPs' hidden
        layer widths. avg_neighbors: typical neighbour count, normalises neighbour sums.
        backbone: the layer type, one of :data:`BACKBONES`.
        correlation: body order of MACE's product basis (``mace`` only).
        max_ell: highest order of the edge harmonics (and of MACE's A-basis); lmax for
            ``nequip`` (ModelConfig.edge_lmax).
        envelope_exponent: p of the polynomial cutoff envelope (NequIP's 6, MACE's 5).
        first_residual: the first MACE layer adds the element-dependent residual (polmlip's
            default) or, as in mace-torch's ``MACE`` models, maps its A-basis per element
            and adds nothing (``mace`` only).
    """

    def __init__(
        self,
        num_species: int,
        channels: int,
        lmax: int,
        num_layers: int,
        cutoff: float,
        num_basis: int,
        radial_widths: List[int],
        avg_neighbors: float,
        backbone: str,
        correlation: int,
        max_ell: int,
        envelope_exponent: int,
        first_residual: bool,
    ) -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {backbone!r}; choose one of {BACKBONES}")
        self.embedding = torch.nn.Embedding(num_species, channels)
        self.irreps_sh = o3.Irreps.spherical_harmonics(max_ell)
        self.sh = o3.SphericalHarmonics(self.irreps_sh, normalize=True, normalization="component")
        self.basis = BesselBasis(cutoff, num_basis)
        self.envelope = PolynomialCutoff(cutoff, envelope_exponent)
        layers: List[Convolution] = []
        irreps = o3.Irreps(f"{channels}x0e")
        target = hidden_irreps(channels, lmax)
        for k in range(num_layers):
            if backbone == "mace":
                layer = MACEInteraction(
                    irreps,
                    channels,
                    lmax,
                    self.irreps_sh,
                    num_basis,
                    radial_widths,
                    avg_neighbors,
                    num_species,
                    correlation,
                    first_residual or k > 0,
                )
            else:
                layer = Interaction(
                    irreps, target, self.irreps_sh, num_basis, radial_widths, avg_neighbors
                )
            layers.append(layer)
            irreps = layer.irreps_out
        self.layers = torch.nn.ModuleList(layers)
        self.irreps_out = irreps
        self.compressed = False

    @torch.jit.export
    def set_fused(self, enabled: bool) -> None:
        """Run each layer's convolution as one fused operator (``polmlip::tp_conv``, the
        engines' fast path: one derivative) or through e3nn (differentiable to any order,
        for training on forces). Both give the same sums to rounding."""
        for layer in self.layers:
            layer.fused = enabled

    @torch.jit.export
    def set_compressed(self, enabled: bool) -> None:
        """Read the radial weights from the tables :meth:`compress` made (engines) or run
        the radial networks (training; the tables have no second derivative)."""
        if enabled:
            for layer in self.layers:
                if layer.radial_table.coeffs.shape[2] == 0:
                    raise ValueError("polmlip: this model has no radial tables (compress it)")
        self.compressed = enabled
        for layer in self.layers:
            layer.compressed = enabled

    @torch.jit.unused
    def compress(self, r_lo: float, tolerance: float) -> List[float]:
        """Tabulate every layer's radial network on [r_lo, cutoff] Å (float64, to the
        relative ``tolerance``, :mod:`polmlip.nn.radial_table`) and switch the tables on;
        returns each layer's measured relative error."""
        dtype = self.basis.freq.dtype
        errors = []
        for layer in self.layers:
            basis = copy.deepcopy(self.basis).double()
            envelope = self.envelope
            radial = copy.deepcopy(layer.radial).double()

            def fn(r, basis=basis, envelope=envelope, radial=radial):
                return radial(basis(r) * envelope(r)[:, None])

            errors.append(tabulate(layer.radial_table, fn, r_lo, self.basis.cutoff, tolerance))
            layer.radial_table.coeffs = layer.radial_table.coeffs.to(dtype)
        self.set_compressed(True)
        return errors

    #: keys read from and written to the data dict
    inputs = (keys.SPECIES, keys.EDGE_VECTORS, keys.EDGE_INDEX, keys.NUM_LOCAL, keys.POSITIONS)
    outputs = (keys.NODE_FEATURES,)

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """species (N,), edge vectors r_j − r_i (E, 3) Å, edge_index (2, E) with local
        receivers → features h (N, irreps_out) of local and ghost atoms.

        Each layer computes new features of the local atoms only (messages from local and
        ghost senders within one cutoff); ``polmlip::halo`` then gives every ghost row its
        owner's features, from this process or another, before the next layer and before
        the heads. The first layer's input (the species embedding) needs no exchange.
        Without ghosts the exchange is the identity.
        """
        # the network's own precision (float32 in a mixed-precision export); geometry and
        # long range stay in the dtype of the positions
        vectors = data[keys.EDGE_VECTORS].to(self.embedding.weight.dtype)
        edge_index = data[keys.EDGE_INDEX]
        n_local = int(data[keys.POSITIONS].shape[0])
        if keys.NUM_LOCAL in data:
            n_local = int(data[keys.NUM_LOCAL][0])
        r = torch.linalg.norm(vectors, dim=-1)
        edge_sh = self.sh(vectors)
        if self.compressed:
            edge_basis = r[:, None]  # unused: the layers read their tables
        else:
            edge_basis = self.basis(r) * self.envelope(r)[:, None]
        species = data[keys.SPECIES]
        h = self.embedding(species).to(vectors.dtype)
        n = h.shape[0]
        engine_frame = keys.NUM_LOCAL in data
        for layer in self.layers:
            new = layer(h, species, edge_index, edge_sh, edge_basis, r, n_local)
            if engine_frame:
                # every engine frame exchanges (a collective in a domain-decomposed engine,
                # also on a rank without atoms); training frames have no ghosts
                ghosts = new.new_zeros((n - n_local, new.shape[1]))
                new = torch.ops.polmlip.halo(torch.cat([new, ghosts]), n_local)
            h = new
        data[keys.NODE_FEATURES] = h
        return data
