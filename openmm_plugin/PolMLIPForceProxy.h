#ifndef OPENMM_POLMLIPFORCE_PROXY_H_
#define OPENMM_POLMLIPFORCE_PROXY_H_
/* XML serialization of PolMLIPForce: `<Force type="PolMLIPForce" ...>`. */

#include "openmm/serialization/SerializationProxy.h"

namespace PolMLIPPlugin {

class PolMLIPForceProxy : public OpenMM::SerializationProxy {
public:
    PolMLIPForceProxy();
    void serialize(const void* object, OpenMM::SerializationNode& node) const override;
    void* deserialize(const OpenMM::SerializationNode& node) const override;
};

}  // namespace PolMLIPPlugin

#endif /*OPENMM_POLMLIPFORCE_PROXY_H_*/
