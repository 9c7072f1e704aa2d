// MPI check of the distributed-mesh operators (cpp/ops/mesh_comm.h), run under
// `mpiexec -n P polmlip_mesh_comm_check` (tests/unit/test_mesh_comm.py does, at several P).
//
// Every rank draws the same seeded random data for the whole mesh; each compares its part of
// the distributed result with the same quantity computed on the whole mesh by torch in this
// process: dist_rfftn / dist_irfftn against torch::fft::rfftn / irfftn (forward and backward),
// mesh_to_slabs / slabs_to_mesh against a full-mesh wrap-sum / wrap-gather (random bricks
// per rank, negative lo, bricks larger than the mesh, empty bricks), the adjoint identities,
// and a double backward through a PME-like chain of all four. Rank 0 prints one line per
// check (errors are the maxima over ranks, relative to the largest |reference|) and the
// program exits 1 if any exceeds 1e-12.
#include <mpi.h>
#include <torch/torch.h>

#include <ATen/core/dispatch/Dispatcher.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "../ops/mesh_comm.h"
#include "../ops/mpi_mesh_comm.h"

namespace {

using torch::Tensor;
using Shape = std::vector<int64_t>;

int rank = 0, nprocs = 1, failures = 0, checks = 0;
constexpr double kTolerance = 1e-12;

// ---- the operators, through the dispatcher (as TorchScript calls them) ----

template <typename Sig>
c10::TypedOperatorHandle<Sig> op(const char *name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Sig>();
}

std::vector<int64_t> mesh_layout(const Shape &K) {
  static auto h = op<std::vector<int64_t>(c10::IntArrayRef)>("polmlip::mesh_layout");
  return h.call(K);
}
Tensor dist_rfftn(const Tensor &x, const Shape &K) {
  static auto h = op<Tensor(const Tensor &, c10::IntArrayRef)>("polmlip::dist_rfftn");
  return h.call(x, K);
}
Tensor dist_irfftn(const Tensor &x, const Shape &K) {
  static auto h = op<Tensor(const Tensor &, c10::IntArrayRef)>("polmlip::dist_irfftn");
  return h.call(x, K);
}
Tensor mesh_to_slabs(const Tensor &b, const Shape &lo, const Shape &K) {
  static auto h =
      op<Tensor(const Tensor &, c10::IntArrayRef, c10::IntArrayRef)>("polmlip::mesh_to_slabs");
  return h.call(b, lo, K);
}
Tensor slabs_to_mesh(const Tensor &s, const Shape &lo, const Shape &b, const Shape &K) {
  static auto h = op<Tensor(const Tensor &, c10::IntArrayRef, c10::IntArrayRef,
                            c10::IntArrayRef)>("polmlip::slabs_to_mesh");
  return h.call(s, lo, b, K);
}

// ---- helpers ----

double max_abs(const Tensor &t) {
  return t.numel() ? t.detach().abs().max().item<double>() : 0.0;
}

double reduce(double v, MPI_Op o) {
  MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_DOUBLE, o, MPI_COMM_WORLD);
  return v;
}

std::vector<double> sum_over_ranks(std::vector<double> v) {
  MPI_Allreduce(MPI_IN_PLACE, v.data(), (int) v.size(), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  return v;
}

std::string text(const Shape &s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) out += (i ? "x" : "") + std::to_string(s[i]);
  return out;
}

// One check: err and ref are this rank's max |error| and max |reference|. Checks are
// gathered and reduced over ranks together by flush() (one collective per mesh).
struct Pending {
  std::string what;
  double err, ref;
};
std::vector<Pending> pending;

void report(const std::string &what, double err, double ref) {
  pending.push_back({what, err, ref});
}

void flush() {
  std::vector<double> values;
  for (const Pending &p : pending) {
    values.push_back(p.err);
    values.push_back(p.ref);
  }
  MPI_Allreduce(MPI_IN_PLACE, values.data(), (int) values.size(), MPI_DOUBLE, MPI_MAX,
                MPI_COMM_WORLD);
  for (size_t i = 0; i < pending.size(); i++) {
    const double err = values[2 * i], ref = values[2 * i + 1];
    const double rel = err / std::max(ref, 1e-300);
    const bool ok = rel <= kTolerance;
    checks++;
    if (!ok) failures++;
    if (rank == 0)
      std::printf("P=%d %-66s max abs err %.3e  rel %.3e  %s\n", nprocs,
                  pending[i].what.c_str(), err, rel, ok ? "ok" : "FAIL");
  }
  std::fflush(stdout);
  pending.clear();
}

void compare(const std::string &what, const Tensor &got, const Tensor &want) {
  TORCH_CHECK(got.sizes() == want.sizes(), what, ": shape ", got.sizes(), " vs ", want.sizes());
  report(what, max_abs(got - want), max_abs(want));
}

