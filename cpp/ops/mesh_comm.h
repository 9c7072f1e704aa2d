// The distributed-mesh seam of polmlip: the PME mesh decomposed over processes.
//
// Layout (P processes, rank r, mesh K0 x K1 x K2, half spectrum K2h = K2 / 2 + 1):
//   * real space: rank r owns the planes [x_lo(r), x_hi(r)) of mesh axis 0, with
//     x_lo(r) = floor(r * K0 / P): a slab (n0, K1, K2), n0 = x_hi - x_lo, possibly 0;
//   * k space: rank r owns the indices [y_lo(r), y_hi(r)) of axis 1 of the rfft half
//     spectrum, y_lo(r) = floor(r * K1 / P): a slab (K0, n1, K2h) complex.
//
// Operators (TORCH_LIBRARY polmlip; each differentiable, backward the adjoint, and double
// backward defined because each backward is itself built of these operators):
//   mesh_layout(int[] mesh_shape) -> int[]            [x_lo, x_hi, y_lo, y_hi, rank, size]
//   dist_rfftn(Tensor slab, int[] mesh_shape) -> Tensor        real x-slab -> complex y-slab
//   dist_irfftn(Tensor kslab, int[] mesh_shape) -> Tensor      complex y-slab -> real x-slab
//   mesh_to_slabs(Tensor brick, int[] lo, int[] mesh_shape) -> Tensor
//       brick (b0, b1, b2) covering global mesh indices lo + [0, b) (unwrapped; any lo, any
//       size, even larger than the mesh): every cell is added, at its index modulo the mesh,
//       into the x-slab of its owner. Returns this rank's x-slab (n0, K1, K2).
//   slabs_to_mesh(Tensor slab, int[] lo, int[] brick_shape, int[] mesh_shape) -> Tensor
//       the adjoint: every brick cell gets the value of its (wrapped) owner cell.
//
// In one process (no hook installed) these are rfftn, irfftn and a periodic wrap-sum /
// wrap-gather, so Python training, ASE and OpenMM run the same model code. An engine that
// decomposes the domain installs a MeshComm (the LAMMPS plugin, with MPI_Alltoall(v) over its
// communicator; see mpi_mesh_comm.h). The library itself does not link MPI.
//
// Implementation notes (mesh_comm.cpp):
//   * every operator is collective: all processes call it, in the same order, with the same
//     mesh_shape (also those that own no planes, or have an empty brick);
//   * communication per call: dist_rfftn / dist_irfftn one alltoallv (the transpose between
//     x-slabs and y-slabs), mesh_to_slabs one (each block starts with a 6-value header, the
//     sender's folded brick: lo and shape), slabs_to_mesh two (the headers ask the owners,
//     then the owners answer; an owner does not know the other processes' bricks);
//   * a brick longer than the mesh along an axis is first summed modulo the mesh along it, so
//     no cell travels twice; memory is O(brick + slab) on every process, never O(mesh);
//   * float64 / complex128 are the production dtypes; float32 / complex64 are accepted (sent
//     as float64). Tensors on another device are moved to the CPU for the transfer and back.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace polmlip {

struct MeshComm {
  int rank = 0;
  int size = 1;
  // All-to-all of float64 buffers: send is 1-D contiguous, send_counts[p] values (in order of
  // p) go to process p; returns the received values concatenated by source process, and fills
  // recv_counts[p].
  std::function<torch::Tensor(const torch::Tensor &send, const std::vector<int64_t> &send_counts,
                              std::vector<int64_t> &recv_counts)>
      alltoallv;
};

// Install (or, with an empty MeshComm, remove) the communicator of a decomposing engine.
void set_mesh_comm(MeshComm comm);

// Bytes this process sent through the mesh communicator to other processes (not to itself)
// since it was installed (benchmarks).
int64_t mesh_bytes_sent();

// The most mesh points this process held at once (its brick plus its x-slab, in one
// mesh_to_slabs call) since the communicator was installed (benchmarks).
int64_t mesh_points_held();

// Restart both counts (an engine's next run).
void reset_mesh_counts();

}  // namespace polmlip
