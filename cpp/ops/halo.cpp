// polmlip::halo and polmlip::set_halo_owners (see halo.h).
#include "halo.h"

#include "comm_hooks.h"

#include <torch/library.h>

#include <mutex>
#include <stdexcept>

namespace polmlip {

namespace {

std::mutex owners_mutex;

// (N,) int64 local map of one process (set_halo_owners), or undefined
torch::Tensor &owners_map() {
  static torch::Tensor owners;
  return owners;
}

void check_rows(const torch::Tensor &x, int64_t n_local) {
  TORCH_CHECK(x.dim() >= 1, "polmlip: halo needs a per-atom tensor (rows = atoms)");
  TORCH_CHECK(n_local >= 0 && n_local <= x.size(0),
              "polmlip: halo: n_local must be between 0 and the number of rows");
}

// Apply the installed map to a copy of x: forward (owner rows into ghost rows) or reverse.
torch::Tensor exchanged(const torch::Tensor &x, int64_t n_local, bool reverse) {
  check_rows(x, n_local);
  const int64_t n = x.size(0);
  {
    // the exchange of the engine instance whose model runs (comm_hooks.h)
    std::lock_guard<std::recursive_mutex> lock(comm_hooks_mutex());
    CommHooks &hooks = current_comm_hooks();
    if (hooks.halo.forward) {
      hooks.halo_calls++;
    // a contiguous copy on x's device and in x's dtype: the engine's exchange decides how
    // the rows travel (halo.h)
    TORCH_CHECK(x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kFloat64,
                "polmlip: halo exchanges float32 or float64 tensors, not ", x.scalar_type());
      torch::Tensor rows = x.detach().reshape({n, -1}).clone(at::MemoryFormat::Contiguous);
      if (reverse) hooks.halo.reverse(rows, n_local);
      else hooks.halo.forward(rows, n_local);
      return rows.reshape(x.sizes());
    }
  }
  std::lock_guard<std::mutex> lock(owners_mutex);
  const torch::Tensor &owners = owners_map();
  torch::Tensor out = x.detach().clone();
  if (n == n_local) return out;
  if (!owners.defined())
    throw std::runtime_error(
        "polmlip: this frame has ghost atoms but no halo exchange is installed: an engine with "
        "ghost atoms must install one (the LAMMPS plugin does), or map each ghost to its owner "
        "with polmlip::set_halo_owners");
  TORCH_CHECK(owners.size(0) == n, "polmlip: set_halo_owners was given ", owners.size(0),
              " rows for a tensor of ", n);
  const torch::Tensor ghost_owner = owners.narrow(0, n_local, n - n_local).to(x.device());
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
  std::lock_guard<std::mutex> lock(owners_mutex);
  if (owners.numel() == 0) {
    owners_map() = torch::Tensor();
    return;
  }
  TORCH_CHECK(owners.dim() == 1 && owners.scalar_type() == torch::kLong,
              "polmlip: set_halo_owners needs a 1-d int64 tensor (the owner row of every row)");
  owners_map() = owners.detach().clone();
}

}  // namespace

void set_halo_exchange(HaloExchange exchange) {
  std::lock_guard<std::recursive_mutex> lock(comm_hooks_mutex());
  current_comm_hooks().halo = std::move(exchange);
  current_comm_hooks().halo_calls = 0;
}

int64_t halo_calls() {
  std::lock_guard<std::recursive_mutex> lock(comm_hooks_mutex());
  return current_comm_hooks().halo_calls;
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
