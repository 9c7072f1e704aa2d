// Launchers of the CUDA mesh kernels (mesh_kernels_cuda.cu), called by mesh_kernels.cpp for
// CUDA tensors when polmlip is built with POLMLIP_WITH_CUDA. Pointers are device pointers.
#pragma once

#include <cstdint>

namespace polmlip {
namespace cuda {

struct MeshShape {
  int64_t n[3];
};

// Derivative multi-indices of each component (components.h order), passed by value.
struct ComponentTable {
  int o[56][3];
};

template <typename scalar_t>
void spread_launch(const scalar_t *u, const scalar_t *coeff, scalar_t *mesh, int64_t n,
                   int ncomp, int order, int k, MeshShape shape, const ComponentTable &orders);

template <typename scalar_t>
void gather_launch(const scalar_t *mesh, const scalar_t *u, scalar_t *out, int64_t n, int ncomp,
                   int order, int k, MeshShape shape, const ComponentTable &orders);

}  // namespace cuda
}  // namespace polmlip
