// Bricks and slabs of polmlip's distributed mesh (mesh_comm.h): mesh_to_slabs adds every cell
// of a process's brick (a box around its sites, unwrapped) into the x-slab that owns it, and
// slabs_to_mesh, its adjoint, gives every brick cell its owner's value. Each is a custom
// autograd Function whose backward is the other.
#include <torch/library.h>

#include <algorithm>
#include <string>

#include "mesh_comm_internal.h"

namespace polmlip {

namespace {

using namespace mesh;

int64_t wrap(int64_t i, int64_t K) { return ((i % K) + K) % K; }

// A run of planes: [src, src + len) of a (folded) brick axis lands on [dst, dst + len) of the
// mesh axis.
struct Run {
  int64_t src, dst, len;
};

// The runs of c <= K consecutive planes starting at global plane lo (wrapped): at most 2.
std::vector<Run> wrap_runs(int64_t lo, int64_t c, int64_t K) {
  std::vector<Run> runs;
  lo = wrap(lo, K);
  const int64_t first = std::min(c, K - lo);
  if (first > 0) runs.push_back({0, lo, first});
  if (c > first) runs.push_back({first, 0, c - first});
  return runs;
}

// The runs of axis 0 that fall into the x-slab `slab`, in order of src.
std::vector<Run> runs_in(const std::vector<Run> &runs, const Part &slab) {
  std::vector<Run> out;
  for (const Run &run : runs) {
    const int64_t a = std::max(run.dst, slab.lo), b = std::min(run.dst + run.len, slab.hi);
    if (b > a) out.push_back({run.src + (a - run.dst), a, b - a});
  }
  return out;
}

// A brick folded so that each global cell appears at most once: along every axis longer than
// the mesh, cells are summed modulo the mesh (and that axis then starts at global plane 0).
struct Folded {
  Shape lo;     // global index (wrapped) of the folded brick's first cell
  Shape shape;  // min(brick, mesh) along each axis
};

Folded folded_geometry(const Shape &lo, const Shape &brick, const Shape &K) {
  Folded f{Shape(3), Shape(3)};
  for (int d = 0; d < 3; d++) {
    f.shape[d] = std::min(brick[d], K[d]);
    f.lo[d] = brick[d] > K[d] ? 0 : wrap(lo[d], K[d]);
  }
  return f;
}

// Global (wrapped) index of each brick plane along axis d.
torch::Tensor wrapped_index(int64_t lo, int64_t b, int64_t K) {
  return torch::remainder(torch::arange(lo, lo + b, torch::kLong), K);
}

Shape check_vector(c10::IntArrayRef v, const char *what, const char *op) {
  TORCH_CHECK(v.size() == 3, "polmlip: ", op, ": ", what, " must have 3 entries, got ",
              v.size());
  return v.vec();
}

// The header that precedes a source's planes: its folded brick's lo and shape.
constexpr int64_t kHeader = 6;

std::vector<double> header(const Folded &f) {
  return {(double) f.lo[0], (double) f.lo[1], (double) f.lo[2],
          (double) f.shape[0], (double) f.shape[1], (double) f.shape[2]};
}

Folded parse_header(const torch::Tensor &block) {
  const double *h = block.data_ptr<double>();
  Folded f{Shape(3), Shape(3)};
  for (int d = 0; d < 3; d++) {
    f.lo[d] = (int64_t) h[d];
    f.shape[d] = (int64_t) h[3 + d];
  }
  return f;
}

// Every cell of `src` (c1, c2 planes of the folded brick f, lo f.lo[1:]) added to / copied
// from its wrapped place in `dst` (planes of K1 x K2), block by block (at most 4).
void wrap_planes(const torch::Tensor &planes, const torch::Tensor &mesh_planes, const Folded &f,
                 const Shape &K, bool add_into_mesh) {
  for (const Run &a : wrap_runs(f.lo[1], f.shape[1], K[1]))
    for (const Run &b : wrap_runs(f.lo[2], f.shape[2], K[2])) {
      torch::Tensor m = mesh_planes.narrow(1, a.dst, a.len).narrow(2, b.dst, b.len);
      torch::Tensor p = planes.narrow(1, a.src, a.len).narrow(2, b.src, b.len);
      if (add_into_mesh) m.add_(p);
      else p.copy_(m);
    }
}

// Forward of mesh_to_slabs: every brick cell summed into the x-slab of its owner.
torch::Tensor to_slabs(const torch::Tensor &brick, const Shape &lo, const Shape &K) {
  const RankSize rs = rank_size();
  const int64_t P = rs.size;
  const Part mine = part(rs.rank, K[0], P);
  torch::Tensor b = to_wire(brick);
  const Shape shape = b.sizes().vec();
  record_points_held(b.numel() + mine.n() * K[1] * K[2]);
  for (int d = 0; d < 3; d++)
    if (shape[d] > K[d]) {
      Shape s = b.sizes().vec();
      s[d] = K[d];
      b = torch::zeros(s, b.options()).index_add_(d, wrapped_index(lo[d], shape[d], K[d]), b);
    }
  const Folded f = folded_geometry(lo, shape, K);
  const std::vector<Run> runs = wrap_runs(f.lo[0], f.shape[0], K[0]);
  const int64_t plane = f.shape[1] * f.shape[2];
  const torch::Tensor head = torch::tensor(header(f), torch::kFloat64);
  std::vector<int64_t> counts(P, 0), recv_counts;
  std::vector<torch::Tensor> pieces;
  for (int64_t p = 0; p < P && plane > 0; p++) {
    const std::vector<Run> sub = runs_in(runs, part(p, K[0], P));
    if (sub.empty()) continue;
    pieces.push_back(head);
    counts[p] = kHeader;
    for (const Run &run : sub) {
      pieces.push_back(b.narrow(0, run.src, run.len).reshape({-1}));
      counts[p] += run.len * plane;
    }
  }
  const torch::Tensor send = pieces.empty() ? torch::zeros({0}, torch::kFloat64)
                                            : torch::cat(pieces);
  const torch::Tensor recv = exchange(send, counts, recv_counts);
  torch::Tensor slab = torch::zeros({mine.n(), K[1], K[2]}, torch::kFloat64);
  int64_t offset = 0;
  for (int64_t q = 0; q < P; q++) {
    if (recv_counts[q] == 0) continue;
    const torch::Tensor block = recv.narrow(0, offset, recv_counts[q]);
    offset += recv_counts[q];
    const Folded g = parse_header(block);
    int64_t pos = kHeader;
    for (const Run &run : runs_in(wrap_runs(g.lo[0], g.shape[0], K[0]), mine)) {
      const int64_t n = run.len * g.shape[1] * g.shape[2];
      TORCH_CHECK(pos + n <= block.numel(), "polmlip: mesh_to_slabs: process ", q,
                  " sent a malformed block: do all processes use the same mesh?");
      wrap_planes(block.narrow(0, pos, n).view({run.len, g.shape[1], g.shape[2]}),
                  slab.narrow(0, run.dst - mine.lo, run.len), g, K, true);
      pos += n;
    }
    TORCH_CHECK(pos == block.numel(), "polmlip: mesh_to_slabs: process ", q,
                " sent a malformed block: do all processes use the same mesh?");
  }
  return slab.to(brick.device(), brick.scalar_type());
}

// Forward of slabs_to_mesh: every brick cell gets the value of its wrapped owner cell.
torch::Tensor to_brick(const torch::Tensor &slab_in, const Shape &lo, const Shape &shape,
                       const Shape &K) {
  const RankSize rs = rank_size();
  const int64_t P = rs.size;
  const Part mine = part(rs.rank, K[0], P);
  const torch::Tensor slab = to_wire(slab_in);
  const Folded f = folded_geometry(lo, shape, K);
  const std::vector<Run> runs = wrap_runs(f.lo[0], f.shape[0], K[0]);
  const int64_t plane = f.shape[1] * f.shape[2];
  // 1. ask the owners of the planes: this brick's header
  const torch::Tensor head = torch::tensor(header(f), torch::kFloat64);
  std::vector<int64_t> counts(P, 0), recv_counts;
  std::vector<torch::Tensor> pieces;
  for (int64_t p = 0; p < P && plane > 0; p++)
    if (!runs_in(runs, part(p, K[0], P)).empty()) {
      pieces.push_back(head);
      counts[p] = kHeader;
    }
  torch::Tensor send = pieces.empty() ? torch::zeros({0}, torch::kFloat64) : torch::cat(pieces);
  const torch::Tensor asks = exchange(send, counts, recv_counts);
  // 2. answer: the asked cells of this slab, in the order of the asker's planes
  std::vector<int64_t> answer_counts(P, 0), got_counts;
  pieces.clear();
  int64_t offset = 0;
  for (int64_t q = 0; q < P; q++) {
    if (recv_counts[q] == 0) continue;
    TORCH_CHECK(recv_counts[q] == kHeader, "polmlip: slabs_to_mesh: malformed request from ",
                q);
    const Folded g = parse_header(asks.narrow(0, offset, kHeader));
    offset += kHeader;
    for (const Run &run : runs_in(wrap_runs(g.lo[0], g.shape[0], K[0]), mine)) {
      torch::Tensor planes = torch::empty({run.len, g.shape[1], g.shape[2]}, torch::kFloat64);
      wrap_planes(planes, slab.narrow(0, run.dst - mine.lo, run.len), g, K, false);
      pieces.push_back(planes.view({-1}));
      answer_counts[q] += planes.numel();
    }
  }
  send = pieces.empty() ? torch::zeros({0}, torch::kFloat64) : torch::cat(pieces);
  const torch::Tensor got = exchange(send, answer_counts, got_counts);
  // 3. the folded brick from the answers, then unfolded
  torch::Tensor b = torch::zeros(f.shape, torch::kFloat64);
  offset = 0;
  for (int64_t p = 0; p < P; p++) {
    int64_t n_expected = 0;
    for (const Run &run : runs_in(runs, part(p, K[0], P))) {
      const int64_t n = run.len * plane;
      TORCH_CHECK(n_expected + n <= got_counts[p], "polmlip: slabs_to_mesh: process ", p,
                  " answered ", got_counts[p], " values: do all processes use the same mesh?");
      b.narrow(0, run.src, run.len)
          .copy_(got.narrow(0, offset + n_expected, n).view({run.len, f.shape[1], f.shape[2]}));
      n_expected += n;
    }
    TORCH_CHECK(n_expected == got_counts[p], "polmlip: slabs_to_mesh: process ", p, " answered ",
                got_counts[p], " values where ", n_expected, " were expected");
    offset += got_counts[p];
  }
  for (int d = 0; d < 3; d++)
    if (shape[d] > K[d]) b = b.index_select(d, wrapped_index(lo[d], shape[d], K[d]));
  return b.contiguous().to(slab_in.device(), slab_in.scalar_type());
}

class SlabsToMeshFunction;

class MeshToSlabsFunction : public torch::autograd::Function<MeshToSlabsFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext *ctx, const torch::Tensor &brick,
                               Shape lo, Shape mesh) {
    ctx->saved_data["lo"] = lo;
    ctx->saved_data["brick"] = brick.sizes().vec();
    ctx->saved_data["mesh"] = mesh;
    return to_slabs(brick, lo, mesh);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::variable_list grads);
};

