// Reading a radial table: polynomial pieces of degree D - 1 on a uniform grid of the edge
// length (python/polmlip/nn/radial_table.py builds them). Shared by polmlip::radial_spline and
// the table-reading convolution polmlip::tp_conv_table.
//
//   w(r) = sum_d c_d t^d,  c = coeffs[k] (D x W),  k = floor((r - r_lo) inv_h) in [0, n - 1],
//   t = (r - r_lo) inv_h - k;   dw/dr = inv_h sum_d d c_d t^(d - 1)
#pragma once

#include <cmath>
#include <cstdint>

namespace polmlip {

struct TableShape {
  int64_t pieces = 0;  // n
  int64_t degree = 0;  // D, coefficients per piece
  int64_t width = 0;   // W, weights per edge
  double r_lo = 0.0;
  double inv_h = 1.0;
};

template <typename T>
inline const T *table_piece(const T *coeffs, const TableShape &s, T r, T &t) {
  const double x = (static_cast<double>(r) - s.r_lo) * s.inv_h;
  int64_t k = static_cast<int64_t>(std::floor(x));
  k = k < 0 ? 0 : (k > s.pieces - 1 ? s.pieces - 1 : k);
  t = static_cast<T>(x - static_cast<double>(k));
  return coeffs + k * s.degree * s.width;
}

// w(r) (W values) into out.
template <typename T>
inline void table_values(const T *coeffs, const TableShape &s, T r, T *out) {
  T t;
  const T *c = table_piece(coeffs, s, r, t);
  const T *top = c + (s.degree - 1) * s.width;
#pragma omp simd
  for (int64_t w = 0; w < s.width; ++w) out[w] = top[w];
  for (int64_t d = s.degree - 2; d >= 0; --d) {  // Horner
    const T *cd = c + d * s.width;
#pragma omp simd
    for (int64_t w = 0; w < s.width; ++w) out[w] = cd[w] + t * out[w];
  }
}

// dw/dr (W values) into out.
template <typename T>
inline void table_slopes(const T *coeffs, const TableShape &s, T r, T *out) {
  T t;
  const T *c = table_piece(coeffs, s, r, t);
  const T *top = c + (s.degree - 1) * s.width;
  const T scale = static_cast<T>(s.inv_h);
#pragma omp simd
  for (int64_t w = 0; w < s.width; ++w) out[w] = T(s.degree - 1) * top[w];
  for (int64_t d = s.degree - 2; d >= 1; --d) {  // Horner of sum_d d c_d t^(d - 1)
    const T *cd = c + d * s.width;
#pragma omp simd
    for (int64_t w = 0; w < s.width; ++w) out[w] = T(d) * cd[w] + t * out[w];
  }
#pragma omp simd
  for (int64_t w = 0; w < s.width; ++w) out[w] *= scale;
}

}  // namespace polmlip
