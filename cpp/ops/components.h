// Multi-indices of derivative orders used by the mesh operators.
//
// The public layout (degree <= 2) matches python/polmlip/electrostatics/mesh_ops.py:
//   [000, 100, 010, 001, 200, 020, 002, 110, 101, 011]
// Higher degrees (used by backward passes) follow in a fixed order.
#pragma once

#include <array>
#include <stdexcept>
#include <vector>

namespace polmlip {

using Orders = std::array<int, 3>;

inline const std::vector<Orders> &component_orders() {
  static const std::vector<Orders> orders = [] {
    std::vector<Orders> o = {{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {2, 0, 0},
                             {0, 2, 0}, {0, 0, 2}, {1, 1, 0}, {1, 0, 1}, {0, 1, 1}};
    for (int deg = 3; deg <= 5; ++deg)
      for (int a = deg; a >= 0; --a)
        for (int b = deg - a; b >= 0; --b) o.push_back({a, b, deg - a - b});
    return o;
  }();
  return orders;
}

// Number of components of total degree <= k.
inline int num_components(int k) { return (k + 1) * (k + 2) * (k + 3) / 6; }

// Degree k such that num_components(k) == n.
inline int degree_for(int64_t n) {
  for (int k = 0; k <= 5; ++k)
    if (num_components(k) == n) return k;
  throw std::invalid_argument("polmlip: mesh coefficient count must be 1, 4, 10, 20, 35 or 56");
}

// Index of a multi-index in component_orders().
inline int component_index(const Orders &o) {
  const auto &all = component_orders();
  for (size_t i = 0; i < all.size(); ++i)
    if (all[i] == o) return static_cast<int>(i);
  throw std::out_of_range("polmlip: derivative order too high for the mesh operators");
}

}  // namespace polmlip
