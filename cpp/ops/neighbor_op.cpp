// polmlip::neighbor_pairs: the cell-list neighbour search of cpp/core as a TorchScript operator,
// so that exported files following openmm-torch's convention carry their own neighbour list.
//
//   neighbor_pairs(positions (N,3) Å, cell (3,3) Å rows, periodic, cutoff Å)
//       -> (edge_index (2,E) int64, shifts (E,3) int64), r_ij = r_j - r_i + shifts . cell
#include <torch/library.h>
#include <torch/torch.h>

#include <cstring>
#include <stdexcept>

#include "neighbor_op.h"

namespace polmlip {

std::tuple<torch::Tensor, torch::Tensor> pairs_to_tensors(const PairList &list) {
  const int64_t e = static_cast<int64_t>(list.first.size());
  auto opts = torch::TensorOptions().dtype(torch::kInt64);
  auto index = torch::empty({2, e}, opts);
  auto shifts = torch::empty({e, 3}, opts);
  if (e > 0) {
    std::memcpy(index[0].data_ptr<int64_t>(), list.first.data(), e * sizeof(int64_t));
    std::memcpy(index[1].data_ptr<int64_t>(), list.second.data(), e * sizeof(int64_t));
    std::memcpy(shifts.data_ptr<int64_t>(), list.shift.data(), 3 * e * sizeof(int64_t));
  }
  return {index, shifts};
}

namespace {

std::tuple<torch::Tensor, torch::Tensor> neighbor_pairs_op(const torch::Tensor &positions,
                                                           const torch::Tensor &cell,
                                                           bool periodic, double cutoff) {
  TORCH_CHECK(positions.dim() == 2 && positions.size(1) == 3,
              "polmlip: neighbor_pairs needs positions of shape (N, 3)");
  TORCH_CHECK(cell.numel() == 9, "polmlip: neighbor_pairs needs a (3, 3) cell");
  auto pos = positions.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  auto c = cell.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  std::array<double, 9> m;
  std::memcpy(m.data(), c.data_ptr<double>(), 9 * sizeof(double));
  PairList list;
  try {
    list = neighbor_pairs(pos.data_ptr<double>(), pos.size(0), m, periodic, cutoff);
  } catch (const std::invalid_argument &e) {
    TORCH_CHECK(false, "polmlip: ", e.what());
  }
  auto [index, shifts] = pairs_to_tensors(list);
  return {index.to(positions.device()), shifts.to(positions.device())};
}

}  // namespace

}  // namespace polmlip

TORCH_LIBRARY_FRAGMENT(polmlip, m) {
  m.def("neighbor_pairs(Tensor positions, Tensor cell, bool periodic, float cutoff) -> "
        "(Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(polmlip, CompositeExplicitAutograd, m) {
  m.impl("neighbor_pairs", &polmlip::neighbor_pairs_op);
}
