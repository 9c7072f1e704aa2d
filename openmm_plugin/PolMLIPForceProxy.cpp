/* XML serialization of PolMLIPForce, registered when the plugin library is loaded. */
#include "PolMLIPForceProxy.h"

#include "PolMLIPForce.h"
#include "openmm/OpenMMException.h"
#include "openmm/serialization/SerializationNode.h"

#include <set>
#include <string>

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
    node.setBoolProperty("actsOnSubset", force.getActsOnSubset());
    node.setBoolProperty("checkMasses", force.getCheckMasses());
    if (force.hasTopologyBox()) {
        OpenMM::Vec3 box[3];
        force.getTopologyBox(box[0], box[1], box[2]);
        for (int a = 0; a < 3; a++)
            for (int d = 0; d < 3; d++)
                node.setDoubleProperty(std::string("topologyBox") + "abc"[a] + "xyz"[d], box[a][d]);
    }
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

// Every attribute a PolMLIPForce node may carry: another one (a misspelt setting) is an error.
static const std::set<std::string>& knownAttributes() {
    static const std::set<std::string> known = [] {
        std::set<std::string> k = {"version", "type", "file", "device", "totalCharge",
                                   "kspaceAccuracy", "torchThreads", "usesPeriodic", "forceGroup",
                                   "name", "Ex", "Ey", "Ez", "actsOnSubset", "checkMasses"};
        for (char a : std::string("abc"))
            for (char d : std::string("xyz")) k.insert(std::string("topologyBox") + a + d);
        return k;
    }();
    return known;
}

void* PolMLIPForceProxy::deserialize(const SerializationNode& node) const {
    const int version = node.getIntProperty("version");
    if (version < 1 || version > kVersion)
        throw OpenMM::OpenMMException("PolMLIPForce: unsupported serialization version");
    for (const auto& item : node.getProperties())
        if (!knownAttributes().count(item.first)) {
            std::string known;
            for (const auto& k : knownAttributes()) known += (known.empty() ? "" : ", ") + k;
            throw OpenMM::OpenMMException("PolMLIPForce: unknown attribute '" + item.first +
                                          "' in the XML; known attributes: " + known);
        }
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
        force->setActsOnSubset(node.getBoolProperty("actsOnSubset", false));
        force->setCheckMasses(node.getBoolProperty("checkMasses", true));
        if (node.hasProperty("topologyBoxax")) {
            OpenMM::Vec3 box[3];
            for (int a = 0; a < 3; a++)
                for (int d = 0; d < 3; d++)
                    box[a][d] = node.getDoubleProperty(std::string("topologyBox") + "abc"[a] +
                                                       "xyz"[d]);
            force->setTopologyBox(box[0], box[1], box[2]);
        }
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
