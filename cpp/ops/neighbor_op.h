// polmlip::neighbor_pairs as tensors, for C++ callers (the OpenMM plugin) and the operator.
#pragma once

#include <torch/torch.h>

#include <tuple>

#include "../core/neighbor_list.h"

namespace polmlip {

// (edge_index (2, E) int64, shifts (E, 3) int64) on the CPU from a PairList.
std::tuple<torch::Tensor, torch::Tensor> pairs_to_tensors(const PairList &list);

}  // namespace polmlip
