#include "gateway/config/config_diff.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <string_view>
#include <type_traits>

namespace pn::config {

namespace {

std::string Render(const Node& n) {
  switch (n.kind) {
    case Node::Kind::kString:
      return FormatDefault(n.str);
    case Node::Kind::kInteger:
      return std::to_string(n.integer);
    case Node::Kind::kFloat:
      return FormatDefault(n.floating);
    case Node::Kind::kBool:
      return n.boolean ? "true" : "false";
    case Node::Kind::kDateTime:
      return n.str;
    case Node::Kind::kArray: {
      std::string s = "[";
      for (std::size_t i = 0; i < n.array.size(); ++i) {
        if (i > 0) s += ", ";
        s += Render(n.array[i]);
      }
      return s + "]";
    }
    case Node::Kind::kTable:
      break;
  }
  return "{...}";  // only reached for a table inside a plain array (flattened by the caller)
}

bool HoldsTables(const Node& n) {
  return n.is_array() &&
         std::any_of(n.array.begin(), n.array.end(), [](const Node& e) { return e.is_table(); });
}

void FlattenTable(const Node& table, const TableSpec* spec, const std::string& prefix,
                  FlatSettings& out) {
  std::set<std::string, std::less<>> written;
  for (const auto& [key, value] : table.table) {
    const KeySpec* ks = spec != nullptr ? spec->FindNameOrAlias(key) : nullptr;
    const std::string name = ks != nullptr ? ks->name : key;
    written.insert(name);
    const std::string path = JoinPath(prefix, name);
    const TableSpec* nested = ks != nullptr ? ks->table : nullptr;
    if (value.is_table()) {
      FlattenTable(value, nested, path, out);
    } else if (HoldsTables(value)) {
      out[path + ".count"] = std::to_string(value.array.size());
      for (std::size_t i = 0; i < value.array.size(); ++i) {
        const std::string item = path + "[" + std::to_string(i) + "]";
        if (value.array[i].is_table()) {
          FlattenTable(value.array[i], nested, item, out);
        } else {
          out[item] = Render(value.array[i]);
        }
      }
    } else {
      out[path] = Render(value);
    }
  }
  if (spec == nullptr) return;
  for (const KeySpec& ks : spec->keys) {
    if (written.contains(ks.name)) continue;
    if (std::holds_alternative<std::monostate>(ks.default_value)) continue;
    out[JoinPath(prefix, ks.name)] = FormatDefault(ks.default_value);
  }
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool EndsWith(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

std::string Quoted(const std::string& s) { return FormatDefault(s); }

// Adds "key: cannot change while running (old -> new); ..." when the values differ.
template <typename T, typename Fmt>
void Fixed(std::vector<std::string>& refused, const char* key, const T& before, const T& after,
           Fmt fmt) {
  if (before == after) return;
  refused.push_back(std::string(key) + ": cannot change while running (" + fmt(before) + " -> " +
                    fmt(after) + "); restart the service to apply it");
}

template <typename T, typename Fmt>
void Live(std::vector<std::string>& live, const char* key, const T& before, const T& after,
          Fmt fmt) {
  if (before == after) return;
  live.push_back(std::string(key) + " " + fmt(before) + " -> " + fmt(after));
}

std::string Num(std::int64_t v) { return std::to_string(v); }

template <typename Instance>
FlatSettings FlattenInstance(const Instance& inst) {
  FlatSettings flat = Flatten(inst.settings);
  flat.erase("enabled");  // a loaded instance is always enabled
  flat["type"] = Quoted(inst.type != nullptr ? inst.type->type : std::string());
  if constexpr (std::is_same_v<Instance, UpstreamInstance>) {
    // The keys every upstream has, with their defaults (the type's spec does not hold them).
    flat["batch_records"] = Num(inst.batch_records);
    flat["retry_initial_ms"] = Num(inst.retry_initial_ms);
    flat["retry_max_ms"] = Num(inst.retry_max_ms);
  }
  return flat;
}

template <typename Instance>
std::vector<InstanceChange> PlanInstances(const std::vector<Instance>& before,
                                          const std::vector<Instance>& after) {
  std::vector<InstanceChange> out;
  for (const Instance& n : after) {
    InstanceChange c;
    c.name = n.name;
    auto old = std::find_if(before.begin(), before.end(),
                            [&](const Instance& o) { return o.name == n.name; });
    if (old == before.end()) {
      c.kind = InstanceChangeKind::kAdded;
    } else if (old->type != n.type) {
      // Another type: its keys differ as a consequence; the type says it all.
      c.kind = InstanceChangeKind::kChanged;
      c.details = Describe({{"type", Quoted(old->type != nullptr ? old->type->type : ""),
                             Quoted(n.type != nullptr ? n.type->type : "")}});
    } else {
      std::vector<SettingChange> changes = Diff(FlattenInstance(*old), FlattenInstance(n));
      if (!changes.empty()) {
        c.kind = InstanceChangeKind::kChanged;
        c.details = Describe(changes);
      }
    }
    out.push_back(std::move(c));
  }
  for (const Instance& o : before) {
    bool kept = std::any_of(after.begin(), after.end(),
                            [&](const Instance& n) { return n.name == o.name; });
    if (!kept) out.push_back({o.name, InstanceChangeKind::kRemoved, {}});
  }
  return out;
}

}  // namespace

FlatSettings Flatten(const Section& settings) {
  FlatSettings out;
  if (settings.node() != nullptr && settings.node()->is_table()) {
    FlattenTable(*settings.node(), settings.spec(), "", out);
  } else if (settings.spec() != nullptr) {
    FlattenTable(Node{}, settings.spec(), "", out);
  }
  return out;
}

std::vector<SettingChange> Diff(const FlatSettings& before, const FlatSettings& after) {
  std::vector<SettingChange> out;
  auto b = before.begin();
  auto a = after.begin();
  while (b != before.end() || a != after.end()) {
    if (a == after.end() || (b != before.end() && b->first < a->first)) {
      out.push_back({b->first, b->second, ""});
      ++b;
    } else if (b == before.end() || a->first < b->first) {
      out.push_back({a->first, "", a->second});
      ++a;
    } else {
      if (a->second != b->second) out.push_back({a->first, b->second, a->second});
      ++a;
      ++b;
    }
  }
  return out;
}

bool IsSecretKey(const std::string& key) {
  std::string last = Lower(
      key.substr(key.find_last_of(".]") == std::string::npos ? 0 : key.find_last_of(".]") + 1));
  if (EndsWith(last, "_file") || EndsWith(last, "_env")) return false;
  return last.find("password") != std::string::npos || last.find("secret") != std::string::npos ||
         last.find("token") != std::string::npos;
}

std::string Describe(const std::vector<SettingChange>& changes, std::size_t max_shown) {
  std::string out;
  std::size_t shown = 0;
  for (const SettingChange& c : changes) {
    if (shown == max_shown) {
      out += ", and " + std::to_string(changes.size() - shown) + " more";
      break;
    }
    if (!out.empty()) out += ", ";
    if (IsSecretKey(c.key)) {
      out += c.key + " (secret) changed";
    } else {
      out += c.key + " " + (c.old_value.empty() ? "(unset)" : c.old_value) + " -> " +
             (c.new_value.empty() ? "(unset)" : c.new_value);
    }
    ++shown;
  }
  return out;
}

ReloadPlan PlanReload(const GatewayConfig& running, const GatewayConfig& next) {
  ReloadPlan plan;
  auto& refused = plan.refused;
  const auto& o = running;
  const auto& n = next;
  // Settings that cannot change while running: the store file and how it is opened (its
  // bounds and policies are fixed when it is opened), the queue (allocated once), the gateway
  // id (records already sent carry the old one; consumers de-duplicate by id and seq), and the
  // status page's series limit (its memory is sized once).
  Fixed(refused, "gateway.id", o.gateway.id, n.gateway.id, Quoted);
  Fixed(refused, "gateway.data_dir", o.gateway.data_dir, n.gateway.data_dir, Quoted);
  if (o.gateway.data_dir == n.gateway.data_dir) {
    Fixed(refused, "store.file", o.store.path, n.store.path, Quoted);
  }
  Fixed(refused, "store.synchronous", o.store.synchronous, n.store.synchronous, Quoted);
  Fixed(refused, "store.max_bytes", o.store.max_bytes, n.store.max_bytes, Num);
  Fixed(refused, "store.max_age_s", o.store.max_age_s, n.store.max_age_s, Num);
  Fixed(refused, "store.full_policy", o.store.full_policy, n.store.full_policy, Quoted);
  Fixed(refused, "store.on_corrupt", o.store.on_corrupt, n.store.on_corrupt, Quoted);
  Fixed(refused, "queue.capacity", static_cast<std::int64_t>(o.queue.capacity),
        static_cast<std::int64_t>(n.queue.capacity), Num);
  Fixed(refused, "queue.overflow", o.queue.overflow, n.queue.overflow, [](OverflowPolicy p) {
    return Quoted(p == OverflowPolicy::kBlock ? "block" : "drop_oldest");
  });
  Fixed(refused, "health.status_series", o.health.status_series, n.health.status_series, Num);
  // The clock watch's spans are kept from the start (records are corrected against them).
  Fixed(refused, "clock.sync_source", o.clock.sync_source, n.clock.sync_source, Quoted);
  Fixed(refused, "clock.timesyncd_file", o.clock.timesyncd_file, n.clock.timesyncd_file, Quoted);
  Fixed(refused, "clock.step_threshold_ms", o.clock.step_threshold_ms, n.clock.step_threshold_ms,
        Num);

  auto& live = plan.live;
  Live(live, "gateway.log_level", o.gateway.log_level, n.gateway.log_level, Quoted);
  Live(live, "gateway.shutdown_timeout_ms", o.gateway.shutdown_timeout_ms,
       n.gateway.shutdown_timeout_ms, Num);
  Live(live, "store.batch_records", o.store.batch_records, n.store.batch_records, Num);
  Live(live, "store.batch_ms", o.store.batch_ms, n.store.batch_ms, Num);
  Live(live, "health.stall_timeout_ms", o.health.stall_timeout_ms, n.health.stall_timeout_ms, Num);
  auto on_off = [](bool b) { return std::string(b ? "true" : "false"); };
  Live(live, "health.enabled", o.health.enabled, n.health.enabled, on_off);
  Live(live, "health.listen", o.health.listen, n.health.listen, Quoted);
  Live(live, "health.port", o.health.port, n.health.port, Num);
  Live(live, "health.token_file", o.health.token_file, n.health.token_file, Quoted);
  plan.restart_health =
      (o.health.enabled || n.health.enabled) &&
      (o.health.enabled != n.health.enabled || o.health.listen != n.health.listen ||
       o.health.port != n.health.port || o.health.token_file != n.health.token_file);

  plan.drivers = PlanInstances(o.drivers, n.drivers);
  plan.upstreams = PlanInstances(o.upstreams, n.upstreams);
  return plan;
}

}  // namespace pn::config
