// The distributed rfftn / irfftn of polmlip (mesh_comm.h): local FFTs of a process's slab and
// all-to-all transposes between x-slabs and y-slabs. Only the transposes are a custom autograd
// Function (each direction's backward is the other, applied through the same Function); the
// local FFTs are torch ops, so the gradients are those of torch::fft::rfftn / irfftn.
#include <torch/library.h>

#include "mesh_comm_internal.h"

namespace polmlip {

namespace {

using namespace mesh;

// x_to_y: (n0(r), K1, K2h) on rank r -> (K0, n1(r), K2h); else the reverse (its adjoint: both
// are permutations of the distributed array).
torch::Tensor transposed(const torch::Tensor &x, const Shape &K, bool x_to_y) {
  const RankSize rs = rank_size();
  const int64_t P = rs.size, r = rs.rank, K2h = half(K);
  const Part xr = part(r, K[0], P), yr = part(r, K[1], P);
  const torch::Tensor w = to_wire(x);  // (rows, cols, K2h, 2)
  std::vector<int64_t> counts(P), recv_counts;
  std::vector<torch::Tensor> pieces;
  if (x_to_y) {
    for (int64_t p = 0; p < P; p++) {
      const Part yp = part(p, K[1], P);
      counts[p] = xr.n() * yp.n() * K2h * 2;
      pieces.push_back(w.narrow(1, yp.lo, yp.n()).reshape({-1}));
    }
  } else {
    for (int64_t p = 0; p < P; p++) counts[p] = part(p, K[0], P).n() * yr.n() * K2h * 2;
  }
  const torch::Tensor send = x_to_y ? torch::cat(pieces) : w.reshape({-1});
  const torch::Tensor recv = exchange(send, counts, recv_counts);
  for (int64_t q = 0; q < P; q++) {
    const int64_t expect = x_to_y ? part(q, K[0], P).n() * yr.n() * K2h * 2
                                  : xr.n() * part(q, K[1], P).n() * K2h * 2;
    TORCH_CHECK(recv_counts[q] == expect, "polmlip: distributed FFT: process ", q, " sent ",
                recv_counts[q], " values where ", expect,
                " were expected: do all processes use the same mesh?");
  }
  torch::Tensor out;
  if (x_to_y) {
    // the blocks of the sources, in order, are the planes of axis 0
    out = recv.view({K[0], yr.n(), K2h, 2});
  } else {
    std::vector<torch::Tensor> blocks;
    int64_t offset = 0;
    for (int64_t q = 0; q < P; q++) {
      blocks.push_back(
          recv.narrow(0, offset, recv_counts[q]).view({xr.n(), part(q, K[1], P).n(), K2h, 2}));
      offset += recv_counts[q];
    }
    out = torch::cat(blocks, 1);
  }
  return from_wire(out, x);
}

class TransposeFunction : public torch::autograd::Function<TransposeFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext *ctx, const torch::Tensor &x,
                               Shape mesh, bool x_to_y) {
    ctx->saved_data["mesh"] = mesh;
    ctx->saved_data["x_to_y"] = x_to_y;
    return transposed(x, mesh, x_to_y);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::variable_list grads) {
    const Shape mesh = ctx->saved_data["mesh"].toIntVector();
    const bool x_to_y = ctx->saved_data["x_to_y"].toBool();
    return {TransposeFunction::apply(grads[0], mesh, !x_to_y), torch::Tensor(), torch::Tensor()};
  }
};

torch::Tensor dist_rfftn_op(const torch::Tensor &slab, c10::IntArrayRef mesh_shape) {
  const Shape K = check_mesh(mesh_shape, "dist_rfftn");
  const RankSize rs = rank_size();
  const Part x = part(rs.rank, K[0], rs.size), y = part(rs.rank, K[1], rs.size);
  check_real(slab, "dist_rfftn");
  TORCH_CHECK(slab.dim() == 3 && slab.size(0) == x.n() && slab.size(1) == K[1] &&
                  slab.size(2) == K[2],
              "polmlip: dist_rfftn: process ", rs.rank, " of ", rs.size,
              " needs its x-slab of shape ", shape_text({x.n(), K[1], K[2]}), ", got ",
              shape_text(slab.sizes()));
  // local FFTs (torch ops; MKL refuses empty tensors, so a rank without planes skips them)
  // (its empty partial spectrum still depends on the slab, so every rank's backward runs)
  torch::Tensor t =
      x.n() > 0 ? torch::fft::rfftn(slab, c10::nullopt, c10::IntArrayRef{1, 2})
                : slab.narrow(2, 0, half(K)).to(c10::toComplexType(slab.scalar_type()));
  if (rs.size > 1) t = TransposeFunction::apply(t, K, true);
  return y.n() > 0 ? torch::fft::fft(t, c10::nullopt, 0) : t;
}

torch::Tensor dist_irfftn_op(const torch::Tensor &kslab, c10::IntArrayRef mesh_shape) {
  const Shape K = check_mesh(mesh_shape, "dist_irfftn");
  const RankSize rs = rank_size();
  const Part x = part(rs.rank, K[0], rs.size), y = part(rs.rank, K[1], rs.size);
  TORCH_CHECK(kslab.scalar_type() == torch::kComplexDouble ||
                  kslab.scalar_type() == torch::kComplexFloat,
              "polmlip: dist_irfftn needs a complex128 (or complex64) tensor, got ",
              kslab.scalar_type());
  TORCH_CHECK(kslab.dim() == 3 && kslab.size(0) == K[0] && kslab.size(1) == y.n() &&
                  kslab.size(2) == half(K),
              "polmlip: dist_irfftn: process ", rs.rank, " of ", rs.size,
              " needs its y-slab of the half spectrum, of shape ",
              shape_text({K[0], y.n(), half(K)}), ", got ", shape_text(kslab.sizes()));
  torch::Tensor t = y.n() > 0 ? torch::fft::ifft(kslab, c10::nullopt, 0) : kslab;
  if (rs.size > 1) t = TransposeFunction::apply(t, K, false);
  return x.n() > 0 ? torch::fft::irfftn(t, c10::IntArrayRef{K[1], K[2]}, c10::IntArrayRef{1, 2})
                   : torch::real(t).reshape({0, K[1], K[2]});
}

}  // namespace

}  // namespace polmlip

TORCH_LIBRARY_IMPL(polmlip, CompositeImplicitAutograd, m) {
  m.impl("dist_rfftn", &polmlip::dist_rfftn_op);
  m.impl("dist_irfftn", &polmlip::dist_irfftn_op);
}
