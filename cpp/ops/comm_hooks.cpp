// Which instance's communication the polmlip:: operators use (see comm_hooks.h).
#include "comm_hooks.h"

#include <mutex>

namespace polmlip {

namespace {

CommHooks &process_default() {
  static CommHooks hooks;
  return hooks;
}

CommHooks *&active() {
  static CommHooks *hooks = nullptr;
  return hooks;
}

}  // namespace

std::recursive_mutex &comm_hooks_mutex() {
  static std::recursive_mutex m;
  return m;
}

ActiveCommHooks::ActiveCommHooks(CommHooks *hooks) {
  std::lock_guard<std::recursive_mutex> lock(comm_hooks_mutex());
  previous_ = active();
  active() = hooks;
}

ActiveCommHooks::~ActiveCommHooks() {
  std::lock_guard<std::recursive_mutex> lock(comm_hooks_mutex());
  active() = previous_;
}

CommHooks &current_comm_hooks() { return active() ? *active() : process_default(); }

}  // namespace polmlip
