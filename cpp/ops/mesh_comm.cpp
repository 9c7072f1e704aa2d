// The distributed-mesh operators of polmlip (see mesh_comm.h): the communicator, the layout
// and the operator schemas. The distributed rfftn / irfftn over x-slabs and y-slabs are in
// mesh_fft.cpp, the redistribution of bricks into slabs and back in mesh_slabs.cpp.
//
// Only the data movements are custom autograd Functions (the all-to-all transposes and the
// brick <-> slab redistribution). Each one's backward is the opposite movement (its adjoint),
// applied through the other Function, so double backward is defined too. The local FFTs are
// torch ops, so torch autograd differentiates them: the gradients are those of
// torch::fft::rfftn / irfftn of the whole mesh.
//
// Everything that travels is float64 (complex values as (re, im) pairs, view_as_real);
// float32 / complex64 tensors are converted for the transfer and back. Tensors on another
// device are moved to the CPU for the transfer and back; the local FFTs run where the tensor is.
//
// Without a MeshComm (or with one of size 1) the same code runs in one process, the exchange
// being the identity: rfftn, irfftn, a periodic wrap-sum and wrap-gather.
#include "mesh_comm.h"

#include <torch/library.h>

#include <algorithm>
#include <mutex>
#include <string>

#include "comm_hooks.h"
#include "mesh_comm_internal.h"

namespace polmlip {

namespace {



}  // namespace

namespace mesh {

// the all-to-all of the engine instance whose model runs (comm_hooks.h)
RankSize rank_size() {
  std::lock_guard<std::recursive_mutex> lock(comm_hooks_mutex());
  const MeshComm &comm = current_comm_hooks().mesh;
  if (!comm.alltoallv) return {};
  return {comm.rank, comm.size};
}

torch::Tensor exchange(const torch::Tensor &send, const std::vector<int64_t> &send_counts,
                       std::vector<int64_t> &recv_counts) {
  std::lock_guard<std::recursive_mutex> lock(comm_hooks_mutex());
  CommHooks &hooks = current_comm_hooks();
  const MeshComm &comm = hooks.mesh;
  if (!comm.alltoallv || comm.size == 1) {
    recv_counts = send_counts;
    return send;
  }
  TORCH_CHECK((int64_t) send_counts.size() == comm.size,
              "polmlip: mesh all-to-all with ", send_counts.size(), " counts for ", comm.size,
              " processes");
  for (int64_t p = 0; p < comm.size; p++)
    if (p != comm.rank) hooks.mesh_bytes_sent += send_counts[p] * (int64_t) sizeof(double);
  recv_counts.assign(comm.size, 0);
  torch::Tensor recv = comm.alltoallv(send, send_counts, recv_counts);
  int64_t total = 0;
  for (int64_t c : recv_counts) total += c;
  TORCH_CHECK((int64_t) recv_counts.size() == comm.size && recv.dim() == 1 &&
                  recv.numel() == total && recv.scalar_type() == torch::kFloat64,
              "polmlip: the installed MeshComm::alltoallv returned an inconsistent buffer");
  return recv.contiguous();
}

// ---- layout ----

void record_points_held(int64_t points) {
  std::lock_guard<std::recursive_mutex> lock(comm_hooks_mutex());
  CommHooks &hooks = current_comm_hooks();
  hooks.mesh_points_held = std::max(hooks.mesh_points_held, points);
}

Shape check_mesh(c10::IntArrayRef mesh_shape, const char *op) {
  TORCH_CHECK(mesh_shape.size() == 3, "polmlip: ", op, ": mesh_shape must have 3 entries, got ",
              mesh_shape.size());
  for (int64_t k : mesh_shape)
    TORCH_CHECK(k >= 1, "polmlip: ", op, ": mesh_shape entries must be positive, got ",
                mesh_shape);
  return mesh_shape.vec();
}

void check_real(const torch::Tensor &t, const char *op) {
  TORCH_CHECK(t.scalar_type() == torch::kDouble || t.scalar_type() == torch::kFloat,
              "polmlip: ", op, " needs a float64 (or float32) tensor, got ", t.scalar_type());
}

std::string shape_text(c10::IntArrayRef s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); i++) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + ")";
}

torch::Tensor to_wire(const torch::Tensor &x) {
  torch::Tensor t = x.detach().to(torch::kCPU);
  if (t.is_complex()) t = torch::view_as_real(t.contiguous());
  return t.to(torch::kFloat64).contiguous();
}

torch::Tensor from_wire(const torch::Tensor &t, const torch::Tensor &like) {
  if (like.is_complex()) {
    const auto real_type = like.scalar_type() == torch::kComplexFloat ? torch::kFloat
                                                                      : torch::kDouble;
    return torch::view_as_complex(t.to(real_type).contiguous()).to(like.device());
  }
  return t.to(like.device(), like.scalar_type());
}

// ---- the all-to-all transposes of the partial spectrum ----

}  // namespace mesh

namespace {

using namespace mesh;

std::vector<int64_t> mesh_layout_op(c10::IntArrayRef mesh_shape) {
  const Shape K = check_mesh(mesh_shape, "mesh_layout");
  const RankSize rs = rank_size();
  const Part x = part(rs.rank, K[0], rs.size), y = part(rs.rank, K[1], rs.size);
  return {x.lo, x.hi, y.lo, y.hi, rs.rank, rs.size};
}

}  // namespace

void set_mesh_comm(MeshComm comm) {
  if (comm.alltoallv)
    TORCH_CHECK(comm.size >= 1 && comm.rank >= 0 && comm.rank < comm.size,
                "polmlip: set_mesh_comm: rank ", comm.rank, " of ", comm.size);
  std::lock_guard<std::recursive_mutex> lock(comm_hooks_mutex());
  CommHooks &hooks = current_comm_hooks();
  hooks.mesh = std::move(comm);
  hooks.mesh_bytes_sent = 0;
  hooks.mesh_points_held = 0;
}

void reset_mesh_counts() {
  std::lock_guard<std::recursive_mutex> lock(comm_hooks_mutex());
  current_comm_hooks().mesh_bytes_sent = 0;
  current_comm_hooks().mesh_points_held = 0;
}

int64_t mesh_points_held() {
  std::lock_guard<std::recursive_mutex> lock(comm_hooks_mutex());
  return current_comm_hooks().mesh_points_held;
}

int64_t mesh_bytes_sent() {
  std::lock_guard<std::recursive_mutex> lock(comm_hooks_mutex());
  return current_comm_hooks().mesh_bytes_sent;
}

}  // namespace polmlip

TORCH_LIBRARY_FRAGMENT(polmlip, m) {
  m.def("mesh_layout(int[] mesh_shape) -> int[]");
  m.def("dist_rfftn(Tensor slab, int[] mesh_shape) -> Tensor");
  m.def("dist_irfftn(Tensor kslab, int[] mesh_shape) -> Tensor");
  m.def("mesh_to_slabs(Tensor brick, int[] lo, int[] mesh_shape) -> Tensor");
  m.def("slabs_to_mesh(Tensor slab, int[] lo, int[] brick_shape, int[] mesh_shape) -> Tensor");
}

TORCH_LIBRARY_IMPL(polmlip, CompositeImplicitAutograd, m) {
  m.impl("mesh_layout", &polmlip::mesh_layout_op);
}
