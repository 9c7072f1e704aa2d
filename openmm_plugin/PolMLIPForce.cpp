/* PolMLIPForce: parameters of the force (see PolMLIPForce.h). */
#include "PolMLIPForce.h"

#include "PolMLIPForceImpl.h"
#include "openmm/OpenMMException.h"

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
