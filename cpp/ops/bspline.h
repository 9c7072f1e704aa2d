// Cardinal B-splines M_p and their derivatives, for mesh spreading and gathering.
//
// For a site at mesh coordinate u = floor(u) + w, mesh point floor(u) - j gets the weight
// M_p(w + j), j = 0..p-1 (Essmann et al., J. Chem. Phys. 103, 8577 (1995)). The d-th
// derivative is M_p^(d)(x) = sum_k (-1)^k C(d,k) M_{p-d}(x - k).
#pragma once

#include <array>

#ifdef __CUDACC__
#define POLMLIP_HOST_DEVICE __host__ __device__
#else
#define POLMLIP_HOST_DEVICE
#endif

namespace polmlip {

constexpr int kMaxOrder = 10;
constexpr int kMaxDeriv = 5;

// table[d][j] = d^d/dw^d M_p(w + j) for d = 0..nderiv, j = 0..p-1.
template <typename scalar_t>
POLMLIP_HOST_DEVICE void bspline_table(scalar_t w, int order, int nderiv,
                   std::array<std::array<scalar_t, kMaxOrder>, kMaxDeriv + 1> &table) {
  // levels[q][j] = M_q(w + j), j < q, for q = 1..order
  std::array<std::array<scalar_t, kMaxOrder + 1>, kMaxOrder + 1> levels{};
  levels[1][0] = 1;
  for (int n = 2; n <= order; ++n) {
    for (int j = 0; j < n; ++j) {
      const scalar_t x = w + j;
      const scalar_t right = (j < n - 1) ? levels[n - 1][j] : scalar_t(0);
      const scalar_t left = (j > 0) ? levels[n - 1][j - 1] : scalar_t(0);
      levels[n][j] = (x * right + (n - x) * left) / scalar_t(n - 1);
    }
  }
  for (int d = 0; d <= nderiv; ++d) {
    const int q = order - d;
    scalar_t binom = 1;
    std::array<scalar_t, kMaxOrder> acc{};
    for (int k = 0; k <= d; ++k) {
      const scalar_t sign = (k % 2 == 0) ? scalar_t(1) : scalar_t(-1);
      for (int j = 0; j < order; ++j) {
        const int idx = j - k;  // M_q(w + j - k)
        if (q >= 1 && idx >= 0 && idx < q) acc[j] += sign * binom * levels[q][idx];
      }
      binom = binom * scalar_t(d - k) / scalar_t(k + 1);
    }
    table[d] = acc;
  }
}

}  // namespace polmlip
