// CPU kernels of the mesh operators: B-spline spreading and gathering of derivatives.
#include "mesh_kernels.h"

#include <ATen/Parallel.h>

#include <cmath>

#include "bspline.h"
#include "components.h"
#ifdef POLMLIP_WITH_CUDA
#include "mesh_kernels_cuda.h"
#endif

namespace polmlip {

namespace {

template <typename scalar_t>
struct Stencil {
  std::array<std::array<std::array<scalar_t, kMaxOrder>, kMaxDeriv + 1>, 3> table;
  std::array<std::array<int64_t, kMaxOrder>, 3> index;
};

template <typename scalar_t>
void make_stencil(const scalar_t *u, const std::vector<int64_t> &shape, int order, int nderiv,
                  Stencil<scalar_t> &st) {
  for (int d = 0; d < 3; ++d) {
    const scalar_t base = std::floor(u[d]);
    bspline_table<scalar_t>(u[d] - base, order, nderiv, st.table[d]);
    const int64_t b = static_cast<int64_t>(base);
    for (int j = 0; j < order; ++j) {
      int64_t g = (b - j) % shape[d];
      if (g < 0) g += shape[d];
      st.index[d][j] = g;
    }
  }
}

#ifdef POLMLIP_WITH_CUDA
cuda::ComponentTable component_table() {
  cuda::ComponentTable t{};
  const auto &orders = component_orders();
  for (size_t c = 0; c < orders.size() && c < 56; ++c)
    for (int d = 0; d < 3; ++d) t.o[c][d] = orders[c][d];
  return t;
}
#endif

void check_device(const torch::Tensor &t) {
#ifndef POLMLIP_WITH_CUDA
  TORCH_CHECK(t.device().is_cpu(), "polmlip: the mesh operators were built without CUDA "
              "kernels (no nvcc at build time); rebuild with nvcc or use device cpu");
#else
  TORCH_CHECK(t.device().is_cpu() || t.device().is_cuda(),
              "polmlip: the mesh operators run on CPU or CUDA tensors");
#endif
}

void check_inputs(const torch::Tensor &u, int64_t order) {
  check_device(u);
  TORCH_CHECK(u.dim() == 2 && u.size(1) == 3, "polmlip: mesh coordinates must be (N, 3)");
  TORCH_CHECK(order >= 2 && order <= kMaxOrder, "polmlip: B-spline order must be 2..",
              kMaxOrder);
}

}  // namespace

torch::Tensor spread_kernel(const torch::Tensor &u_in, const torch::Tensor &coeff_in,
                            const std::vector<int64_t> &shape, int64_t order) {
  check_inputs(u_in, order);
  TORCH_CHECK(shape.size() == 3, "polmlip: mesh shape must have 3 entries");
  const auto u = u_in.contiguous();
  const auto coeff = coeff_in.contiguous();
  const int k = degree_for(coeff.size(1));
  const int64_t n = u.size(0), ncomp = coeff.size(1);
  auto mesh = torch::zeros({shape[0], shape[1], shape[2]}, coeff.options());
#ifdef POLMLIP_WITH_CUDA
  if (u.is_cuda()) {
    TORCH_CHECK(coeff.device() == u.device(), "polmlip: spread inputs on different devices");
    const cuda::MeshShape ms{{shape[0], shape[1], shape[2]}};
    AT_DISPATCH_FLOATING_TYPES(coeff.scalar_type(), "polmlip_spread_cuda", [&] {
      cuda::spread_launch<scalar_t>(u.data_ptr<scalar_t>(), coeff.data_ptr<scalar_t>(),
                                    mesh.data_ptr<scalar_t>(), n, static_cast<int>(ncomp),
                                    static_cast<int>(order), k, ms, component_table());
    });
    return mesh;
  }
#endif
  const auto &orders = component_orders();
  AT_DISPATCH_FLOATING_TYPES(coeff.scalar_type(), "polmlip_spread", [&] {
    const scalar_t *up = u.data_ptr<scalar_t>();
    const scalar_t *cp = coeff.data_ptr<scalar_t>();
    scalar_t *mp = mesh.data_ptr<scalar_t>();
    Stencil<scalar_t> st;
    std::vector<scalar_t> w(order * order * order);
    for (int64_t s = 0; s < n; ++s) {
      make_stencil<scalar_t>(up + 3 * s, shape, order, k, st);
      std::fill(w.begin(), w.end(), scalar_t(0));
      for (int64_t c = 0; c < ncomp; ++c) {
        const scalar_t q = cp[s * ncomp + c];
        if (q == scalar_t(0)) continue;
        const auto &o = orders[c];
        for (int i = 0; i < order; ++i) {
          const scalar_t wi = q * st.table[0][o[0]][i];
          for (int j = 0; j < order; ++j) {
            const scalar_t wij = wi * st.table[1][o[1]][j];
            for (int l = 0; l < order; ++l) w[(i * order + j) * order + l] += wij * st.table[2][o[2]][l];
          }
        }
      }
      for (int i = 0; i < order; ++i)
        for (int j = 0; j < order; ++j) {
          const int64_t row = (st.index[0][i] * shape[1] + st.index[1][j]) * shape[2];
          for (int l = 0; l < order; ++l) mp[row + st.index[2][l]] += w[(i * order + j) * order + l];
        }
    }
  });
  return mesh;
}

torch::Tensor gather_kernel(const torch::Tensor &mesh_in, const torch::Tensor &u_in,
                            int64_t order, int64_t k) {
  check_inputs(u_in, order);
  TORCH_CHECK(mesh_in.dim() == 3, "polmlip: mesh must be 3-dimensional");
  TORCH_CHECK(k >= 0 && k <= kMaxDeriv, "polmlip: derivative degree must be 0..", kMaxDeriv);
  const auto u = u_in.contiguous();
  const auto mesh = mesh_in.contiguous();
  const std::vector<int64_t> shape = {mesh.size(0), mesh.size(1), mesh.size(2)};
  const int64_t n = u.size(0), ncomp = num_components(static_cast<int>(k));
  auto out = torch::zeros({n, ncomp}, mesh.options());
#ifdef POLMLIP_WITH_CUDA
  if (u.is_cuda()) {
    TORCH_CHECK(mesh.device() == u.device(), "polmlip: gather inputs on different devices");
    const cuda::MeshShape ms{{shape[0], shape[1], shape[2]}};
    AT_DISPATCH_FLOATING_TYPES(mesh.scalar_type(), "polmlip_gather_cuda", [&] {
      cuda::gather_launch<scalar_t>(mesh.data_ptr<scalar_t>(), u.data_ptr<scalar_t>(),
                                    out.data_ptr<scalar_t>(), n, static_cast<int>(ncomp),
                                    static_cast<int>(order), static_cast<int>(k), ms,
                                    component_table());
    });
    return out;
  }
#endif
  const auto &orders = component_orders();
  AT_DISPATCH_FLOATING_TYPES(mesh.scalar_type(), "polmlip_gather", [&] {
    const scalar_t *up = u.data_ptr<scalar_t>();
    const scalar_t *mp = mesh.data_ptr<scalar_t>();
    scalar_t *op = out.data_ptr<scalar_t>();
    at::parallel_for(0, n, 64, [&](int64_t begin, int64_t end) {
      Stencil<scalar_t> st;
      std::vector<scalar_t> local(order * order * order);
      for (int64_t s = begin; s < end; ++s) {
        make_stencil<scalar_t>(up + 3 * s, shape, order, static_cast<int>(k), st);
        for (int i = 0; i < order; ++i)
          for (int j = 0; j < order; ++j) {
            const int64_t row = (st.index[0][i] * shape[1] + st.index[1][j]) * shape[2];
            for (int l = 0; l < order; ++l) local[(i * order + j) * order + l] = mp[row + st.index[2][l]];
          }
        for (int64_t c = 0; c < ncomp; ++c) {
          const auto &o = orders[c];
          scalar_t acc = 0;
          for (int i = 0; i < order; ++i) {
            scalar_t acc_j = 0;
            for (int j = 0; j < order; ++j) {
              scalar_t acc_l = 0;
              for (int l = 0; l < order; ++l)
                acc_l += local[(i * order + j) * order + l] * st.table[2][o[2]][l];
              acc_j += acc_l * st.table[1][o[1]][j];
            }
            acc += acc_j * st.table[0][o[0]][i];
          }
          op[s * ncomp + c] = acc;
        }
      }
    });
  });
  return out;
}

}  // namespace polmlip