class SlabsToMeshFunction : public torch::autograd::Function<SlabsToMeshFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext *ctx, const torch::Tensor &slab,
                               Shape lo, Shape brick, Shape mesh) {
    ctx->saved_data["lo"] = lo;
    ctx->saved_data["mesh"] = mesh;
    return to_brick(slab, lo, brick, mesh);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::variable_list grads) {
    return {MeshToSlabsFunction::apply(grads[0], ctx->saved_data["lo"].toIntVector(),
                                       ctx->saved_data["mesh"].toIntVector()),
            torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

torch::autograd::variable_list MeshToSlabsFunction::backward(
    torch::autograd::AutogradContext *ctx, torch::autograd::variable_list grads) {
  return {SlabsToMeshFunction::apply(grads[0], ctx->saved_data["lo"].toIntVector(),
                                     ctx->saved_data["brick"].toIntVector(),
                                     ctx->saved_data["mesh"].toIntVector()),
          torch::Tensor(), torch::Tensor()};
}

// ---- the operators ----

torch::Tensor mesh_to_slabs_op(const torch::Tensor &brick, c10::IntArrayRef lo,
                               c10::IntArrayRef mesh_shape) {
  const Shape K = check_mesh(mesh_shape, "mesh_to_slabs");
  check_real(brick, "mesh_to_slabs");
  TORCH_CHECK(brick.dim() == 3, "polmlip: mesh_to_slabs needs a 3-d brick, got shape ",
              shape_text(brick.sizes()));
  return MeshToSlabsFunction::apply(brick, check_vector(lo, "lo", "mesh_to_slabs"), K);
}

torch::Tensor slabs_to_mesh_op(const torch::Tensor &slab, c10::IntArrayRef lo,
                               c10::IntArrayRef brick_shape, c10::IntArrayRef mesh_shape) {
  const Shape K = check_mesh(mesh_shape, "slabs_to_mesh");
  const RankSize rs = rank_size();
  const Part x = part(rs.rank, K[0], rs.size);
  check_real(slab, "slabs_to_mesh");
  TORCH_CHECK(slab.dim() == 3 && slab.size(0) == x.n() && slab.size(1) == K[1] &&
                  slab.size(2) == K[2],
              "polmlip: slabs_to_mesh: process ", rs.rank, " of ", rs.size,
              " needs its x-slab of shape ", shape_text({x.n(), K[1], K[2]}), ", got ",
              shape_text(slab.sizes()));
  const Shape b = check_vector(brick_shape, "brick_shape", "slabs_to_mesh");
  for (int64_t n : b)
    TORCH_CHECK(n >= 0, "polmlip: slabs_to_mesh: brick_shape entries must be >= 0, got ",
                brick_shape);
  return SlabsToMeshFunction::apply(slab, check_vector(lo, "lo", "slabs_to_mesh"), b, K);
}

}  // namespace

}  // namespace polmlip

TORCH_LIBRARY_IMPL(polmlip, CompositeImplicitAutograd, m) {
  m.impl("mesh_to_slabs", &polmlip::mesh_to_slabs_op);
  m.impl("slabs_to_mesh", &polmlip::slabs_to_mesh_op);
}
