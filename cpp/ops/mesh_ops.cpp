// TorchScript operators polmlip::spread and polmlip::gather with explicit backward.
//
// Semantics are those of python/polmlip/electrostatics/mesh_ops.py (the reference):
//   spread(u (N,3), coeff (N,C), mesh_shape [3], order) -> mesh (K0,K1,K2)
//   gather(mesh (K0,K1,K2), u (N,3), order, nderiv) -> (N, C(nderiv))
// Backward passes are written with the same two operators at one higher derivative degree,
// so they are differentiable again (training on forces needs double backward).
#include <torch/library.h>
#include <torch/torch.h>

#include "components.h"
#include "mesh_kernels.h"

namespace polmlip {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

Tensor spread_autograd(const Tensor &u, const Tensor &coeff, std::vector<int64_t> shape,
                       int64_t order);
Tensor gather_autograd(const Tensor &mesh, const Tensor &u, int64_t order, int64_t nderiv);

namespace {

// d/du of sum_c w[n,c] d^c W: contract w (N, C_k) with degree-(k+1) values (N, C_{k+1}).
Tensor contract_du(const Tensor &w, const Tensor &higher) {
  const auto &orders = component_orders();
  const int64_t ncomp = w.size(1);
  std::vector<int64_t> idx;
  idx.reserve(ncomp * 3);
  for (int64_t c = 0; c < ncomp; ++c)
    for (int d = 0; d < 3; ++d) {
      Orders o = orders[c];
      o[d] += 1;
      idx.push_back(component_index(o));
    }
  auto index = torch::tensor(idx, torch::TensorOptions().dtype(torch::kLong))
                   .to(higher.device())
                   .view({ncomp, 3});
  auto picked = higher.index_select(1, index.view(-1)).view({w.size(0), ncomp, 3});
  return (w.unsqueeze(2) * picked).sum(1);
}

class SpreadFunction : public torch::autograd::Function<SpreadFunction> {
 public:
  static Tensor forward(AutogradContext *ctx, const Tensor &u, const Tensor &coeff,
                        std::vector<int64_t> shape, int64_t order) {
    ctx->save_for_backward({u, coeff});
    ctx->saved_data["order"] = order;
    return spread_kernel(u, coeff, shape, order);
  }

  static variable_list backward(AutogradContext *ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &u = saved[0], &coeff = saved[1];
    const int64_t order = ctx->saved_data["order"].toInt();
    const int k = degree_for(coeff.size(1));
    const Tensor g = grads[0];
    const Tensor values = gather_autograd(g, u, order, k + 1);
    const Tensor d_coeff = values.narrow(1, 0, coeff.size(1));
    const Tensor d_u = contract_du(coeff, values);
    return {d_u, d_coeff, Tensor(), Tensor()};
  }
};

class GatherFunction : public torch::autograd::Function<GatherFunction> {
 public:
  static Tensor forward(AutogradContext *ctx, const Tensor &mesh, const Tensor &u, int64_t order,
                        int64_t nderiv) {
    ctx->save_for_backward({mesh, u});
    ctx->saved_data["order"] = order;
    ctx->saved_data["nderiv"] = nderiv;
    return gather_kernel(mesh, u, order, nderiv);
  }

  static variable_list backward(AutogradContext *ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &mesh = saved[0], &u = saved[1];
    const int64_t order = ctx->saved_data["order"].toInt();
    const int64_t k = ctx->saved_data["nderiv"].toInt();
    const Tensor g = grads[0];
    const Tensor d_mesh =
        spread_autograd(u, g, {mesh.size(0), mesh.size(1), mesh.size(2)}, order);
    const Tensor values = gather_autograd(mesh, u, order, k + 1);
    const Tensor d_u = contract_du(g, values);
    return {d_mesh, d_u, Tensor(), Tensor()};
  }
};

}  // namespace

Tensor spread_autograd(const Tensor &u, const Tensor &coeff, std::vector<int64_t> shape,
                       int64_t order) {
  return SpreadFunction::apply(u, coeff, shape, order);
}

Tensor gather_autograd(const Tensor &mesh, const Tensor &u, int64_t order, int64_t nderiv) {
  return GatherFunction::apply(mesh, u, order, nderiv);
}

namespace {

// The operators run where their tensors are: CPU tensors on the CPU kernels, CUDA tensors on
// the CUDA kernels (mesh_kernels.cpp dispatches on the device), all on one device.
void check_devices(const char *op, std::initializer_list<std::pair<const char *, const Tensor *>>
                                       tensors) {
  const auto &first = *tensors.begin();
  const c10::Device device = first.second->device();
  for (const auto &t : tensors)
    TORCH_CHECK(t.second->device() == device, "polmlip::", op, ": all inputs must be on one "
                "device, but ", first.first, " is on ", device, " and ", t.first, " on ",
                t.second->device());
#ifdef POLMLIP_WITH_CUDA
  TORCH_CHECK(device.is_cpu() || device.is_cuda(), "polmlip::", op, ": the mesh operators run "
              "on CPU or CUDA tensors, not ", device);
#else
  TORCH_CHECK(device.is_cpu(), "polmlip: this build of the mesh operators has no CUDA kernels "
              "(built without nvcc); polmlip::", op, " got tensors on ", device, ". Rebuild "
              "libpolmlip_ops where nvcc is installed (cmake -DPOLMLIP_BUILD_CUDA=ON) or run "
              "on device cpu");
#endif
}

}  // namespace

Tensor spread_op(const Tensor &u, const Tensor &coeff, c10::IntArrayRef mesh_shape,
                 int64_t order) {
  check_devices("spread", {{"u", &u}, {"coeff", &coeff}});
  return spread_autograd(u, coeff, mesh_shape.vec(), order);
}

Tensor gather_op(const Tensor &mesh, const Tensor &u, int64_t order, int64_t nderiv) {
  check_devices("gather", {{"mesh", &mesh}, {"u", &u}});
  return gather_autograd(mesh, u, order, nderiv);
}

}  // namespace polmlip

TORCH_LIBRARY(polmlip, m) {
  m.def("spread(Tensor u, Tensor coeff, int[] mesh_shape, int order) -> Tensor");
  m.def("gather(Tensor mesh, Tensor u, int order, int nderiv) -> Tensor");
}

TORCH_LIBRARY_IMPL(polmlip, CompositeImplicitAutograd, m) {
  m.impl("spread", &polmlip::spread_op);
  m.impl("gather", &polmlip::gather_op);
}
