#ifndef OPENMM_POLMLIPFORCEIMPL_H_
#define OPENMM_POLMLIPFORCEIMPL_H_
/* PolMLIPForceImpl: runs the model on the host for every platform (CustomCPPForceImpl). */

#include "PolMLIPForce.h"
#include "openmm/internal/CustomCPPForceImpl.h"

#include <torch/script.h>

#include <map>
#include <string>
#include <vector>

namespace PolMLIPPlugin {

class PolMLIPForceImpl : public OpenMM::CustomCPPForceImpl {
public:
    explicit PolMLIPForceImpl(const PolMLIPForce& owner);
    void initialize(OpenMM::ContextImpl& context) override;
    double computeForce(OpenMM::ContextImpl& context, const std::vector<OpenMM::Vec3>& positions,
                        std::vector<OpenMM::Vec3>& forces) override;
    std::map<std::string, double> getDefaultParameters() override;
    const PolMLIPForce& getOwner() const override { return owner; }
    /** Torch intra-op threads for one evaluation, given torch's current count. */
    int torchThreads(int current) const;
    /** One declared output of the model at the context's current positions, box and field,
     *  flattened row-major in the model's units (PolMLIPForce::getOutput). */
    std::vector<double> computeOutput(OpenMM::ContextImpl& context, const std::string& name);

private:
    /** The model's frame from the context: positions (this force's particles) and cell in Å,
     *  the applied field in V/Å (the context's global parameters). */
    void modelFrame(OpenMM::ContextImpl& context, const std::vector<OpenMM::Vec3>& positions,
                    torch::Tensor& pos, torch::Tensor& cell, double field[3]);
    /** Runs `work` with this force's torch thread count; errors become OpenMMExceptions. */
    template <typename Work>
    auto withTorchThreads(Work work) -> decltype(work());
    /** The engine module's outputs for one frame (graph built here, overlaps refused). */
    c10::Dict<c10::IValue, c10::IValue> runEngine(const torch::Tensor& pos,
                                                  const torch::Tensor& cell, bool periodic,
                                                  const double field[3],
                                                  const c10::List<std::string>& requested);
    double computeTorchForce(const torch::Tensor& pos, const torch::Tensor& cell, bool periodic,
                             const double field[3], torch::Tensor& forces);

    const PolMLIPForce& owner;
    torch::jit::Module module;
    torch::Device device;
    torch::Dtype dtype;
    bool torchforce;
    double cutoff;
    double min_distance;  // Å, from the model metadata
    std::vector<int> particles;
    torch::Tensor species;
    int requestedThreads;  // setTorchThreads, else POLMLIP_TORCH_THREADS; 0: automatic
    bool warnedThreads;
    bool boxChecked = false;  // the box was compared with the topology's at the first call
    void checkSystemAgrees(const OpenMM::System& system,
                           const std::vector<std::string>& elements) const;
    void checkBoxWasSet(const OpenMM::Vec3 box[3]) const;    // libtorch refused a thread count once (warned on stderr)
};

}  // namespace PolMLIPPlugin

#endif /*OPENMM_POLMLIPFORCEIMPL_H_*/
