// Full neighbour list for one frame: a cell list in fractional coordinates.
//
// Exact for any (triclinic) cell and any cutoff, including cutoffs larger than the cell
// (several images of the same atom are listed, as vesin and ASE do). Shared by the
// polmlip::neighbor_pairs operator and the OpenMM plugin.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace polmlip {

struct PairList {
  std::vector<int64_t> first;   // receiver i
  std::vector<int64_t> second;  // source j
  std::vector<int64_t> shift;   // 3 integers per pair: r_ij = r_j - r_i + shift . cell
  double min_distance = 0.0;    // shortest pair distance found (Å); +inf when no pair
  int64_t closest_i = -1, closest_j = -1;
};

// positions: n x 3 (row-major, Å). cell: rows are lattice vectors (Å), used when periodic.
// Throws std::invalid_argument for NaN/inf positions, a degenerate cell or a bad cutoff.
PairList neighbor_pairs(const double *positions, int64_t n, const std::array<double, 9> &cell,
                        bool periodic, double cutoff);

}  // namespace polmlip
