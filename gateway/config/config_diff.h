// What a reload changes: the running configuration compared with the new one, per key and per
// driver and upstream instance. Pure functions on loaded configs (no I/O, no threads); the
// service's reload (gateway/service/commands.cpp) applies the plan.
//
// Instances are compared by name on their settings with the spec's defaults filled in, so
// writing a default out (`interval_ms = 1000` where 1000 is the default) is no change; a key's
// deprecated old name counts as the new name. Values of keys that look like secrets (a name
// holding "password", "secret" or "token", except *_file and *_env, which name where the secret
// is) are never put in a description. The contents of files a setting names (a password_file,
// a CA file) are not compared: changing only such a file needs a restart of the service or a
// change of the setting.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "gateway/config/gateway_config.h"
#include "gateway/config/schema.h"

namespace pn::config {

// One instance's settings as "key.path" -> value text (TOML-like: strings quoted, arrays in
// brackets, arrays of tables as key[i].sub), defaults of keys not written filled in from the
// spec, deprecated names under their new names.
using FlatSettings = std::map<std::string, std::string>;
FlatSettings Flatten(const Section& settings);

struct SettingChange {
  std::string key;        // "interval_ms", "tags[2].address"
  std::string old_value;  // "" when the key was not set (and has no default)
  std::string new_value;  // "" when the key is no longer set
};

// Every key whose value differs, sorted by key.
std::vector<SettingChange> Diff(const FlatSettings& before, const FlatSettings& after);

// "interval_ms 1000 -> 500, host \"a\" -> \"b\"": at most `max_shown` changes, then
// "and N more"; secret values shown as "(secret)"; an unset side as "(unset)".
std::string Describe(const std::vector<SettingChange>& changes, std::size_t max_shown = 4);

// True when `key` (its last component) names a secret value (see the top of this file).
bool IsSecretKey(const std::string& key);

enum class InstanceChangeKind { kUnchanged, kAdded, kRemoved, kChanged };

struct InstanceChange {
  std::string name;
  InstanceChangeKind kind = InstanceChangeKind::kUnchanged;
  std::string details;  // kChanged: Describe() of its changes
};

struct ReloadPlan {
  // Settings that cannot change while the daemon runs, each "key: cannot change while running
  // (old -> new)". Not empty: the reload is refused as a whole.
  std::vector<std::string> refused;
  // Every driver / upstream of either config: the new config's in its order, then the removed
  // ones in the old config's order.
  std::vector<InstanceChange> drivers;
  std::vector<InstanceChange> upstreams;
  // Settings applied live, each "key old -> new" (gateway.log_level, gateway.shutdown_timeout_ms,
  // store.batch_records, store.batch_ms, health.stall_timeout_ms and the health endpoint's
  // enabled / listen / port / token_file, which restart the endpoint).
  std::vector<std::string> live;
  bool restart_health = false;  // [health] enabled, listen, port or token_file changed
};

// Compares `running` with `next`. REQUIRES: both still hold their documents (not
// ReleaseDocument()ed): the instances' Sections are read.
ReloadPlan PlanReload(const GatewayConfig& running, const GatewayConfig& next);

}  // namespace pn::config
