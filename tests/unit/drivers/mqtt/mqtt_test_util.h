// Helpers for the mqtt driver tests: config loading through the spec like the gateway loader.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/mqtt/mqtt_driver.h"
#include "gateway/config/schema.h"
#include "gateway/config/toml_tree.h"
#include "tests/unit/drivers/driver_test_util.h"

namespace pn::mqtt::testing {

using Loaded = pn::testing::LoadedDriver;

// The [drivers.NAME] table of a config text, validated like the gateway loader does.
inline Loaded Load(std::string_view toml, const std::string& file = "gateway.toml",
                   const std::string& name = "broker") {
  return pn::testing::LoadDriverSection(toml, Spec(), Check, file, name);
}

}  // namespace pn::mqtt::testing
