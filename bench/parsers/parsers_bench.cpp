// parsers_bench: lines (or payloads) per second per parser, single thread.
//
// Serial: regex, csv, kv, nmea (each parsing typical sensor lines), the LineFramer splitting a
// stream, and as the baseline std::from_chars over the same numbers the lines carry (the
// least any parser has to do). MQTT payloads: plain, json (one value + time; three series),
// line_protocol. Each measurement runs kRounds times over the same inputs; the median is
// reported with min and max. Last, the regex parser again with writable+executable memory
// refused (PR_SET_MDWE, as systemd's MemoryDenyWriteExecute= does), so PCRE2 has no JIT.
#include <sys/prctl.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "drivers/mqtt/payload_parsers.h"
#include "drivers/serial/line_framer.h"
#include "drivers/serial/line_parsers.h"

namespace {

constexpr int kRounds = 7;
constexpr std::size_t kLines = 100000;

struct Row {
  std::string name;
  double median, min, max;  // items per second
};

Row Measure(const std::string& name, std::size_t items, const std::function<std::size_t()>& run) {
  std::vector<double> rates;
  std::size_t sink = 0;
  for (int r = 0; r < kRounds; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    sink += run();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(static_cast<double>(items) / s);
  }
  std::sort(rates.begin(), rates.end());
  if (sink == 0) std::printf("(no output from %s)\n", name.c_str());
  return {name, rates[rates.size() / 2], rates.front(), rates.back()};
}

std::string Nmea(const std::string& body) {
  char cs[8];
  std::snprintf(cs, sizeof cs, "*%02X", pn::serial::NmeaChecksum(body));
  return "$" + body + cs;
}

}  // namespace

