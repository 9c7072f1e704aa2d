// The engines' fast path of the message passing (radial_spline.cpp, tp_conv.cpp).
#pragma once

#include <torch/torch.h>

namespace polmlip {

// polmlip::radial_spline: r (E,) -> weights (E, W) from coeffs (n, D, W) (radial_table.h).
torch::Tensor radial_spline(const torch::Tensor &r, const torch::Tensor &coeffs, double r_lo,
                            double inv_h);

// Refuse a table and edge lengths that radial_spline cannot read, with a clear message.
void check_table(const torch::Tensor &r, const torch::Tensor &coeffs, double inv_h);

}  // namespace polmlip
