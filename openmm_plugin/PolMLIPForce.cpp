/* PolMLIPForce: parameters of the force (see PolMLIPForce.h). */
#include "PolMLIPForce.h"

#include "PolMLIPForceImpl.h"
#include "openmm/Context.h"
#include "openmm/OpenMMException.h"
#include "openmm/System.h"

#include <algorithm>
#include <cstring>
#include <string>

using namespace PolMLIPPlugin;

PolMLIPForce::PolMLIPForce(const std::string& file, const std::vector<std::string>& elements,
                           const std::vector<int>& particles, double totalCharge) :
        file(file), device("cpu"), elements(elements), particles(particles),
        totalCharge(totalCharge), kspaceAccuracy(0.0), defaultField{0.0, 0.0, 0.0},
        torchThreads(0), usesPeriodic(true) {
    if (!particles.empty() && particles.size() != elements.size())
        throw OpenMM::OpenMMException("PolMLIPForce: particles and elements differ in length");
}

void PolMLIPForce::getDefaultField(double& ex, double& ey, double& ez) const {
    ex = defaultField[0];
    ey = defaultField[1];
    ez = defaultField[2];
}

void PolMLIPForce::setDefaultField(double ex, double ey, double ez) {
    defaultField[0] = ex;
    defaultField[1] = ey;
    defaultField[2] = ez;
}

void PolMLIPForce::setTorchThreads(int threads) {
    if (threads < 0)
        throw OpenMM::OpenMMException("PolMLIPForce: torchThreads must be 0 (automatic) or a "
                                      "positive number of threads, not " +
                                      std::to_string(threads));
    torchThreads = threads;
}

const char* PolMLIPForce::FieldParameter(int component) {
    static const char* names[3] = {"polmlip_Ex", "polmlip_Ey", "polmlip_Ez"};
    return names[component];
}

OpenMM::ForceImpl* PolMLIPForce::createImpl() const {
    return new PolMLIPForceImpl(*this);
}

std::vector<double> PolMLIPForce::getOutput(OpenMM::Context& context,
                                            const std::string& name) const {
    auto* impl = dynamic_cast<PolMLIPForceImpl*>(&getImplInContext(context));
    if (impl == nullptr)
        throw OpenMM::OpenMMException("PolMLIPForce: this force is not part of the context");
    return impl->computeOutput(getContextImpl(context), name);
}

/**
 * C entry point for Python (ctypes; the plugin has no SWIG wrapper): the output `name` of the
 * PolMLIPForce at index `force_index` of the context's System (-1: its only PolMLIPForce;
 * PolMLIPForce::getOutput).
 * Writes up to `capacity` values and returns how many the output has, or -1 with a message
 * in `message` (NUL-terminated, at most `message_capacity` bytes).
 */
extern "C" __attribute__((visibility("default"))) long polmlip_openmm_output(
        void* context, int force_index, const char* name, double* values, long capacity,
        char* message, long message_capacity) {
    try {
        auto& ctx = *static_cast<OpenMM::Context*>(context);
        const OpenMM::System& system = ctx.getSystem();
        if (force_index == -1) {  // the System's only PolMLIPForce
            for (int k = 0; k < system.getNumForces(); k++) {
                if (dynamic_cast<const PolMLIPForce*>(&system.getForce(k)) == nullptr) continue;
                if (force_index != -1)
                    throw OpenMM::OpenMMException("the System has several PolMLIPForces: name "
                                                  "the one to evaluate");
                force_index = k;
            }
            if (force_index == -1)
                throw OpenMM::OpenMMException("the context's System has no PolMLIPForce");
        }
        if (force_index < 0 || force_index >= system.getNumForces())
            throw OpenMM::OpenMMException("no force " + std::to_string(force_index) +
                                          " in the context's System");
        const auto* force = dynamic_cast<const PolMLIPForce*>(&system.getForce(force_index));
        if (force == nullptr)
            throw OpenMM::OpenMMException("force " + std::to_string(force_index) +
                                          " of the System is not a PolMLIPForce");
        std::vector<double> out = force->getOutput(ctx, name);
        std::copy_n(out.begin(), std::min<long>(capacity, (long) out.size()), values);
        return (long) out.size();
    } catch (const std::exception& e) {
        if (message_capacity > 0) {
            std::strncpy(message, e.what(), (size_t) message_capacity - 1);
            message[message_capacity - 1] = '\0';
        }
        return -1;
    }
}
