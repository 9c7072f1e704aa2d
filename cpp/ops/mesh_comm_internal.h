// Shared pieces of the distributed-mesh operators (mesh_comm.cpp: the communicator and the
// layout; mesh_fft.cpp: the distributed FFTs; mesh_slabs.cpp: bricks <-> slabs). Internal to
// libpolmlip_ops; engines use mesh_comm.h.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace polmlip {
namespace mesh {

struct RankSize {
  int64_t rank = 0;
  int64_t size = 1;
};

// This process and the number of processes of the installed MeshComm (0 of 1 without one).
RankSize rank_size();

// The all-to-all of float64 values (send: 1-D, contiguous, on the CPU). In one process the
// received values are the sent ones. Counts the bytes sent to other processes.
torch::Tensor exchange(const torch::Tensor &send, const std::vector<int64_t> &send_counts,
                       std::vector<int64_t> &recv_counts);

// Keep the largest number of mesh points one process held at once (mesh_points_held).
void record_points_held(int64_t points);

struct Part {
  int64_t lo = 0, hi = 0;
  int64_t n() const { return hi - lo; }
};

// The planes [floor(r K / P), floor((r + 1) K / P)) of an axis of K planes.
inline Part part(int64_t r, int64_t K, int64_t P) { return {r * K / P, (r + 1) * K / P}; }

using Shape = std::vector<int64_t>;

Shape check_mesh(c10::IntArrayRef mesh_shape, const char *op);
void check_real(const torch::Tensor &t, const char *op);
inline int64_t half(const Shape &K) { return K[2] / 2 + 1; }
std::string shape_text(c10::IntArrayRef s);

// Transfer form of a tensor: float64 on the CPU, contiguous (complex as (..., 2) pairs).
torch::Tensor to_wire(const torch::Tensor &x);
// Back from the transfer form to the dtype and device of `like`.
torch::Tensor from_wire(const torch::Tensor &t, const torch::Tensor &like);

}  // namespace mesh
}  // namespace polmlip
