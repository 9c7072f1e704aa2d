/* XML serialization of PolMLIPForce, registered when the plugin library is loaded. */
#include "PolMLIPForceProxy.h"

#include "PolMLIPForce.h"
#include "openmm/OpenMMException.h"
#include "openmm/serialization/SerializationNode.h"

using namespace PolMLIPPlugin;
using OpenMM::SerializationNode;

// Version 1 throughout: later properties (torchThreads) are optional, read with their
// defaults, so files written before them still load.
static const int kVersion = 1;

PolMLIPForceProxy::PolMLIPForceProxy() : OpenMM::SerializationProxy("PolMLIPForce") {
}

void PolMLIPForceProxy::serialize(const void* object, SerializationNode& node) const {
    const PolMLIPForce& force = *reinterpret_cast<const PolMLIPForce*>(object);
    node.setIntProperty("version", kVersion);
    node.setStringProperty("file", force.getFile());
    node.setStringProperty("device", force.getDevice());
    node.setDoubleProperty("totalCharge", force.getTotalCharge());
    node.setDoubleProperty("kspaceAccuracy", force.getKspaceAccuracy());
    node.setIntProperty("torchThreads", force.getTorchThreads());
    node.setBoolProperty("usesPeriodic", force.usesPeriodicBoundaryConditions());
    node.setIntProperty("forceGroup", force.getForceGroup());
    node.setStringProperty("name", force.getName());
    double f[3];
    force.getDefaultField(f[0], f[1], f[2]);
    node.setDoubleProperty("Ex", f[0]);
    node.setDoubleProperty("Ey", f[1]);
    node.setDoubleProperty("Ez", f[2]);
    SerializationNode& particles = node.createChildNode("Particles");
    const auto& elements = force.getElements();
    const auto& indices = force.getParticles();
    for (size_t i = 0; i < elements.size(); i++)
        particles.createChildNode("Particle")
            .setIntProperty("index", indices.empty() ? (int) i : indices[i])
            .setStringProperty("element", elements[i]);
}

void* PolMLIPForceProxy::deserialize(const SerializationNode& node) const {
    const int version = node.getIntProperty("version");
    if (version < 1 || version > kVersion)
        throw OpenMM::OpenMMException("PolMLIPForce: unsupported serialization version");
    std::vector<std::string> elements;
    std::vector<int> indices;
    for (const SerializationNode& p : node.getChildNode("Particles").getChildren()) {
        indices.push_back(p.getIntProperty("index"));
        elements.push_back(p.getStringProperty("element"));
    }
    auto* force = new PolMLIPForce(node.getStringProperty("file"), elements, indices,
                                   node.getDoubleProperty("totalCharge", 0.0));
    try {
        force->setDevice(node.getStringProperty("device", "cpu"));
        force->setKspaceAccuracy(node.getDoubleProperty("kspaceAccuracy", 0.0));
        force->setTorchThreads(node.getIntProperty("torchThreads", 0));
        force->setUsesPeriodicBoundaryConditions(node.getBoolProperty("usesPeriodic", true));
        force->setForceGroup(node.getIntProperty("forceGroup", 0));
        force->setName(node.getStringProperty("name", "PolMLIPForce"));
        force->setDefaultField(node.getDoubleProperty("Ex", 0.0), node.getDoubleProperty("Ey", 0.0),
                               node.getDoubleProperty("Ez", 0.0));
    } catch (...) {
        delete force;
        throw;
    }
    return force;
}

// Registered at load time (ctypes.CDLL or dlopen), so XmlSerializer knows the type without
// OpenMM's plugin directory.
namespace {
struct RegisterProxy {
    RegisterProxy() {
        OpenMM::SerializationProxy::registerProxy(typeid(PolMLIPForce), new PolMLIPForceProxy());
    }
} registerProxy;
}  // namespace
