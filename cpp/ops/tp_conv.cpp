// polmlip::tp_conv: one message-passing convolution fused into one operator (inference path).
//
//   out[r] = sum over edges e = (r <- s) of TP(x[s], sh[e]; weight[e])
//
// with TP the depthwise ("uvu") tensor product of e3nn, described by a plan of paths and
// Clebsch-Gordan entries (python/polmlip/nn/fused.py builds it from an e3nn TensorProduct;
// python/polmlip/conv_reference.py is the PyTorch reference with the same semantics):
//   paths: 8 ints per path: x_off, d1, sh_off, d2, out_off, d3, w_off, mul
//   entries: 4 ints per entry: path, m1, m2, m3 (sorted by path)
//   coeffs: one float per entry (Clebsch-Gordan value times the path's normalisation)
// Features are stored component-major inside each path's block: element (u, m) of a block at
// offset `off` sits at off + m * mul + u, so the channel loop is contiguous. Then
//   out[r, out_off + m3 mul + u] += c sh[e, sh_off + m2] w[e, w_off + u] x[s, x_off + m1 mul + u].
// The per-edge messages are never stored: edges are visited grouped by receiver.
//
// The backward is analytic (gradients of x, sh and weight in one pass over the edges). It is
// not differentiable again: the fast path serves engines, which need one derivative (forces,
// stress, Born charges); training on forces keeps e3nn's path. A second derivative through
// this operator is refused with a clear error instead of silently dropping terms.
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/torch.h>

#include <algorithm>
#include <type_traits>
#include <vector>