torch::Generator gen(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

Tensor randn(const Shape &s, uint64_t seed, bool complex = false) {
  return torch::randn(s, gen(seed), complex ? torch::kComplexDouble : torch::kFloat64);
}

Tensor grad1(const Tensor &out, const Tensor &in, const Tensor &gout, bool create = false) {
  return torch::autograd::grad({out}, {in}, {gout}, /*retain_graph=*/true, create)[0];
}

// Flattened global index of every cell of the brick lo + [0, b), wrapped into the mesh.
Tensor flat_index(const Shape &lo, const Shape &b, const Shape &K) {
  auto axis = [&](int d) {
    return torch::remainder(torch::arange(lo[d], lo[d] + b[d], torch::kLong), K[d]);
  };
  return ((axis(0).view({-1, 1, 1}) * K[1] + axis(1).view({1, -1, 1})) * K[2] +
          axis(2).view({1, 1, -1}))
      .reshape({-1});
}

Tensor wrap_sum(const Tensor &brick, const Shape &lo, const Shape &K) {
  return torch::zeros({K[0] * K[1] * K[2]}, brick.options())
      .index_add(0, flat_index(lo, brick.sizes().vec(), K), brick.reshape({-1}))
      .view(K);
}

Tensor wrap_gather(const Tensor &mesh, const Shape &lo, const Shape &b, const Shape &K) {
  return mesh.reshape({-1}).index_select(0, flat_index(lo, b, K)).view(b);
}

struct Brick {
  Shape lo, b;
};

// Brick of rank p: mode 0 at most the mesh, 1 larger than the mesh, 2 mixed, 3 empty.
Brick random_brick(const Shape &K, int p, int mode, uint64_t seed) {
  std::mt19937_64 rng(seed * 7919 + (uint64_t) p * 104729 + (uint64_t) mode);
  auto uniform = [&](int64_t a, int64_t b) {
    return std::uniform_int_distribution<int64_t>(a, b)(rng);
  };
  Brick br{Shape(3), Shape(3)};
  for (int d = 0; d < 3; d++) {
    const bool large = mode == 1 || (mode == 2 && uniform(0, 1) == 1);
    br.b[d] = large ? uniform(K[d] + 1, 2 * K[d] + 3) : uniform(1, K[d]);
    br.lo[d] = large ? uniform(-3 * K[d], K[d]) : uniform(-2 * K[d], 2 * K[d]);
  }
  if (mode == 3) br.b[1] = 0;
  return br;
}

// ---- the checks of one mesh ----

void check_layout(const Shape &K) {
  const std::vector<int64_t> mine = mesh_layout(K);
  std::vector<int64_t> all(6 * (size_t) nprocs);
  MPI_Allgather(mine.data(), 6, MPI_INT64_T, all.data(), 6, MPI_INT64_T, MPI_COMM_WORLD);
  bool ok = true;
  int64_t x = 0, y = 0;
  for (int p = 0; p < nprocs; p++) {
    const int64_t *l = &all[6 * (size_t) p];
    ok = ok && l[0] == x && l[1] >= l[0] && l[2] == y && l[3] >= l[2] && l[4] == p &&
         l[5] == nprocs;
    x = l[1];
    y = l[3];
  }
  ok = ok && x == K[0] && y == K[1];
  checks++;
  if (!ok) failures++;
  if (rank == 0)
    std::printf("P=%d %-66s %s\n", nprocs, ("mesh " + text(K) + " layouts tile the mesh").c_str(),
                ok ? "ok" : "FAIL");
}

void check_fft(const Shape &K, uint64_t seed) {
  const std::vector<int64_t> l = mesh_layout(K);
  const int64_t x0 = l[0], n0 = l[1] - l[0], y0 = l[2], n1 = l[3] - l[2], K2h = K[2] / 2 + 1;
  const Shape half{K[0], K[1], K2h};
  const std::string m = "mesh " + text(K) + " ";
  // dist_rfftn forward and backward
  const Tensor X = randn(K, seed).requires_grad_(true);
  const Tensor Xref = torch::fft::rfftn(X);
  const Tensor slab = X.detach().narrow(0, x0, n0).clone().requires_grad_(true);
  const Tensor Y = dist_rfftn(slab, K);
  compare(m + "dist_rfftn", Y, Xref.detach().narrow(1, y0, n1));
  const Tensor G = randn(half, seed + 1, true);
  const Tensor g = grad1(Y, slab, G.narrow(1, y0, n1).contiguous());
  compare(m + "dist_rfftn backward", g, grad1(Xref, X, G).narrow(0, x0, n0));
  const Tensor terms = torch::real(Y * G.narrow(1, y0, n1).conj());
  // relative to the sum of |terms| (the inner product itself may nearly cancel)
  const std::vector<double> sums = sum_over_ranks({terms.sum().item<double>(),
                                                   (slab * g).sum().item<double>(),
                                                   terms.abs().sum().item<double>()});
  report(m + "dist_rfftn adjoint <A x, y> = <x, A^T y>", std::abs(sums[0] - sums[1]), sums[2]);
  // dist_irfftn: the spectrum of a real mesh, and an arbitrary half spectrum
  const Tensor spectra[2] = {torch::fft::rfftn(randn(K, seed + 2)), randn(half, seed + 3, true)};
  for (int s = 0; s < 2; s++) {
    const std::string what = m + (s == 0 ? "dist_irfftn (real-mesh spectrum)"
                                         : "dist_irfftn (arbitrary half spectrum)");
    const Tensor k = spectra[s].clone().requires_grad_(true);
    const Tensor kref = torch::fft::irfftn(k, c10::IntArrayRef(K));
    const Tensor kslab = k.detach().narrow(1, y0, n1).clone().requires_grad_(true);
    const Tensor r = dist_irfftn(kslab, K);
    compare(what, r, kref.detach().narrow(0, x0, n0));
    const Tensor R = randn(K, seed + 4 + s);
    const Tensor gk = grad1(r, kslab, R.narrow(0, x0, n0).contiguous());
    compare(what + " backward", gk, grad1(kref, k, R).narrow(1, y0, n1));
  }
}

void check_redistribution(const Shape &K, uint64_t seed) {
  const std::vector<int64_t> l = mesh_layout(K);
  const int64_t x0 = l[0], n0 = l[1] - l[0];
  const std::string m = "mesh " + text(K) + " ";
  const char *names[4] = {"bricks within the mesh", "bricks larger than the mesh",
                          "mixed bricks", "empty brick on rank 0"};
  for (int trial = 0; trial < 4; trial++) {
    std::vector<Brick> bricks;
    std::vector<Tensor> data, data_ref, grads;
    for (int p = 0; p < nprocs; p++) {
      const int mode = trial < 3 ? (p + trial) % 3 : (p == 0 ? 3 : 1);
      bricks.push_back(random_brick(K, p, mode, seed + trial));
      data.push_back(randn(bricks[p].b, seed * 31 + trial * 997 + p));
      data_ref.push_back(data[p].clone().requires_grad_(true));
      grads.push_back(randn(bricks[p].b, seed * 37 + trial * 991 + p));
    }
    const Brick &mine = bricks[rank];
    std::string what = m + "trial " + std::to_string(trial) + " (" + names[trial] + "): ";
    // mesh_to_slabs: forward, backward
    const Tensor q = data[rank].clone().requires_grad_(true);
    const Tensor s = mesh_to_slabs(q, mine.lo, K);
    Tensor full = torch::zeros(K, torch::kFloat64);
    for (int p = 0; p < nprocs; p++) full = full + wrap_sum(data_ref[p], bricks[p].lo, K);
    compare(what + "mesh_to_slabs", s, full.detach().narrow(0, x0, n0));
    const Tensor M = randn(K, seed * 41 + trial);
    const Tensor gq = grad1(s, q, M.narrow(0, x0, n0).contiguous());
    compare(what + "mesh_to_slabs backward", gq, grad1(full, data_ref[rank], M));
    // slabs_to_mesh: forward, backward
    const Tensor Mref = M.clone().requires_grad_(true);
    const Tensor slab = M.narrow(0, x0, n0).clone().requires_grad_(true);
    const Tensor b = slabs_to_mesh(slab, mine.lo, mine.b, K);
    const Tensor bref = wrap_gather(Mref, mine.lo, mine.b, K);
    compare(what + "slabs_to_mesh", b, bref.detach());
    const Tensor gs = grad1(b, slab, grads[rank]);
    Tensor gref = torch::zeros(K, torch::kFloat64);
    for (int p = 0; p < nprocs; p++)
      gref = gref + grad1(wrap_gather(Mref, bricks[p].lo, bricks[p].b, K), Mref, grads[p]);
    compare(what + "slabs_to_mesh backward", gs, gref.narrow(0, x0, n0));
    // <A x, y> = <x, A^T y>, summed over ranks
    const std::vector<double> sums = sum_over_ranks({(s * slab).sum().item<double>(),
                                                     (q * b).sum().item<double>(),
                                                     (s * slab).abs().sum().item<double>()});
    report(what + "adjoint <A x, y> = <x, A^T y>", std::abs(sums[0] - sums[1]), sums[2]);
  }
}

// E = sum_p <q_p^3, wrap_gather(irfftn(W rfftn(sum_p wrap_sum(q_p))))>: gradient and a
// Hessian-vector product, through every operator's backward and double backward.
void check_double_backward(const Shape &K, uint64_t seed) {
  const std::vector<int64_t> l = mesh_layout(K);
  const int64_t x0 = l[0], n0 = l[1] - l[0], y0 = l[2], n1 = l[3] - l[2];
  const Tensor W = torch::rand({K[0], K[1], K[2] / 2 + 1}, gen(seed), torch::kFloat64);
  std::vector<Brick> bricks;
  std::vector<Tensor> qs, vs;
  for (int p = 0; p < nprocs; p++) {
    bricks.push_back(random_brick(K, p, p % 3, seed + 5));
    qs.push_back(randn(bricks[p].b, seed * 43 + p).requires_grad_(true));
    vs.push_back(randn(bricks[p].b, seed * 47 + p));
  }
  const Brick &mine = bricks[rank];
  const std::string m = "mesh " + text(K) + " double backward: ";
  // distributed
  const Tensor q = qs[rank].detach().clone().requires_grad_(true);
  const Tensor phi = dist_irfftn(dist_rfftn(mesh_to_slabs(q, mine.lo, K), K) *
                                     W.narrow(1, y0, n1),
                                 K);
  const Tensor E = (slabs_to_mesh(phi, mine.lo, mine.b, K) * q.pow(3)).sum();
  const Tensor g = torch::autograd::grad({E}, {q}, {}, true, true)[0];
  const Tensor h = torch::autograd::grad({(g * vs[rank]).sum()}, {q})[0];
  // whole mesh
  Tensor rho = torch::zeros(K, torch::kFloat64);
  for (int p = 0; p < nprocs; p++) rho = rho + wrap_sum(qs[p], bricks[p].lo, K);
  const Tensor phi_ref = torch::fft::irfftn(torch::fft::rfftn(rho) * W, c10::IntArrayRef(K));
  Tensor E_ref = torch::zeros({}, torch::kFloat64);
  for (int p = 0; p < nprocs; p++)
    E_ref = E_ref + (wrap_gather(phi_ref, bricks[p].lo, bricks[p].b, K) * qs[p].pow(3)).sum();
  const auto g_ref = torch::autograd::grad({E_ref}, qs, {}, true, true);
  Tensor s_ref = torch::zeros({}, torch::kFloat64);
  for (int p = 0; p < nprocs; p++) s_ref = s_ref + (g_ref[p] * vs[p]).sum();
  const auto h_ref = torch::autograd::grad({s_ref}, qs);
  const double e = reduce(E.item<double>(), MPI_SUM);
  report(m + "energy", std::abs(e - E_ref.item<double>()), std::abs(E_ref.item<double>()));
  compare(m + "phi", phi, phi_ref.detach().narrow(0, x0, n0));
  compare(m + "gradient", g, g_ref[rank].detach());
  compare(m + "Hessian-vector product", h, h_ref[rank]);
}

}  // namespace

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nprocs);
  torch::set_num_threads(1);
  int status = 0;
  try {
    // without a communicator (each rank alone): the operators are the local ones
    {
      const Shape K{5, 4, 6};
      const Tensor X = randn(K, 7);
      const std::vector<int64_t> l = mesh_layout(K);
      TORCH_CHECK(l == std::vector<int64_t>({0, 5, 0, 4, 0, 1}), "mesh_layout without a comm");
      const Tensor Y = dist_rfftn(X, K);
      compare("no MeshComm: dist_rfftn = rfftn", Y, torch::fft::rfftn(X));
      compare("no MeshComm: dist_irfftn = irfftn", dist_irfftn(Y, K), X);
      flush();
    }
    polmlip::set_mesh_comm(polmlip::mpi_mesh_comm(MPI_COMM_WORLD));
    const std::vector<Shape> meshes = {{7, 5, 9},  {9, 11, 6}, {5, 3, 4}, {16, 12, 10},
                                       {2, 13, 7}, {1, 8, 3},  {6, 4, 1}};
    uint64_t seed = 1;
    for (const Shape &K : meshes) {
      check_layout(K);
      check_fft(K, seed);
      check_redistribution(K, seed);
      check_double_backward(K, seed);
      flush();
      seed += 100;
    }
    const double sent = reduce((double) polmlip::mesh_bytes_sent(), MPI_SUM);
    if (rank == 0) std::printf("P=%d bytes sent between processes: %.0f\n", nprocs, sent);
    if (nprocs > 1 && !(sent > 0)) {
      failures++;
      if (rank == 0) std::printf("P=%d mesh_bytes_sent counted nothing: FAIL\n", nprocs);
    }
    polmlip::set_mesh_comm({});
  } catch (const c10::Error &e) {
    std::fprintf(stderr, "rank %d: %s\n", rank, e.what_without_backtrace());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 2);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "rank %d: %s\n", rank, e.what());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  if (rank == 0) {
    std::printf("P=%d %d checks, %d failed\n", nprocs, checks, failures);
    std::fflush(stdout);
  }
  status = failures ? 1 : 0;
  MPI_Finalize();
  return status;
}
