// CUDA kernels of the mesh operators (same semantics as mesh_kernels.cpp, one thread per site).
//
// No torch headers here, so this file compiles with nvcc against any libtorch (including the
// CPU-only wheel); mesh_kernels.cpp allocates the tensors and calls the launchers below for
// CUDA tensors. Kernels run on the legacy default stream, torch's default current stream.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "bspline.h"
#include "mesh_kernels_cuda.h"

namespace polmlip {
namespace cuda {

namespace {

template <typename scalar_t>
struct Stencil {
  std::array<std::array<std::array<scalar_t, kMaxOrder>, kMaxDeriv + 1>, 3> table;
  int64_t index[3][kMaxOrder];
};

template <typename scalar_t>
__device__ void make_stencil(const scalar_t *u, MeshShape shape, int order, int nderiv,
                             Stencil<scalar_t> &st) {
  for (int d = 0; d < 3; ++d) {
    const scalar_t base = floor(u[d]);
    bspline_table<scalar_t>(u[d] - base, order, nderiv, st.table[d]);
    const int64_t b = static_cast<int64_t>(base);
    for (int j = 0; j < order; ++j) {
      int64_t g = (b - j) % shape.n[d];
      if (g < 0) g += shape.n[d];
      st.index[d][j] = g;
    }
  }
}

template <typename scalar_t>
__global__ void spread(const scalar_t *u, const scalar_t *coeff, scalar_t *mesh, int64_t n,
                       int ncomp, int order, int k, MeshShape shape, ComponentTable orders) {
  const int64_t s = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (s >= n) return;
  Stencil<scalar_t> st;
  make_stencil<scalar_t>(u + 3 * s, shape, order, k, st);
  for (int i = 0; i < order; ++i)
    for (int j = 0; j < order; ++j) {
      const int64_t row = (st.index[0][i] * shape.n[1] + st.index[1][j]) * shape.n[2];
      for (int l = 0; l < order; ++l) {
        scalar_t w = 0;
        for (int c = 0; c < ncomp; ++c) {
          const int *o = orders.o[c];
          w += coeff[s * ncomp + c] * st.table[0][o[0]][i] * st.table[1][o[1]][j] *
               st.table[2][o[2]][l];
        }
        atomicAdd(mesh + row + st.index[2][l], w);
      }
    }
}

template <typename scalar_t>
__global__ void gather(const scalar_t *mesh, const scalar_t *u, scalar_t *out, int64_t n,
                       int ncomp, int order, int k, MeshShape shape, ComponentTable orders) {
  const int64_t s = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (s >= n) return;
  Stencil<scalar_t> st;
  make_stencil<scalar_t>(u + 3 * s, shape, order, k, st);
  for (int c = 0; c < ncomp; ++c) {
    const int *o = orders.o[c];
    scalar_t acc = 0;
    for (int i = 0; i < order; ++i) {
      scalar_t acc_j = 0;
      for (int j = 0; j < order; ++j) {
        const int64_t row = (st.index[0][i] * shape.n[1] + st.index[1][j]) * shape.n[2];
        scalar_t acc_l = 0;
        for (int l = 0; l < order; ++l) acc_l += mesh[row + st.index[2][l]] * st.table[2][o[2]][l];
        acc_j += acc_l * st.table[1][o[1]][j];
      }
      acc += acc_j * st.table[0][o[0]][i];
    }
    out[s * ncomp + c] = acc;
  }
}

void check(cudaError_t err, const char *what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("polmlip: CUDA ") + what + ": " + cudaGetErrorString(err));
}

constexpr int kThreads = 128;

}  // namespace

template <typename scalar_t>
void spread_launch(const scalar_t *u, const scalar_t *coeff, scalar_t *mesh, int64_t n,
                   int ncomp, int order, int k, MeshShape shape, const ComponentTable &orders) {
  if (n == 0) return;
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  spread<scalar_t><<<blocks, kThreads>>>(u, coeff, mesh, n, ncomp, order, k, shape, orders);
  check(cudaGetLastError(), "spread kernel launch");
}

template <typename scalar_t>
void gather_launch(const scalar_t *mesh, const scalar_t *u, scalar_t *out, int64_t n, int ncomp,
                   int order, int k, MeshShape shape, const ComponentTable &orders) {
  if (n == 0) return;
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  gather<scalar_t><<<blocks, kThreads>>>(mesh, u, out, n, ncomp, order, k, shape, orders);
  check(cudaGetLastError(), "gather kernel launch");
}

template void spread_launch<float>(const float *, const float *, float *, int64_t, int, int, int,
                                   MeshShape, const ComponentTable &);
template void spread_launch<double>(const double *, const double *, double *, int64_t, int, int,
                                    int, MeshShape, const ComponentTable &);
template void gather_launch<float>(const float *, const float *, float *, int64_t, int, int, int,
                                   MeshShape, const ComponentTable &);
template void gather_launch<double>(const double *, const double *, double *, int64_t, int, int,
                                    int, MeshShape, const ComponentTable &);

}  // namespace cuda
}  // namespace polmlip
