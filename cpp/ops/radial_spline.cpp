// polmlip::radial_spline: the radial weights of a message-passing layer read from a table.
//
//   w[e, :] = sum_d c_d t^d,   c = coeffs[k],  k = floor((r[e] - r_lo) inv_h),
//   t = (r[e] - r_lo) inv_h - k,  k clamped to [0, n - 1] (t then extrapolates the end piece)
//
// coeffs (n, D, W) are polynomial pieces of degree D - 1 (quintic Hermite pieces of the
// radial network, D = 6) on a uniform grid
// (python/polmlip/nn/radial_table.py builds them, and its reference evaluates the same
// polynomial with PyTorch operations). The backward gives d/dr only (the table is constant);
// it is not differentiable again, like polmlip::tp_conv (the engines' fast path).
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "fast_path.h"
#include "radial_table.h"

namespace polmlip {

namespace {

using torch::Tensor;

template <typename T>
void spline_forward(const T *r, const T *c, int64_t n_edges, const TableShape &shape, T *out) {
  at::parallel_for(0, n_edges, 256, [&](int64_t begin, int64_t end) {
    for (int64_t e = begin; e < end; ++e) table_values(c, shape, r[e], out + e * shape.width);
  });
}

template <typename T>
void spline_backward(const T *r, const T *c, const T *g, int64_t n_edges,
                     const TableShape &shape, T *gr) {
  at::parallel_for(0, n_edges, 256, [&](int64_t begin, int64_t end) {
    std::vector<T> slope(shape.width);
    for (int64_t e = begin; e < end; ++e) {
      table_slopes(c, shape, r[e], slope.data());
      const T *ge = g + e * shape.width;
      T acc = 0;
#pragma omp simd reduction(+ : acc)
      for (int64_t w = 0; w < shape.width; ++w) acc += ge[w] * slope[w];
      gr[e] = acc;
    }
  });
}

TableShape shape_of(const Tensor &coeffs, double r_lo, double inv_h) {
  TableShape s;
  s.pieces = coeffs.size(0);
  s.degree = coeffs.size(1);
  s.width = coeffs.size(2);
  s.r_lo = r_lo;
  s.inv_h = inv_h;
  return s;
}

}  // namespace

void check_table(const Tensor &r, const Tensor &coeffs, double inv_h) {
  TORCH_CHECK(r.dim() == 1, "polmlip::radial_spline: r must be (E,)");
  TORCH_CHECK(coeffs.dim() == 3 && coeffs.size(1) >= 2 && coeffs.size(0) >= 1,
              "polmlip::radial_spline: coeffs must be (n, D, W): n >= 1 pieces of D >= 2 "
              "polynomial coefficients");
  TORCH_CHECK(r.scalar_type() == coeffs.scalar_type(),
              "polmlip::radial_spline: r and coeffs must have one dtype");
  TORCH_CHECK(r.device() == coeffs.device(), "polmlip::radial_spline: r and coeffs must be on "
              "one device");
  TORCH_CHECK(!coeffs.requires_grad(), "polmlip::radial_spline: the table is a constant (a "
              "compressed model is for inference; train the uncompressed one)");
  TORCH_CHECK(inv_h > 0.0 && std::isfinite(inv_h),
              "polmlip::radial_spline: inv_h must be a positive, finite 1/spacing");
}

namespace {

// Any device: the same polynomial with ATen operations (differentiable to any order).
Tensor spline_composite(const Tensor &r, const Tensor &coeffs, double r_lo, double inv_h) {
  const int64_t n = coeffs.size(0);
  const Tensor x = (r - r_lo) * inv_h;
  const Tensor k = x.detach().floor().clamp(0, n - 1);
  const Tensor t = (x - k).unsqueeze(1);
  const Tensor c = coeffs.index_select(0, k.to(torch::kLong));
  Tensor out = c.select(1, coeffs.size(1) - 1);
  for (int64_t d = coeffs.size(1) - 2; d >= 0; --d) out = c.select(1, d) + t * out;
  return out;
}

class RadialSplineFunction : public torch::autograd::Function<RadialSplineFunction> {
 public:
  static Tensor forward(torch::autograd::AutogradContext *ctx, const Tensor &r,
                        const Tensor &coeffs, double r_lo, double inv_h) {
    const Tensor rc = r.contiguous(), cc = coeffs.contiguous();
    ctx->save_for_backward({rc, cc});
    ctx->saved_data["r_lo"] = r_lo;
    ctx->saved_data["inv_h"] = inv_h;
    Tensor out = torch::empty({rc.size(0), cc.size(2)}, r.options());
    AT_DISPATCH_FLOATING_TYPES(r.scalar_type(), "polmlip::radial_spline", [&] {
      spline_forward<scalar_t>(rc.data_ptr<scalar_t>(), cc.data_ptr<scalar_t>(), rc.size(0),
                               shape_of(cc, r_lo, inv_h), out.data_ptr<scalar_t>());
    });
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::variable_list grads) {
    TORCH_CHECK(!torch::GradMode::is_enabled(),
                "polmlip::radial_spline has no second derivative: it is the engines' fast "
                "path; training on forces runs the radial network (an uncompressed model)");
    const auto saved = ctx->get_saved_variables();
    const Tensor &r = saved[0], &c = saved[1];
    const double r_lo = ctx->saved_data["r_lo"].toDouble();
    const double inv_h = ctx->saved_data["inv_h"].toDouble();
    const Tensor g = grads[0].contiguous().to(r.scalar_type());
    Tensor gr = torch::empty_like(r);
    AT_DISPATCH_FLOATING_TYPES(r.scalar_type(), "polmlip::radial_spline_backward", [&] {
      spline_backward<scalar_t>(r.data_ptr<scalar_t>(), c.data_ptr<scalar_t>(),
                                g.data_ptr<scalar_t>(), r.size(0), shape_of(c, r_lo, inv_h),
                                gr.data_ptr<scalar_t>());
    });
    return {gr, Tensor(), Tensor(), Tensor()};
  }
};

}  // namespace

Tensor radial_spline(const Tensor &r, const Tensor &coeffs, double r_lo, double inv_h) {
  check_table(r, coeffs, inv_h);
  if (!r.device().is_cpu()) return spline_composite(r, coeffs, r_lo, inv_h);
  return RadialSplineFunction::apply(r, coeffs, r_lo, inv_h);
}

}  // namespace polmlip

TORCH_LIBRARY_FRAGMENT(polmlip, m) {
  m.def("radial_spline(Tensor r, Tensor coeffs, float r_lo, float inv_h) -> Tensor");
}

TORCH_LIBRARY_IMPL(polmlip, CompositeImplicitAutograd, m) {
  m.impl("radial_spline", &polmlip::radial_spline);
}
