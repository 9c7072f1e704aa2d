// polmlip::halo and polmlip::set_halo_owners (see halo.h).
#include "halo.h"

#include <torch/library.h>

#include <mutex>
#include <stdexcept>

namespace polmlip {

namespace {

std::mutex halo_mutex;

struct HaloState {
  HaloExchange exchange;
  torch::Tensor owners;  // (N,) int64 local map of one process, or undefined
  int64_t calls = 0;
};

HaloState &state() {
  static HaloState s;
  return s;
}

void check_rows(const torch::Tensor &x, int64_t n_local) {
  TORCH_CHECK(x.dim() >= 1, "polmlip: halo needs a per-atom tensor (rows = atoms)");
  TORCH_CHECK(n_local >= 0 && n_local <= x.size(0),
              "polmlip: halo: n_local must be between 0 and the number of rows");
}

// Apply the installed map to a copy of x: forward (owner rows into ghost rows) or reverse.
torch::Tensor exchanged(const torch::Tensor &x, int64_t n_local, bool reverse) {
  check_rows(x, n_local);
  std::lock_guard<std::mutex> lock(halo_mutex);
  HaloState &s = state();
  const int64_t n = x.size(0);
  if (s.exchange.forward) {
    s.calls++;
    // a contiguous copy on x's device and in x's dtype: the engine's exchange decides how
    // the rows travel (halo.h)
    TORCH_CHECK(x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kFloat64,
                "polmlip: halo exchanges float32 or float64 tensors, not ", x.scalar_type());
    torch::Tensor rows = x.detach().reshape({n, -1}).clone(at::MemoryFormat::Contiguous);
    if (reverse) s.exchange.reverse(rows, n_local);
    else s.exchange.forward(rows, n_local);
    return rows.reshape(x.sizes());
  }
  torch::Tensor out = x.detach().clone();
  if (n == n_local) return out;
  if (!s.owners.defined())
    throw std::runtime_error(
        "polmlip: this frame has ghost atoms but no halo exchange is installed: an engine with "
        "ghost atoms must install one (the LAMMPS plugin does), or map each ghost to its owner "
        "with polmlip::set_halo_owners");
  TORCH_CHECK(s.owners.size(0) == n, "polmlip: set_halo_owners was given ", s.owners.size(0),
              " rows for a tensor of ", n);
  const torch::Tensor ghost_owner = s.owners.narrow(0, n_local, n - n_local).to(x.device());
  if (!reverse) {
    out.narrow(0, n_local, n - n_local).copy_(out.index_select(0, ghost_owner));
  } else {
    out.index_add_(0, ghost_owner, x.detach().narrow(0, n_local, n - n_local));
    out.narrow(0, n_local, n - n_local).zero_();
  }
  return out;
}

// Forward (reverse = false): ghost rows from owners. Its backward is the adjoint
// (reverse = true), whose backward is the forward again, so a second derivative through the
// exchange is defined.
class HaloFunction : public torch::autograd::Function<HaloFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext *ctx, const torch::Tensor &x,
                               int64_t n_local, bool reverse) {
    ctx->saved_data["n_local"] = n_local;
    ctx->saved_data["reverse"] = reverse;
    return exchanged(x, n_local, reverse);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::variable_list grads) {
    const int64_t n_local = ctx->saved_data["n_local"].toInt();
    const bool reverse = ctx->saved_data["reverse"].toBool();
    return {HaloFunction::apply(grads[0], n_local, !reverse), torch::Tensor(), torch::Tensor()};
  }
};

torch::Tensor halo_op(const torch::Tensor &x, int64_t n_local) {
  return HaloFunction::apply(x, n_local, false);
}

void set_halo_owners_op(const torch::Tensor &owners) {
  std::lock_guard<std::mutex> lock(halo_mutex);
  if (owners.numel() == 0) {
    state().owners = torch::Tensor();
    return;
  }
  TORCH_CHECK(owners.dim() == 1 && owners.scalar_type() == torch::kLong,
              "polmlip: set_halo_owners needs a 1-d int64 tensor (the owner row of every row)");
  state().owners = owners.detach().clone();
}

}  // namespace

void set_halo_exchange(HaloExchange exchange) {
  std::lock_guard<std::mutex> lock(halo_mutex);
  state().exchange = std::move(exchange);
  state().calls = 0;
}

int64_t halo_calls() {
  std::lock_guard<std::mutex> lock(halo_mutex);
  return state().calls;
}

}  // namespace polmlip

TORCH_LIBRARY_FRAGMENT(polmlip, m) {
  m.def("halo(Tensor x, int n_local) -> Tensor");
  m.def("set_halo_owners(Tensor owners) -> ()");
}

TORCH_LIBRARY_IMPL(polmlip, CompositeImplicitAutograd, m) {
  m.impl("halo", &polmlip::halo_op);
  m.impl("set_halo_owners", &polmlip::set_halo_owners_op);
}
