// Plain (non-autograd) CPU kernels for spreading onto and gathering from a periodic mesh.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace polmlip {

// mesh[g] = sum_n sum_c coeff[n, c] * d^c W_n(g); coeff (N, C), C = num_components(k).
torch::Tensor spread_kernel(const torch::Tensor &u, const torch::Tensor &coeff,
                            const std::vector<int64_t> &shape, int64_t order);

// out[n, c] = sum_g mesh[g] * d^c W_n(g) for all components of degree <= k.
torch::Tensor gather_kernel(const torch::Tensor &mesh, const torch::Tensor &u, int64_t order,
                            int64_t k);

}  // namespace polmlip