int main() {
  std::vector<std::string> regex_lines, csv_lines, kv_lines, nmea_lines, numbers;
  std::vector<std::string> plain, json1, json3, lp;
  char buf[256];
  for (std::size_t i = 0; i < kLines; ++i) {
    const double t = 20.0 + static_cast<double>(i % 1000) / 100.0;
    const double h = 40.0 + static_cast<double>(i % 500) / 10.0;
    std::snprintf(buf, sizeof buf, "T=%.2fC RH=%.1f%%", t, h);
    regex_lines.emplace_back(buf);
    std::snprintf(buf, sizeof buf, "2026-01-01T00:00:%02zu,%.2f,%.1f,1013.%zu,OK", i % 60, t, h,
                  i % 10);
    csv_lines.emplace_back(buf);
    std::snprintf(buf, sizeof buf, "T=%.2f H=%.1f P=1013.%zu status=OK", t, h, i % 10);
    kv_lines.emplace_back(buf);
    if (i % 2 == 0) {
      std::snprintf(buf, sizeof buf,
                    "GPGGA,1235%02zu,4807.%03zu,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,", i % 60,
                    i % 1000);
    } else {
      std::snprintf(buf, sizeof buf, "YXMTW,%.1f,C", t);
    }
    nmea_lines.push_back(Nmea(buf));
    std::snprintf(buf, sizeof buf, "%.2f", t);
    numbers.emplace_back(buf);
    plain.emplace_back(buf);
    std::snprintf(buf, sizeof buf, "{\"value\": %.2f, \"ts\": %zu}", t, 1767225600000 + i);
    json1.emplace_back(buf);
    std::snprintf(buf, sizeof buf,
                  "{\"id\": \"room-%zu\", \"temp\": %.2f, \"env\": {\"rh\": %.1f}, \"battery\": "
                  "3.1, \"ts\": %zu}",
                  i % 10, t, h, 1767225600000 + i);
    json3.emplace_back(buf);
    std::snprintf(buf, sizeof buf, "env,device=room-%zu temp=%.2f,hum=%.1f,bat=31i %zu", i % 10, t,
                  h, 1767225600000000000 + i);
    lp.emplace_back(buf);
  }
  std::string stream;
  for (const auto& l : kv_lines) stream += l + "\r\n";

  std::vector<Row> rows;
  std::vector<pn::serial::Field> fields;
  auto serial = [&](const std::string& name, pn::serial::LineParser& p,
                    const std::vector<std::string>& lines) {
    rows.push_back(Measure(name, lines.size(), [&] {
      std::size_t n = 0;
      for (const auto& l : lines) {
        fields.clear();
        if (p.Parse(l, fields).ok()) n += fields.size();
      }
      return n;
    }));
  };
  rows.push_back(Measure("baseline: from_chars of one number", numbers.size(), [&] {
    std::size_t n = 0;
    for (const auto& s : numbers) {
      double v = 0;
      if (std::from_chars(s.data(), s.data() + s.size(), v).ec == std::errc()) ++n;
    }
    return n;
  }));
  auto regex =
      pn::serial::MakeRegexParser(R"(^T=(?<temperature>-?[0-9.]+)C RH=(?<humidity>[0-9.]+)%$)", {});
  auto csv = pn::serial::MakeCsvParser({"_", "temperature", "humidity", "pressure", "_"}, ',');
  auto kv = pn::serial::MakeKeyValueParser({}, '=');
  auto nmea = pn::serial::MakeNmeaParser(true);
  serial("serial regex (2 named groups)", **regex, regex_lines);
  serial("serial csv (5 columns, 3 read)", **csv, csv_lines);
  serial("serial kv (4 pairs, 3 numeric)", **kv, kv_lines);
  serial("serial nmea (GGA / MTW, checksum)", *nmea, nmea_lines);
  rows.push_back(Measure("serial framer (CRLF kv lines)", kv_lines.size(), [&] {
    pn::serial::LineFramer f("\n", 1024);
    std::size_t n = 0;
    for (std::size_t off = 0; off < stream.size(); off += 4096) {
      f.Feed(std::string_view(stream).substr(off, 4096), [&](std::string_view) { ++n; });
    }
    return n;
  }));

  std::vector<pn::mqtt::Decoded> out;
  auto mqtt = [&](const std::string& name, pn::mqtt::PayloadParser& p,
                  const std::vector<std::string>& payloads) {
    rows.push_back(Measure(name, payloads.size(), [&] {
      std::size_t n = 0;
      for (const auto& s : payloads) {
        out.clear();
        if (p.Parse(s, pn::mqtt::TopicFields{"dev", "temp"}, out).ok()) n += out.size();
      }
      return n;
    }));
  };
  auto plain_p = pn::mqtt::MakePlainParser();
  pn::mqtt::JsonOptions j1;
  j1.time = "ts";
  auto json1_p = pn::mqtt::MakeJsonParser(j1);
  pn::mqtt::JsonOptions j3;
  j3.fields = {{"temperature", "temp"}, {"humidity", "/env/rh"}, {"battery", "battery"}};
  j3.time = "ts";
  j3.device = "id";
  auto json3_p = pn::mqtt::MakeJsonParser(j3);
  auto lp_p = pn::mqtt::MakeLineProtocolParser({});
  mqtt("mqtt plain", *plain_p, plain);
  mqtt("mqtt json (value + ts)", *json1_p, json1);
  mqtt("mqtt json (3 series + device + ts)", *json3_p, json3);
  mqtt("mqtt line protocol (3 fields + tag + ts)", *lp_p, lp);

  // Last: it cannot be undone for this process.
  constexpr int kPrSetMdwe = 65, kMdweRefuseExecGain = 1;  // <linux/prctl.h>, Linux 6.3
  regex->reset();  // its JIT code would keep PCRE2's executable memory, which it reuses
  pn::serial::ReleaseUnusedRegexJitMemory();
  if (prctl(kPrSetMdwe, kMdweRefuseExecGain, 0L, 0L, 0L) == 0 && !pn::serial::RegexJitAvailable()) {
    auto nojit = pn::serial::MakeRegexParser(
        R"(^T=(?<temperature>-?[0-9.]+)C RH=(?<humidity>[0-9.]+)%$)", {});
    serial("serial regex, no JIT (MemoryDenyWriteExecute)", **nojit, regex_lines);
  } else {
    std::printf("(no PR_SET_MDWE here, or JIT still works: the no-JIT regex row is skipped)\n");
  }

  const double base = rows.front().median;
  std::printf("%-44s %14s %14s %14s %9s\n", "parser", "median/s", "min/s", "max/s", "vs base");
  for (const auto& r : rows) {
    std::printf("%-44s %14.0f %14.0f %14.0f %8.2fx\n", r.name.c_str(), r.median, r.min, r.max,
                r.median / base);
  }
  return 0;
}
