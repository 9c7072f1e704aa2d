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
#include <torch/library.h>
#include <torch/torch.h>

#include <vector>

#include "fast_path.h"
#include "radial_table.h"
#include "tp_conv_kernels.h"

namespace polmlip {

namespace {

using torch::Tensor;

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

// x (N, Dx), sh (E, Dsh) and E rows of weights or edge lengths (`per_edge`: their count,
// dtype and device), edge_index (2, E) with receivers < n_out and senders < N.
void check_inputs(const Tensor &x, const Tensor &sh, int64_t per_edge, c10::ScalarType dtype,
                  c10::Device device, const Tensor &edge_index, int64_t n_out) {
  TORCH_CHECK(x.dim() == 2 && sh.dim() == 2, "polmlip::tp_conv: x and sh must be 2-d");
  TORCH_CHECK(edge_index.dim() == 2 && edge_index.size(0) == 2 &&
                  edge_index.scalar_type() == torch::kLong,
              "polmlip::tp_conv: edge_index must be (2, E) int64");
  const int64_t n_edges = edge_index.size(1);
  TORCH_CHECK(sh.size(0) == n_edges && per_edge == n_edges,
              "polmlip::tp_conv: sh and the radial weights (or edge lengths) need one row per "
              "edge (", n_edges, "), got ", sh.size(0), " and ", per_edge);
  TORCH_CHECK(x.scalar_type() == sh.scalar_type() && x.scalar_type() == dtype,
              "polmlip::tp_conv: x, sh and the radial weights must have one dtype");
  TORCH_CHECK(x.device() == sh.device() && x.device() == device &&
                  x.device() == edge_index.device(),
              "polmlip::tp_conv: all inputs must be on one device");
  TORCH_CHECK(n_out >= 0, "polmlip::tp_conv: n_out must be >= 0");
  // The CPU kernels index raw memory, so their edge indices are range-checked here (4
  // reductions, microseconds). Other devices run ATen's index_select / index_add_, which
  // check the range on the device: no copy of the edge list and no host sync per layer.
  if (n_edges > 0 && edge_index.is_cpu()) {
    const Tensor &idx = edge_index;
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

// The radial table of polmlip::tp_conv_table: coeffs (n, D, W) on the grid r_lo + k / inv_h.
struct Table {
  Tensor coeffs;
  double r_lo = 0.0, inv_h = 1.0;
};

template <typename T>
EdgeWeights<T> edge_weights(const Tensor &weight, const Tensor &length, const Table *table) {
  EdgeWeights<T> w;
  if (table == nullptr) {
    w.rows = weight.data_ptr<T>();
    w.width = weight.size(1);
    return w;
  }
  w.table = table->coeffs.data_ptr<T>();
  w.length = length.data_ptr<T>();
  w.shape.pieces = table->coeffs.size(0);
  w.shape.degree = table->coeffs.size(1);
  w.shape.width = table->coeffs.size(2);
  w.shape.r_lo = table->r_lo;
  w.shape.inv_h = table->inv_h;
  w.width = w.shape.width;
  return w;
}

// out (n_out, out_dim) of the kernel, weights from `weight` rows or from `table` at `length`.
Tensor conv_forward(const Plan &plan, const Tensor &x, const Tensor &sh, const Tensor &weight,
                    const Tensor &length, const Table *table, const Tensor &idx, int64_t n_out,
                    int64_t out_dim) {
  Tensor out = torch::zeros({n_out, out_dim}, x.options());
  const int64_t n_edges = idx.size(1);
  const int64_t *recv = idx.data_ptr<int64_t>();
  std::vector<int64_t> offset, order;
  group_by(recv, n_edges, n_out, offset, order);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "polmlip::tp_conv", [&] {
    const EdgeWeights<scalar_t> w = edge_weights<scalar_t>(weight, length, table);
    with_channels(plan, [&](auto channels) {
      forward_kernel<scalar_t, decltype(channels)::value>(
          plan, x.data_ptr<scalar_t>(), x.size(1), sh.data_ptr<scalar_t>(), sh.size(1), w,
          recv + n_edges, offset, order, n_out, out.data_ptr<scalar_t>(), out_dim);
    });
  });
  return out;
}

// {gx, gsh, gw or g_length} of the kernel for the output gradient g.
std::vector<Tensor> conv_backward(const Plan &plan, const Tensor &x, const Tensor &sh,
                                  const Tensor &weight, const Tensor &length, const Table *table,
                                  const Tensor &idx, const Tensor &g_out, int64_t out_dim) {
  TORCH_CHECK(!torch::GradMode::is_enabled(),
              "polmlip::tp_conv has no second derivative: it is the engines' fast path (forces, "
              "stress, Born charges). Training on forces runs the e3nn path "
              "(model.body.set_fused(False))");
  const Tensor g = g_out.contiguous().to(x.scalar_type());
  Tensor gx = torch::zeros_like(x), gsh = torch::zeros_like(sh);
  Tensor gw = table != nullptr ? torch::zeros_like(length) : torch::zeros_like(weight);
  const int64_t n_edges = idx.size(1);
  const int64_t *recv = idx.data_ptr<int64_t>();
  const int64_t n_out = g.size(0);
  std::vector<int64_t> offset, order;
  group_by(recv, n_edges, n_out, offset, order);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "polmlip::tp_conv_backward", [&] {
    const EdgeWeights<scalar_t> w = edge_weights<scalar_t>(weight, length, table);
    scalar_t *g_rows = table != nullptr ? nullptr : gw.data_ptr<scalar_t>();
    scalar_t *g_length = table != nullptr ? gw.data_ptr<scalar_t>() : nullptr;
    with_channels(plan, [&](auto channels) {
      backward_kernel<scalar_t, decltype(channels)::value>(
          plan, x.data_ptr<scalar_t>(), x.size(1), sh.data_ptr<scalar_t>(), sh.size(1), w,
          recv + n_edges, offset, order, n_out, x.size(0), g.data_ptr<scalar_t>(), out_dim,
          gx.data_ptr<scalar_t>(), gsh.data_ptr<scalar_t>(), g_rows, g_length);
    });
  });
  return {gx, gsh, gw};
}

void save_plan(torch::autograd::AutogradContext *ctx, c10::IntArrayRef paths,
               c10::IntArrayRef entries, c10::ArrayRef<double> coeffs, int64_t out_dim) {
  ctx->saved_data["paths"] = paths.vec();
  ctx->saved_data["entries"] = entries.vec();
  ctx->saved_data["coeffs"] = coeffs.vec();
  ctx->saved_data["out_dim"] = out_dim;
}

Plan saved_plan(torch::autograd::AutogradContext *ctx, const Tensor &x, const Tensor &sh,
                int64_t w_dim) {
  return read_plan(ctx->saved_data["paths"].toIntVector(),
                   ctx->saved_data["entries"].toIntVector(),
                   ctx->saved_data["coeffs"].toDoubleVector(), x.size(1), sh.size(1), w_dim,
                   ctx->saved_data["out_dim"].toInt());
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
    save_plan(ctx, paths, entries, coeffs, out_dim);
    const Plan plan = read_plan(paths, entries, coeffs, x.size(1), sh.size(1), wc.size(1),
                                out_dim);
    return conv_forward(plan, xc, shc, wc, Tensor(), nullptr, idx, n_out, out_dim);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &x = saved[0], &sh = saved[1], &w = saved[2], &idx = saved[3];
    const Plan plan = saved_plan(ctx, x, sh, w.size(1));
    auto g = conv_backward(plan, x, sh, w, Tensor(), nullptr, idx, grads[0],
                           ctx->saved_data["out_dim"].toInt());
    return {g[0], g[1], g[2], Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

class TpConvTableFunction : public torch::autograd::Function<TpConvTableFunction> {
 public:
  static Tensor forward(torch::autograd::AutogradContext *ctx, const Tensor &x, const Tensor &sh,
                        const Tensor &length, const Tensor &coeffs_table, double r_lo,
                        double inv_h, const Tensor &edge_index, int64_t n_out, int64_t out_dim,
                        c10::IntArrayRef paths, c10::IntArrayRef entries,
                        c10::ArrayRef<double> coeffs) {
    const Tensor xc = x.contiguous(), shc = sh.contiguous(), lc = length.contiguous();
    const Tensor tc = coeffs_table.contiguous(), idx = edge_index.contiguous();
    ctx->save_for_backward({xc, shc, lc, tc, idx});
    ctx->saved_data["r_lo"] = r_lo;
    ctx->saved_data["inv_h"] = inv_h;
    save_plan(ctx, paths, entries, coeffs, out_dim);
    const Plan plan = read_plan(paths, entries, coeffs, x.size(1), sh.size(1), tc.size(2),
                                out_dim);
    const Table table{tc, r_lo, inv_h};
    return conv_forward(plan, xc, shc, Tensor(), lc, &table, idx, n_out, out_dim);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &x = saved[0], &sh = saved[1], &length = saved[2], &tc = saved[3];
    const Tensor &idx = saved[4];
    const Plan plan = saved_plan(ctx, x, sh, tc.size(2));
    const Table table{tc, ctx->saved_data["r_lo"].toDouble(),
                      ctx->saved_data["inv_h"].toDouble()};
    auto g = conv_backward(plan, x, sh, Tensor(), length, &table, idx, grads[0],
                           ctx->saved_data["out_dim"].toInt());
    return {g[0], g[1], g[2], Tensor(), Tensor(), Tensor(), Tensor(), Tensor(),
            Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

Tensor tp_conv_op(const Tensor &x, const Tensor &sh, const Tensor &weight,
                  const Tensor &edge_index, int64_t n_out, int64_t out_dim, c10::IntArrayRef paths,
                  c10::IntArrayRef entries, c10::ArrayRef<double> coeffs) {
  check_inputs(x, sh, weight.size(0), weight.scalar_type(), weight.device(), edge_index, n_out);
  if (!x.device().is_cpu()) {
    const Plan plan = read_plan(paths, entries, coeffs, x.size(1), sh.size(1), weight.size(1),
                                out_dim);
    return tp_conv_composite(plan, x, sh, weight, edge_index, n_out, out_dim);
  }
  return TpConvFunction::apply(x, sh, weight, edge_index, n_out, out_dim, paths, entries, coeffs);
}

Tensor tp_conv_table_op(const Tensor &x, const Tensor &sh, const Tensor &length,
                        const Tensor &table, double r_lo, double inv_h, const Tensor &edge_index,
                        int64_t n_out, int64_t out_dim, c10::IntArrayRef paths,
                        c10::IntArrayRef entries, c10::ArrayRef<double> coeffs) {
  TORCH_CHECK(length.dim() == 1, "polmlip::tp_conv_table: the edge lengths must be (E,)");
  check_inputs(x, sh, length.size(0), length.scalar_type(), length.device(), edge_index, n_out);
  check_table(length, table, inv_h);
  if (!x.device().is_cpu()) {
    const Tensor weight = radial_spline(length, table, r_lo, inv_h);
    const Plan plan = read_plan(paths, entries, coeffs, x.size(1), sh.size(1), weight.size(1),
                                out_dim);
    return tp_conv_composite(plan, x, sh, weight, edge_index, n_out, out_dim);
  }
  return TpConvTableFunction::apply(x, sh, length, table, r_lo, inv_h, edge_index, n_out,
                                    out_dim, paths, entries, coeffs);
}

}  // namespace

}  // namespace polmlip

TORCH_LIBRARY_FRAGMENT(polmlip, m) {
  m.def(
      "tp_conv(Tensor x, Tensor sh, Tensor weight, Tensor edge_index, int n_out, int out_dim, "
      "int[] paths, int[] entries, float[] coeffs) -> Tensor");
}

TORCH_LIBRARY_FRAGMENT(polmlip, m) {
  m.def(
      "tp_conv_table(Tensor x, Tensor sh, Tensor length, Tensor table, float r_lo, float inv_h, "
      "Tensor edge_index, int n_out, int out_dim, int[] paths, int[] entries, float[] coeffs) "
      "-> Tensor");
}

TORCH_LIBRARY_IMPL(polmlip, CompositeImplicitAutograd, m) {
  m.impl("tp_conv", &polmlip::tp_conv_op);
  m.impl("tp_conv_table", &polmlip::tp_conv_table_op);
}
