// CPU kernels of polmlip::tp_conv and polmlip::tp_conv_table (see tp_conv.cpp for the
// operators and the layout). Both visit the edges grouped by receiver: the forward sums each
// receiver's messages in place (no per-edge message is stored), the backward reads each
// receiver's output gradient once for all its edges. The radial weights of an edge are either
// stored rows (E, W) or computed from a table of the edge length (radial_table.h), in which
// case neither the weights nor their gradients are ever stored: the backward returns d/dr.
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "radial_table.h"

namespace polmlip {

struct Plan {
  int64_t n_paths = 0;
  std::vector<int64_t> path;   // 8 per path: x_off, d1, sh_off, d2, out_off, d3, w_off, mul
  std::vector<int64_t> start;  // entries of path p: [start[p], start[p + 1])
  std::vector<int64_t> m1, m2, m3;
  std::vector<double> coeff;
  int64_t max_block = 0;  // largest d1 * mul
};

// Where an edge's radial weights come from.
template <typename T>
struct EdgeWeights {
  const T *rows = nullptr;  // stored (E, W), or
  const T *table = nullptr;  // a table (TableShape) read at
  const T *length = nullptr;  // the edge lengths (E,)
  TableShape shape;
  int64_t width = 0;  // W

  // Edge e's weights: the stored row, or computed into buf (W values).
  const T *of(int64_t e, T *buf) const {
    if (table == nullptr) return rows + e * width;
    table_values(table, shape, length[e], buf);
    return buf;
  }
};

// Edges grouped by key (counting sort, stable): order[offset[k] .. offset[k + 1]).
inline void group_by(const int64_t *key, int64_t n_edges, int64_t n_keys,
                     std::vector<int64_t> &offset, std::vector<int64_t> &order) {
  offset.assign(n_keys + 1, 0);
  for (int64_t e = 0; e < n_edges; ++e) offset[key[e] + 1]++;
  for (int64_t i = 0; i < n_keys; ++i) offset[i + 1] += offset[i];
  order.resize(n_edges);
  std::vector<int64_t> fill(offset.begin(), offset.end() - 1);
  for (int64_t e = 0; e < n_edges; ++e) order[fill[key[e]]++] = e;
}

// MUL > 0: every path has MUL channels, known at compile time (unrolled, vectorised loops);
// MUL == 0: each path's channel count read at run time.
template <typename T, int MUL>
void forward_kernel(const Plan &plan, const T *x, int64_t x_dim, const T *sh, int64_t sh_dim,
                    const EdgeWeights<T> &weights, const int64_t *send,
                    const std::vector<int64_t> &offset, const std::vector<int64_t> &order,
                    int64_t n_out, T *out, int64_t out_dim) {
  at::parallel_for(0, n_out, 16, [&](int64_t begin, int64_t end) {
    std::vector<T> buffers(plan.max_block + weights.width);
    T *wx = buffers.data();
    T *wbuf = buffers.data() + plan.max_block;
    for (int64_t r = begin; r < end; ++r) {
      T *o = out + r * out_dim;
      for (int64_t k = offset[r]; k < offset[r + 1]; ++k) {
        const int64_t e = order[k];
        const T *xs = x + send[e] * x_dim;
        const T *y = sh + e * sh_dim;
        const T *we = weights.of(e, wbuf);
        for (int64_t p = 0; p < plan.n_paths; ++p) {
          const int64_t *q = plan.path.data() + 8 * p;
          const int64_t mul = MUL > 0 ? MUL : q[7];
          const T *xp = xs + q[0];
          const T *wp = we + q[6];
          for (int64_t m = 0; m < q[1]; ++m) {
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

// Gradients: gx (N, Dx) per sender, gsh (E, Dsh) per edge, and the weights' gradient either
// stored per edge (gw, (E, W)) or, for a table, contracted at once with the slopes into
// d/d(edge length) (glength, (E,)). Each thread adds into its own copy of gx when there are
// several (senders are shared between receivers).
template <typename T, int MUL>
void backward_kernel(const Plan &plan, const T *x, int64_t x_dim, const T *sh, int64_t sh_dim,
                     const EdgeWeights<T> &weights, const int64_t *send,
                     const std::vector<int64_t> &offset, const std::vector<int64_t> &order,
                     int64_t n_out, int64_t n_send, const T *g, int64_t out_dim, T *gx, T *gsh,
                     T *gw, T *glength) {
  const int threads = at::get_num_threads();
  std::vector<std::vector<T>> partial(threads > 1 ? threads : 0);
  at::parallel_for(0, n_out, 16, [&](int64_t begin, int64_t end) {
    T *gx_mine = gx;
    if (threads > 1) {
      auto &mine = partial[at::get_thread_num()];
      if (mine.empty()) mine.assign(n_send * x_dim, T(0));
      gx_mine = mine.data();
    }
    const int64_t width = weights.width;
    std::vector<T> buffers(2 * plan.max_block + 3 * width);
    T *wx = buffers.data();                    // w x of one path
    T *gwx = wx + plan.max_block;              // d(out)/d(w x) of one path
    T *wbuf = gwx + plan.max_block;            // the edge's weights (table)
    T *gwbuf = wbuf + width;                   // their gradient (table)
    T *slope = gwbuf + width;                  // their slopes (table)
    for (int64_t r = begin; r < end; ++r) {
      const T *gr = g + r * out_dim;
      for (int64_t k = offset[r]; k < offset[r + 1]; ++k) {
        const int64_t e = order[k];
        const T *xs = x + send[e] * x_dim;
        T *gxs = gx_mine + send[e] * x_dim;
        const T *y = sh + e * sh_dim;
        const T *we = weights.of(e, wbuf);
        T *gwe = glength != nullptr ? gwbuf : gw + e * width;
        if (glength != nullptr) std::fill(gwbuf, gwbuf + width, T(0));
        T *gy = gsh + e * sh_dim;
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
        if (glength != nullptr) {
          table_slopes(weights.table, weights.shape, weights.length[e], slope);
          T acc = 0;
#pragma omp simd reduction(+ : acc)
          for (int64_t w = 0; w < width; ++w) acc += gwbuf[w] * slope[w];
          glength[e] = acc;
        }
      }
    }
  });
  for (const auto &mine : partial) {
    if (mine.empty()) continue;
    const int64_t n = n_send * x_dim;
    for (int64_t i = 0; i < n; ++i) gx[i] += mine[i];
  }
}

// The channel count shared by every path (compile-time loops for the common sizes), else 0.
inline int uniform_channels(const Plan &plan) {
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

}  // namespace polmlip
