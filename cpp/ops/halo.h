// The halo seam of polmlip: polmlip::halo(x, n_local) gives every ghost row of a per-atom
// tensor its owner's row.
//
// Rows [0, n_local) of x belong to local atoms, rows [n_local, N) to ghost atoms (images of
// atoms owned here or by other processes). Forward copies each owner's row into its ghost
// rows; backward adds the ghost rows' gradients into their owners and zeroes the ghost rows
// (the adjoint), so features computed on one process flow into the message passing of its
// neighbours and their gradients flow back inside autograd.
//
// Who provides the ghost map:
//   * an engine that decomposes the domain (the LAMMPS plugin) installs a HaloExchange that
//     communicates (forward_comm / reverse_comm);
//   * in one process, set_halo_owners(owner) installs a local map (owner[j]: the local row
//     whose copy ghost row j is), for engines with explicit periodic images and for tests;
//   * with neither, a frame without ghosts passes through unchanged and a frame with ghosts
//     is refused (its ghost rows would hold partial values: a silent wrong answer).
#pragma once

#include <torch/torch.h>

#include <functional>

namespace polmlip {

// The exchange gets the rows where the model keeps them: on the model's device and in the
// network's dtype (float32 in a mixed-precision export, float64 otherwise). It moves them as
// it can (host buffers, staged copies of device rows, or device buffers with CUDA-aware MPI)
// and writes the result into the same tensor; nothing here converts or copies to the host.
struct HaloExchange {
  // x (N, k), contiguous, float32 or float64, on any device: set the ghost rows [n_local, N)
  // from their owners.
  std::function<void(torch::Tensor &x, int64_t n_local)> forward;
  // g (N, k) likewise: add the ghost rows into their owners (on any process), zero them.
  std::function<void(torch::Tensor &g, int64_t n_local)> reverse;
};

// Install (or, with empty functions, remove) the exchange of a domain-decomposing engine.
void set_halo_exchange(HaloExchange exchange);

// Number of polmlip::halo calls (forward and backward) since the exchange was installed;
// engines log it to show the share of a step spent in exchanges.
int64_t halo_calls();

}  // namespace polmlip
