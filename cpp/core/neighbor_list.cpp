// Cell-list neighbour search (see neighbor_list.h).
#include "neighbor_list.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace polmlip {

namespace {

using Mat3 = std::array<double, 9>;

double det3(const Mat3 &m) {
  return m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
         m[2] * (m[3] * m[7] - m[4] * m[6]);
}

Mat3 inverse3(const Mat3 &m) {
  const double d = det3(m);
  Mat3 r;
  r[0] = (m[4] * m[8] - m[5] * m[7]) / d;
  r[1] = (m[2] * m[7] - m[1] * m[8]) / d;
  r[2] = (m[1] * m[5] - m[2] * m[4]) / d;
  r[3] = (m[5] * m[6] - m[3] * m[8]) / d;
  r[4] = (m[0] * m[8] - m[2] * m[6]) / d;
  r[5] = (m[2] * m[3] - m[0] * m[5]) / d;
  r[6] = (m[3] * m[7] - m[4] * m[6]) / d;
  r[7] = (m[1] * m[6] - m[0] * m[7]) / d;
  r[8] = (m[0] * m[4] - m[1] * m[3]) / d;
  return r;
}

// distance between the lattice planes spanned by the two other vectors
double plane_spacing(const Mat3 &c, int d, double volume) {
  const int a = (d + 1) % 3, b = (d + 2) % 3;
  const double x = c[3 * a + 1] * c[3 * b + 2] - c[3 * a + 2] * c[3 * b + 1];
  const double y = c[3 * a + 2] * c[3 * b + 0] - c[3 * a + 0] * c[3 * b + 2];
  const double z = c[3 * a + 0] * c[3 * b + 1] - c[3 * a + 1] * c[3 * b + 0];
  return volume / std::sqrt(x * x + y * y + z * z);
}

}  // namespace

