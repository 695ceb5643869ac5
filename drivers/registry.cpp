// The explicit list of driver types (no static-initialiser self-registration: the linker would
// drop it from static libraries). Add a driver here and to drivers/CMakeLists.txt.
#include "drivers/driver.h"
#include "drivers/modbus/modbus_driver.h"
#include "drivers/mqtt/mqtt_driver.h"
#include "drivers/serial/serial_driver.h"
#include "drivers/sim/sim_driver.h"

namespace pn {

const std::vector<DriverType>& DriverTypes() {
  static const std::vector<DriverType> types = {
      sim::DriverTypeEntry(),
      modbus::DriverTypeEntry(),
      serial::DriverTypeEntry(),
      mqtt::DriverTypeEntry(),
  };
  return types;
}

const DriverType* FindDriverType(std::string_view type) {
  for (const auto& t : DriverTypes()) {
    if (t.type == type) return &t;
  }
  return nullptr;
}

}  // namespace pn
