// The content of tests/unit/store/fixtures/store_v1.db, shared by the program that makes it
// (make_store_fixture.cpp) and the test that opens it (store_upgrade_test.cpp).
//
// Recipe (a FakeClock at kFixtureStart, boot id kFixtureBootId, upstreams archive and cloud):
//   1. max_age_s = 3600: append records 1-4 with times at kFixtureStart;
//   2. two hours later append records 5-12: the age bound drops 1-4 (4 "age" drops);
//   3. reopen with max_bytes = 256 KiB and full_policy reject_new; append a batch of 3 records
//      of 100 KB each: rejected whole (3 "rejected" drops, no sequence numbers used);
//   4. ack archive to 6 and cloud to 9: records 5 and 6 are deleted, 7-12 stay.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string>

#include "core/record.h"

namespace pn::store_fixture {

constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kFixtureStart = 1'767'225'600 * kSecond;  // 2026-01-01T00:00:00Z
constexpr const char* kFixtureBootId = "processnow-store-fixture-boot";
constexpr std::int64_t kFixtureMaxAgeS = 3600;
constexpr std::uint64_t kAgedRecords = 4;    // seqs 1-4, dropped by age
constexpr std::uint64_t kLastSeq = 12;       // seqs 5-12 appended after them
constexpr std::uint64_t kRejected = 3;       // one refused batch of 3
constexpr std::uint64_t kArchiveCursor = 6;  // upstream "archive"
constexpr std::uint64_t kCloudCursor = 9;    // upstream "cloud"
constexpr std::uint64_t kFirstHeld = 7;      // records 7-12 stay in the file

// Record `seq` as appended: events every 4th, three devices, five series, a wire-JSON body.
inline NewRecord FixtureRecord(std::uint64_t seq) {
  const std::int64_t base = seq <= kAgedRecords ? kFixtureStart : kFixtureStart + 7200 * kSecond;
  NewRecord r;
  r.kind = seq % 4 == 0 ? RecordKind::kEvent : RecordKind::kReading;
  r.ts_ns = base + static_cast<std::int64_t>(seq) * kSecond;
  r.device = fmt::format("line1/pump-{}", seq % 3);
  static constexpr const char* kSeries[] = {"temperature", "pressure", "flow", "current",
                                            "vibration_rms"};
  r.series = kSeries[seq % 5];
  r.body =
      r.kind == RecordKind::kEvent
          ? fmt::format(R"({{"type":"event","ts_ns":{},"device":"{}","series":"{}","kind":"alarm",)"
                        R"("rule":"high","severity":"warning","message":"above {}"}})",
                        r.ts_ns, r.device, r.series, seq * 10)
          : fmt::format(R"({{"type":"reading","ts_ns":{},"device":"{}","series":"{}","value":{}.5,)"
                        R"("unit":"degC","quality":"good"}})",
                        r.ts_ns, r.device, r.series, seq);
  return r;
}

}  // namespace pn::store_fixture