PairList neighbor_pairs(const double *pos, int64_t n, const Mat3 &cell_in, bool periodic,
                        double cutoff) {
  if (!(cutoff > 0.0) || !std::isfinite(cutoff))
    throw std::invalid_argument("neighbour list cutoff must be positive");
  for (int64_t i = 0; i < 3 * n; ++i)
    if (!std::isfinite(pos[i]))
      throw std::invalid_argument("positions contain NaN or inf (first bad atom index " +
                                  std::to_string(i / 3) + ")");
  PairList out;
  out.min_distance = std::numeric_limits<double>::infinity();
  if (n == 0) return out;

  // A frame without periodicity is binned inside a box around it (no images).
  Mat3 cell = cell_in;
  std::array<double, 3> origin{0.0, 0.0, 0.0};
  if (periodic) {
    for (double v : cell)
      if (!std::isfinite(v)) throw std::invalid_argument("the periodic cell contains NaN or inf");
    if (std::abs(det3(cell)) < 1e-6)
      throw std::invalid_argument("the periodic cell is degenerate (zero volume)");
  } else {
    std::array<double, 3> lo{pos[0], pos[1], pos[2]}, hi = lo;
    for (int64_t i = 0; i < n; ++i)
      for (int d = 0; d < 3; ++d) {
        lo[d] = std::min(lo[d], pos[3 * i + d]);
        hi[d] = std::max(hi[d], pos[3 * i + d]);
      }
    cell = {0, 0, 0, 0, 0, 0, 0, 0, 0};
    for (int d = 0; d < 3; ++d) {
      origin[d] = lo[d] - 1.0;
      cell[4 * d] = hi[d] - lo[d] + 2.0;
    }
  }
  const Mat3 inv = inverse3(cell);
  const double volume = std::abs(det3(cell));

  // wrapped fractional coordinates and the lattice offset taken out of each atom
  std::vector<double> frac(3 * n);
  std::vector<int64_t> offset(3 * n, 0);
  for (int64_t i = 0; i < n; ++i)
    for (int d = 0; d < 3; ++d) {
      double f = 0.0;
      for (int k = 0; k < 3; ++k) f += (pos[3 * i + k] - origin[k]) * inv[3 * k + d];
      if (periodic) {
        const double fl = std::floor(f);
        offset[3 * i + d] = static_cast<int64_t>(fl);
        f -= fl;
        if (f >= 1.0) f = 0.0;  // rounding of values just below an integer
      }
      frac[3 * i + d] = f;
    }

  // bins at least `cutoff` thick; `reach` bins searched each way (more than one only when the
  // cutoff exceeds the cell)
  std::array<int64_t, 3> nbin, reach;
  for (int d = 0; d < 3; ++d) {
    const double h = plane_spacing(cell, d, volume);
    nbin[d] = std::max<int64_t>(1, std::min<int64_t>(static_cast<int64_t>(h / cutoff), 1024));
  }
  // sparse frames (a molecule in a large box) would make too many empty bins: coarsen
  while (nbin[0] * nbin[1] * nbin[2] > 8 * n + 64) {
    const int d = static_cast<int>(std::max_element(nbin.begin(), nbin.end()) - nbin.begin());
    nbin[d] = (nbin[d] + 1) / 2;
  }
  for (int d = 0; d < 3; ++d) {
    const double h = plane_spacing(cell, d, volume);
    reach[d] = static_cast<int64_t>(std::ceil(cutoff * nbin[d] / h - 1e-12));
    if (!periodic) reach[d] = std::min<int64_t>(reach[d], nbin[d] - 1);
  }
  const int64_t nbins = nbin[0] * nbin[1] * nbin[2];
  std::vector<int64_t> bin_of(n), head(nbins + 1, 0), order(n);
  for (int64_t i = 0; i < n; ++i) {
    int64_t b[3];
    for (int d = 0; d < 3; ++d)
      b[d] = std::min<int64_t>(static_cast<int64_t>(frac[3 * i + d] * nbin[d]), nbin[d] - 1);
    bin_of[i] = (b[0] * nbin[1] + b[1]) * nbin[2] + b[2];
    head[bin_of[i] + 1]++;
  }
  for (int64_t b = 0; b < nbins; ++b) head[b + 1] += head[b];
  {
    std::vector<int64_t> fill(head.begin(), head.end() - 1);
    for (int64_t i = 0; i < n; ++i) order[fill[bin_of[i]]++] = i;
  }

  const double rc2 = cutoff * cutoff;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t bi = bin_of[i];
    const int64_t b0 = bi / (nbin[1] * nbin[2]), b1 = (bi / nbin[2]) % nbin[1], b2 = bi % nbin[2];
    double wi[3];
    for (int d = 0; d < 3; ++d)
      wi[d] = frac[3 * i] * cell[d] + frac[3 * i + 1] * cell[3 + d] + frac[3 * i + 2] * cell[6 + d];
    for (int64_t u0 = b0 - reach[0]; u0 <= b0 + reach[0]; ++u0) {
      if (!periodic && (u0 < 0 || u0 >= nbin[0])) continue;
      const int64_t s0 = periodic ? (u0 >= 0 ? u0 / nbin[0] : -((-u0 - 1) / nbin[0]) - 1) : 0;
      for (int64_t u1 = b1 - reach[1]; u1 <= b1 + reach[1]; ++u1) {
        if (!periodic && (u1 < 0 || u1 >= nbin[1])) continue;
        const int64_t s1 = periodic ? (u1 >= 0 ? u1 / nbin[1] : -((-u1 - 1) / nbin[1]) - 1) : 0;
        for (int64_t u2 = b2 - reach[2]; u2 <= b2 + reach[2]; ++u2) {
          if (!periodic && (u2 < 0 || u2 >= nbin[2])) continue;
          const int64_t s2 = periodic ? (u2 >= 0 ? u2 / nbin[2] : -((-u2 - 1) / nbin[2]) - 1) : 0;
          const int64_t bj = ((u0 - s0 * nbin[0]) * nbin[1] + (u1 - s1 * nbin[1])) * nbin[2] +
                             (u2 - s2 * nbin[2]);
          double image[3];
          for (int d = 0; d < 3; ++d)
            image[d] = s0 * cell[d] + s1 * cell[3 + d] + s2 * cell[6 + d];
          for (int64_t k = head[bj]; k < head[bj + 1]; ++k) {
            const int64_t j = order[k];
            if (j == i && s0 == 0 && s1 == 0 && s2 == 0) continue;
            double r2 = 0.0;
            for (int d = 0; d < 3; ++d) {
              const double wj = frac[3 * j] * cell[d] + frac[3 * j + 1] * cell[3 + d] +
                                frac[3 * j + 2] * cell[6 + d];
              const double dx = wj + image[d] - wi[d];
              r2 += dx * dx;
            }
            if (r2 >= rc2) continue;
            out.first.push_back(i);
            out.second.push_back(j);
            out.shift.push_back(s0 - offset[3 * j] + offset[3 * i]);
            out.shift.push_back(s1 - offset[3 * j + 1] + offset[3 * i + 1]);
            out.shift.push_back(s2 - offset[3 * j + 2] + offset[3 * i + 2]);
            if (r2 < out.min_distance * out.min_distance) {
              out.min_distance = std::sqrt(r2);
              out.closest_i = i;
              out.closest_j = j;
            }
          }
        }
      }
    }
  }
  if (!periodic)
    for (auto &s : out.shift) s = 0;
  return out;
}

}  // namespace polmlip
