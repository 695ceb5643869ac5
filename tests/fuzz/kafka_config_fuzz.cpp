// Fuzzes the Kafka upstream's settings: TOML text for one [upstreams.NAME] table of type "kafka"
// -> spec validation -> the kafka checks (topic templates, TLS/SASL combinations, the
// pass-through properties table flattened and applied with rd_kafka_conf_set). The first byte
// picks a prefix so that most inputs reach the properties table. Any input must give settings or
// errors, never a crash, hang or sanitizer report. Needs no network: no producer is created.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/config/schema.h"
#include "gateway/config/toml_tree.h"
#include "gateway/upstream/kafka/kafka_upstream.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const pn::UpstreamType entry = pn::kafka_upstream::UpstreamTypeEntry();
  std::string text;
  switch (data[0] % 3) {
    case 0:
      break;  // the whole table
    case 1:
      text = "bootstrap_servers = [\"127.0.0.1:9092\"]\n[properties]\n";
      break;
    default:
      text = "bootstrap_servers = [\"127.0.0.1:9092\"]\n";
      break;
  }
  text.append(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto doc = pn::config::ParseString(text, "fuzz.toml");
  if (!doc) return 0;
  pn::config::ErrorList errors;
  pn::config::Validate(doc->root, *entry.spec, "upstreams.k", doc->file, errors);
  if (!errors.empty()) return 0;
  pn::config::Section s(&doc->root, entry.spec, "upstreams.k", doc->file);
  auto settings = pn::kafka_upstream::FromSection(s, "fuzz-gw", /*read_secrets=*/false, errors);
  (void)settings;
  (void)errors.ToString();
  return 0;
}