namespace polmlip {

namespace {

using torch::Tensor;

struct Plan {
  int64_t n_paths = 0;
  std::vector<int64_t> path;  // 8 per path
  std::vector<int64_t> start;  // entries of path p: [start[p], start[p + 1])
  std::vector<int64_t> m1, m2, m3;
  std::vector<double> coeff;
  int64_t max_block = 0;  // largest d1 * mul
};

Plan read_plan(c10::IntArrayRef paths, c10::IntArrayRef entries, c10::ArrayRef<double> coeffs,
               int64_t x_dim, int64_t sh_dim, int64_t w_dim, int64_t out_dim) {
  TORCH_CHECK(paths.size() % 8 == 0, "polmlip::tp_conv: paths must hold 8 ints per path");
  TORCH_CHECK(entries.size() % 4 == 0 && coeffs.size() * 4 == entries.size(),
              "polmlip::tp_conv: entries must hold 4 ints and coeffs one float per entry");
  Plan plan;
  plan.n_paths = static_cast<int64_t>(paths.size() / 8);
  plan.path.assign(paths.begin(), paths.end());
  for (int64_t i = 0; i < plan.n_paths; ++i) {
    const int64_t *q = plan.path.data() + 8 * i;
    const int64_t x_off = q[0], d1 = q[1], sh_off = q[2], d2 = q[3], out_off = q[4], d3 = q[5],
                  w_off = q[6], mul = q[7];
    TORCH_CHECK(d1 > 0 && d2 > 0 && d3 > 0 && mul > 0 && x_off >= 0 && x_off + d1 * mul <= x_dim &&
                    sh_off >= 0 && sh_off + d2 <= sh_dim && out_off >= 0 &&
                    out_off + d3 * mul <= out_dim && w_off >= 0 && w_off + mul <= w_dim,
                "polmlip::tp_conv: path ", i, " does not fit the feature, harmonic, weight or "
                "output widths");
    plan.max_block = std::max(plan.max_block, d1 * mul);
  }
  const int64_t k = static_cast<int64_t>(coeffs.size());
  const int64_t *ev = entries.data();
  plan.start.assign(plan.n_paths + 1, 0);
  int64_t last = 0;
  for (int64_t i = 0; i < k; ++i) {
    const int64_t pi = ev[4 * i];
    TORCH_CHECK(pi >= last && pi < plan.n_paths,
                "polmlip::tp_conv: entries must be sorted by path and name existing paths");
    const int64_t *q = plan.path.data() + 8 * pi;
    TORCH_CHECK(ev[4 * i + 1] >= 0 && ev[4 * i + 1] < q[1] && ev[4 * i + 2] >= 0 &&
                    ev[4 * i + 2] < q[3] && ev[4 * i + 3] >= 0 && ev[4 * i + 3] < q[5],
                "polmlip::tp_conv: entry ", i, " has a component outside its path");
    last = pi;
    plan.start[pi + 1]++;
    plan.m1.push_back(ev[4 * i + 1]);
    plan.m2.push_back(ev[4 * i + 2]);
    plan.m3.push_back(ev[4 * i + 3]);
  }
  for (int64_t i = 0; i < plan.n_paths; ++i) plan.start[i + 1] += plan.start[i];
  plan.coeff.assign(coeffs.begin(), coeffs.end());
  return plan;
}

// Edges grouped by receiver (counting sort, stable): order[offset[r] .. offset[r + 1]).
void group_by(const int64_t *key, int64_t n_edges, int64_t n_keys, std::vector<int64_t> &offset,
              std::vector<int64_t> &order) {
  offset.assign(n_keys + 1, 0);
  for (int64_t e = 0; e < n_edges; ++e) offset[key[e] + 1]++;
  for (int64_t i = 0; i < n_keys; ++i) offset[i + 1] += offset[i];
  order.resize(n_edges);
  std::vector<int64_t> fill(offset.begin(), offset.end() - 1);
  for (int64_t e = 0; e < n_edges; ++e) order[fill[key[e]]++] = e;
}

// MUL > 0: every path has MUL channels, known at compile time (unrolled, vectorised loops);
// MUL == 0: read each path's channel count at run time.
template <typename T, int MUL>
void forward_kernel(const Plan &plan, const T *x, int64_t x_dim, const T *sh, int64_t sh_dim,
                    const T *w, int64_t w_dim, const int64_t *send,
                    const std::vector<int64_t> &offset, const std::vector<int64_t> &order,
                    int64_t n_out, T *out, int64_t out_dim) {
  at::parallel_for(0, n_out, 16, [&](int64_t begin, int64_t end) {
    std::vector<T> wx_buffer(plan.max_block);
    T *wx = wx_buffer.data();
    for (int64_t r = begin; r < end; ++r) {
      T *o = out + r * out_dim;
      for (int64_t k = offset[r]; k < offset[r + 1]; ++k) {
        const int64_t e = order[k];
        const T *xs = x + send[e] * x_dim;
        const T *y = sh + e * sh_dim;
        const T *we = w + e * w_dim;
        for (int64_t p = 0; p < plan.n_paths; ++p) {
          const int64_t *q = plan.path.data() + 8 * p;
          const int64_t mul = MUL > 0 ? MUL : q[7];
          const int64_t d1 = q[1];
          const T *xp = xs + q[0];
          const T *wp = we + q[6];
          for (int64_t m = 0; m < d1; ++m) {
            const T *xm = xp + m * mul;
            T *wxm = wx + m * mul;
#pragma omp simd
            for (int64_t u = 0; u < mul; ++u) wxm[u] = wp[u] * xm[u];
          }
          T *op = o + q[4];
          const T *yp = y + q[2];
          for (int64_t i = plan.start[p]; i < plan.start[p + 1]; ++i) {
            const T a = static_cast<T>(plan.coeff[i]) * yp[plan.m2[i]];
            const T *src = wx + plan.m1[i] * mul;
            T *dst = op + plan.m3[i] * mul;
#pragma omp simd
            for (int64_t u = 0; u < mul; ++u) dst[u] += a * src[u];
          }
        }
      }
    }
  });
}

// Gradients of sh and weight (per edge) and of x (per sender). Edges are visited grouped by
// sender so that each thread owns the rows of x it writes.
template <typename T, int MUL>
void backward_kernel(const Plan &plan, const T *x, int64_t x_dim, const T *sh, int64_t sh_dim,
                     const T *w, int64_t w_dim, const int64_t *recv,
                     const std::vector<int64_t> &offset, const std::vector<int64_t> &order,
                     int64_t n_send, const T *g, int64_t out_dim, T *gx, T *gsh, T *gw) {
  at::parallel_for(0, n_send, 16, [&](int64_t begin, int64_t end) {
    std::vector<T> buffers(2 * plan.max_block);
    T *wx = buffers.data();                    // w x of one path
    T *gwx = buffers.data() + plan.max_block;  // d(out)/d(w x) of one path
    for (int64_t s = begin; s < end; ++s) {
      const T *xs = x + s * x_dim;
      T *gxs = gx + s * x_dim;
      for (int64_t k = offset[s]; k < offset[s + 1]; ++k) {
        const int64_t e = order[k];
        const T *gr = g + recv[e] * out_dim;
        const T *y = sh + e * sh_dim;
        const T *we = w + e * w_dim;
        T *gy = gsh + e * sh_dim;
        T *gwe = gw + e * w_dim;
        for (int64_t p = 0; p < plan.n_paths; ++p) {
          const int64_t *q = plan.path.data() + 8 * p;
          const int64_t mul = MUL > 0 ? MUL : q[7];
          const int64_t d1 = q[1];
          const T *xp = xs + q[0];
          const T *wp = we + q[6];
          const T *gp = gr + q[4];
          const T *yp = y + q[2];
          T *gyp = gy + q[2];
          for (int64_t m = 0; m < d1; ++m) {
            const T *xm = xp + m * mul;
            T *wxm = wx + m * mul;
            T *gwxm = gwx + m * mul;
#pragma omp simd
            for (int64_t u = 0; u < mul; ++u) {
              wxm[u] = wp[u] * xm[u];
              gwxm[u] = T(0);
            }
          }
          for (int64_t i = plan.start[p]; i < plan.start[p + 1]; ++i) {
            const T c = static_cast<T>(plan.coeff[i]);
            const T *gv = gp + plan.m3[i] * mul;
            const T *wxv = wx + plan.m1[i] * mul;
            T *acc = gwx + plan.m1[i] * mul;
            const T a = c * yp[plan.m2[i]];
            T dot = 0;
#pragma omp simd reduction(+ : dot)
            for (int64_t u = 0; u < mul; ++u) {
              acc[u] += a * gv[u];
              dot += wxv[u] * gv[u];
            }
            gyp[plan.m2[i]] += c * dot;
          }
          T *gwp = gwe + q[6];
          T *gxp = gxs + q[0];
          for (int64_t m = 0; m < d1; ++m) {
            const T *xm = xp + m * mul;
            const T *gwxm = gwx + m * mul;
            T *gxm = gxp + m * mul;
#pragma omp simd
            for (int64_t u = 0; u < mul; ++u) {
              gwp[u] += gwxm[u] * xm[u];
              gxm[u] += gwxm[u] * wp[u];
            }
          }
        }
      }
    }
  });
}

// The channel count shared by every path (compile-time loops for the common sizes), else 0.
int uniform_channels(const Plan &plan) {
  int64_t mul = -1;
  for (int64_t p = 0; p < plan.n_paths; ++p) {
    const int64_t m = plan.path[8 * p + 7];
    if (mul < 0) mul = m;
    if (m != mul) return 0;
  }
  return (mul == 4 || mul == 8 || mul == 16 || mul == 32) ? static_cast<int>(mul) : 0;
}

// Call f(std::integral_constant<int, MUL>) with the plan's uniform channel count (0: mixed).
template <typename F>
void with_channels(const Plan &plan, F &&f) {
  switch (uniform_channels(plan)) {
    case 4: f(std::integral_constant<int, 4>()); break;
    case 8: f(std::integral_constant<int, 8>()); break;
    case 16: f(std::integral_constant<int, 16>()); break;
    case 32: f(std::integral_constant<int, 32>()); break;
    default: f(std::integral_constant<int, 0>());
  }
}

void check_inputs(const Tensor &x, const Tensor &sh, const Tensor &weight,
                  const Tensor &edge_index, int64_t n_out) {
  TORCH_CHECK(x.dim() == 2 && sh.dim() == 2 && weight.dim() == 2,
              "polmlip::tp_conv: x, sh and weight must be 2-d");
  TORCH_CHECK(edge_index.dim() == 2 && edge_index.size(0) == 2 &&
                  edge_index.scalar_type() == torch::kLong,
              "polmlip::tp_conv: edge_index must be (2, E) int64");
  const int64_t n_edges = edge_index.size(1);
  TORCH_CHECK(sh.size(0) == n_edges && weight.size(0) == n_edges,
              "polmlip::tp_conv: sh and weight need one row per edge (", n_edges, "), got ",
              sh.size(0), " and ", weight.size(0));
  TORCH_CHECK(x.scalar_type() == sh.scalar_type() && x.scalar_type() == weight.scalar_type(),
              "polmlip::tp_conv: x, sh and weight must have one dtype");
  TORCH_CHECK(x.device() == sh.device() && x.device() == weight.device() &&
                  x.device() == edge_index.device(),
              "polmlip::tp_conv: all inputs must be on one device");
  TORCH_CHECK(n_out >= 0, "polmlip::tp_conv: n_out must be >= 0");
  if (n_edges > 0) {
    const Tensor idx = edge_index.to(torch::kCPU);
    const int64_t rmin = idx[0].min().item<int64_t>(), rmax = idx[0].max().item<int64_t>();
    const int64_t smin = idx[1].min().item<int64_t>(), smax = idx[1].max().item<int64_t>();
    TORCH_CHECK(rmin >= 0 && rmax < n_out && smin >= 0 && smax < x.size(0),
                "polmlip::tp_conv: edge_index has receivers outside [0, n_out) or senders "
                "outside the rows of x");
  }
}

// Any device: the same sums with ATen operations (gather, per-entry products, index_add).
// Used for tensors not on the CPU; differentiable to any order by autograd.
Tensor tp_conv_composite(const Plan &plan, const Tensor &x, const Tensor &sh,
                         const Tensor &weight, const Tensor &edge_index, int64_t n_out,
                         int64_t out_dim) {
  const Tensor recv = edge_index[0], send = edge_index[1];
  const Tensor xs = x.index_select(0, send);
  const int64_t n_edges = xs.size(0);
  Tensor msg = torch::zeros({n_edges, out_dim}, x.options());
  for (int64_t p = 0; p < plan.n_paths; ++p) {
    const int64_t *q = plan.path.data() + 8 * p;
    const int64_t mul = q[7];
    const Tensor wp = weight.narrow(1, q[6], mul);
    for (int64_t i = plan.start[p]; i < plan.start[p + 1]; ++i) {
      const Tensor a = sh.narrow(1, q[2] + plan.m2[i], 1) * plan.coeff[i];
      const Tensor src = xs.narrow(1, q[0] + plan.m1[i] * mul, mul);
      msg.narrow(1, q[4] + plan.m3[i] * mul, mul).add_(a * wp * src);
    }
  }
  return torch::zeros({n_out, out_dim}, x.options()).index_add(0, recv, msg);
}

class TpConvFunction : public torch::autograd::Function<TpConvFunction> {
 public:
  static Tensor forward(torch::autograd::AutogradContext *ctx, const Tensor &x, const Tensor &sh,
                        const Tensor &weight, const Tensor &edge_index, int64_t n_out,
                        int64_t out_dim, c10::IntArrayRef paths, c10::IntArrayRef entries,
                        c10::ArrayRef<double> coeffs) {
    const Tensor xc = x.contiguous(), shc = sh.contiguous(), wc = weight.contiguous();
    const Tensor idx = edge_index.contiguous();
    ctx->save_for_backward({xc, shc, wc, idx});
    ctx->saved_data["paths"] = paths.vec();
    ctx->saved_data["entries"] = entries.vec();
    ctx->saved_data["coeffs"] = coeffs.vec();
    ctx->saved_data["out_dim"] = out_dim;
    const Plan plan = read_plan(paths, entries, coeffs, x.size(1), sh.size(1), weight.size(1),
                                out_dim);
    Tensor out = torch::zeros({n_out, out_dim}, x.options());
    const int64_t n_edges = idx.size(1);
    const int64_t *recv = idx.data_ptr<int64_t>();
    std::vector<int64_t> offset, order;
    group_by(recv, n_edges, n_out, offset, order);
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "polmlip::tp_conv", [&] {
      with_channels(plan, [&](auto channels) {
        forward_kernel<scalar_t, decltype(channels)::value>(plan, xc.data_ptr<scalar_t>(), xc.size(1),
                                      shc.data_ptr<scalar_t>(), shc.size(1),
                                      wc.data_ptr<scalar_t>(), wc.size(1), recv + n_edges,
                                      offset, order, n_out, out.data_ptr<scalar_t>(), out_dim);
      });
    });
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::variable_list grads) {
    TORCH_CHECK(!torch::GradMode::is_enabled(),
                "polmlip::tp_conv has no second derivative: it is the engines' fast path "
                "(forces, stress, Born charges). Training on forces runs the e3nn path "
                "(model.body.set_fused(False))");
    const auto saved = ctx->get_saved_variables();
    const Tensor &x = saved[0], &sh = saved[1], &w = saved[2], &idx = saved[3];
    const int64_t out_dim = ctx->saved_data["out_dim"].toInt();
    const auto paths = ctx->saved_data["paths"].toIntVector();
    const auto entries = ctx->saved_data["entries"].toIntVector();
    const auto coeffs = ctx->saved_data["coeffs"].toDoubleVector();
    const Plan plan = read_plan(paths, entries, coeffs, x.size(1), sh.size(1), w.size(1), out_dim);
    const Tensor g = grads[0].contiguous().to(x.scalar_type());
    Tensor gx = torch::zeros_like(x), gsh = torch::zeros_like(sh), gw = torch::zeros_like(w);
    const int64_t n_edges = idx.size(1);
    const int64_t *recv = idx.data_ptr<int64_t>();
    std::vector<int64_t> offset, order;
    group_by(recv + n_edges, n_edges, x.size(0), offset, order);
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "polmlip::tp_conv_backward", [&] {
      with_channels(plan, [&](auto channels) {
        backward_kernel<scalar_t, decltype(channels)::value>(plan, x.data_ptr<scalar_t>(), x.size(1),
                                       sh.data_ptr<scalar_t>(), sh.size(1),
                                       w.data_ptr<scalar_t>(), w.size(1), recv, offset, order,
                                       x.size(0), g.data_ptr<scalar_t>(), out_dim,
                                       gx.data_ptr<scalar_t>(), gsh.data_ptr<scalar_t>(),
                                       gw.data_ptr<scalar_t>());
      });
    });
    return {gx, gsh, gw, Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

Tensor tp_conv_op(const Tensor &x, const Tensor &sh, const Tensor &weight,
                  const Tensor &edge_index, int64_t n_out, int64_t out_dim, c10::IntArrayRef paths,
                  c10::IntArrayRef entries, c10::ArrayRef<double> coeffs) {
  check_inputs(x, sh, weight, edge_index, n_out);
  if (!x.device().is_cpu()) {
    const Plan plan = read_plan(paths, entries, coeffs, x.size(1), sh.size(1), weight.size(1),
                                out_dim);
    return tp_conv_composite(plan, x, sh, weight, edge_index, n_out, out_dim);
  }
  return TpConvFunction::apply(x, sh, weight, edge_index, n_out, out_dim, paths, entries, coeffs);
}

}  // namespace

}  // namespace polmlip

TORCH_LIBRARY_FRAGMENT(polmlip, m) {
  m.def(
      "tp_conv(Tensor x, Tensor sh, Tensor weight, Tensor edge_index, int n_out, int out_dim, "
      "int[] paths, int[] entries, float[] coeffs) -> Tensor");
}

TORCH_LIBRARY_IMPL(polmlip, CompositeImplicitAutograd, m) {
  m.impl("tp_conv", &polmlip::tp_conv_op);
}
