// ClockWatch on a FakeClock (whose wall clock can jump) and a sync source the test sets: the
// boot of a Raspberry Pi without a real-time clock, NTP's first sync, jumps while synchronised,
// and the cases where a correction would not be sound.
#include "gateway/clock/clock_watch.h"

#include <doctest/doctest.h>

#include <memory>

namespace pn {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kBoot = 1000 * kSecond;           // the wall clock at boot: 1970
constexpr std::int64_t kReal = 1'790'000'000 * kSecond;  // what NTP says it is
constexpr std::int64_t kStep = kReal - kBoot;            // NTP's step

struct Rig {
  explicit Rig(SyncState state, std::int64_t wall = kBoot) : clock(5 * kSecond) {
    clock.StepWall(wall - 5 * kSecond);
    auto s = std::make_unique<ManualSyncSource>(state);
    source = s.get();
    watch = std::make_unique<ClockWatch>(clock, std::move(s), ClockWatch::Options{});
  }
  FakeClock clock;
  ManualSyncSource* source = nullptr;
  std::unique_ptr<ClockWatch> watch;
};

TEST_CASE("a synchronised clock marks nothing and changes no time") {
  Rig rig(SyncState::kSynced, kReal);
  rig.clock.Advance(kSecond);
  ClockWatch::Change ch = rig.watch->Poll();
  CHECK_FALSE(ch.stepped);
  CHECK_FALSE(ch.sync_changed);
  const std::int64_t ts = rig.clock.NowNs();
  ClockWatch::Stamp st = rig.watch->Classify(ts, false, rig.clock.MonotonicNs());
  CHECK(st.mark == ClockMark::kSynced);
  CHECK(st.ts_ns == ts);
  CHECK(st.rules_ts_ns == ts);
  CHECK(rig.watch->Now().rules_ts_ns == ts);
  CHECK(rig.watch->Status().synced);
}

TEST_CASE("drift below step_threshold_ms is not a jump") {
  Rig rig(SyncState::kSynced, kReal);
  for (int i = 0; i < 10; ++i) {
    rig.clock.Advance(kSecond);
    rig.clock.StepWall(300'000'000);  // 0.3 s a second: far more than any NTP slew
    CHECK_FALSE(rig.watch->Poll().stepped);
  }
  CHECK(rig.watch->Status().steps == 0);
  const std::int64_t ts = rig.clock.NowNs();
  CHECK(rig.watch->Classify(ts, false, rig.clock.MonotonicNs()).ts_ns == ts);
}

TEST_CASE("booted unsynchronised: readings are marked, then corrected when NTP steps the clock") {
  Rig rig(SyncState::kUnsynced);
  CHECK_FALSE(rig.watch->Status().synced);
  rig.clock.Advance(kSecond);
  const std::int64_t a = rig.clock.NowNs();
  ClockWatch::Stamp sa = rig.watch->Classify(a, false, rig.clock.MonotonicNs());
  CHECK(sa.mark == ClockMark::kUnsynced);
  CHECK(sa.ts_ns == a);  // the offset is not known yet
  rig.clock.Advance(kSecond);
  const std::int64_t b = rig.clock.NowNs();  // stamped now, reaches the rules after the sync
  CHECK(rig.watch->Poll().corrections.empty());

  // NTP syncs: the wall clock jumps 56 years forward and the kernel says synchronised.
  rig.clock.Advance(200'000'000);
  rig.clock.StepWall(kStep);
  rig.source->Set(SyncState::kSynced);
  ClockWatch::Change ch = rig.watch->Poll();
  CHECK(ch.stepped);
  CHECK(ch.step_ns == kStep);
  CHECK(ch.sync_changed);
  CHECK(ch.synced);
  REQUIRE(ch.corrections.size() == 1);
  CHECK(ch.corrections[0].ts_lo_ns == a);
  CHECK(ch.corrections[0].ts_hi_ns == a);  // b was not classified yet
  CHECK(ch.corrections[0].offset_ns == kStep);

  // b was taken on the old clock: it is corrected on the way, not in the store.
  ClockWatch::Stamp sb = rig.watch->Classify(b, false, rig.clock.MonotonicNs());
  CHECK(sb.mark == ClockMark::kCorrected);
  CHECK(sb.ts_ns == b + kStep);
  // A reading taken now is right as it is.
  rig.clock.Advance(kSecond);
  const std::int64_t c = rig.clock.NowNs();
  ClockWatch::Stamp sc = rig.watch->Classify(c, false, rig.clock.MonotonicNs());
  CHECK(sc.mark == ClockMark::kSynced);
  CHECK(sc.ts_ns == c);
  // The rules' timeline has no jump: a to c is the monotonic time between them, 2.2 s.
  CHECK(sc.rules_ts_ns - sa.rules_ts_ns == 2'200'000'000);
  CHECK(sb.rules_ts_ns - sa.rules_ts_ns == kSecond);
  // And their recorded times agree with it once corrected.
  CHECK(sc.ts_ns - sb.ts_ns == 1'200'000'000);
  ClockStatus status = rig.watch->Status();
  CHECK(status.synced);
  CHECK(status.steps == 1);
  CHECK(status.corrections == 1);
}

TEST_CASE("a jump while synchronised moves the recorded time but not the rules' timeline") {
  Rig rig(SyncState::kSynced, kReal);
  rig.clock.Advance(kSecond);
  const ClockWatch::Stamp before = rig.watch->Now();
  rig.clock.Advance(kSecond);
  rig.clock.StepWall(-3600 * kSecond);  // someone set the date back an hour
  ClockWatch::Change ch = rig.watch->Poll();
  CHECK(ch.stepped);
  CHECK(ch.step_ns == -3600 * kSecond);
  CHECK(ch.corrections.empty());  // it was synchronised: nothing to correct
  const ClockWatch::Stamp after = rig.watch->Now();
  CHECK(after.mark == ClockMark::kSynced);
  CHECK(after.ts_ns == rig.clock.NowNs());
  CHECK(after.rules_ts_ns - before.rules_ts_ns == kSecond);  // never backwards
  // A reading stamped before the jump keeps its time; one after it is on the same timeline.
  const std::int64_t late = before.ts_ns + 500'000'000;
  ClockWatch::Stamp s = rig.watch->Classify(late, false, rig.clock.MonotonicNs());
  CHECK(s.ts_ns == late);
  CHECK(s.rules_ts_ns == late);
}

TEST_CASE("a source's own timestamps are never marked or corrected") {
  Rig rig(SyncState::kUnsynced);
  const std::int64_t device_ts = kReal + 42;
  ClockWatch::Stamp st = rig.watch->Classify(device_ts, true, rig.clock.MonotonicNs());
  CHECK(st.mark == ClockMark::kSynced);
  CHECK(st.ts_ns == device_ts);
}

TEST_CASE("records of two unsynchronised spans that overlap in time are left unsynced") {
  Rig rig(SyncState::kUnsynced);
  rig.clock.Advance(10 * kSecond);
  const std::int64_t a = rig.clock.NowNs();
  CHECK(rig.watch->Classify(a, false, rig.clock.MonotonicNs()).mark == ClockMark::kUnsynced);
  rig.clock.StepWall(-20 * kSecond);  // set back while still unsynchronised
  rig.clock.Advance(kSecond);
  CHECK(rig.watch->Poll().stepped);
  const std::int64_t b = rig.clock.NowNs();  // earlier than a: the two spans overlap in time
  REQUIRE(b < a);
  CHECK(rig.watch->Classify(b, false, rig.clock.MonotonicNs()).mark == ClockMark::kUnsynced);
  rig.clock.Advance(kSecond);
  const std::int64_t b2 = rig.clock.NowNs();
  CHECK(rig.watch->Classify(b2, false, rig.clock.MonotonicNs()).mark == ClockMark::kUnsynced);
  rig.clock.Advance(20 * kSecond);
  const std::int64_t b3 = rig.clock.NowNs();
  CHECK(rig.watch->Classify(b3, false, rig.clock.MonotonicNs()).mark == ClockMark::kUnsynced);
  REQUIRE(b3 > a);  // b..b3 covers a: a record at a could be from either span

  rig.clock.StepWall(kStep);
  rig.source->Set(SyncState::kSynced);
  rig.clock.Advance(kSecond);
  ClockWatch::Change ch = rig.watch->Poll();
  CHECK(ch.corrections.empty());
  CHECK(rig.watch->Status().uncorrected == 2);
  // Late readings of either span stay marked unsynced, with their time as taken.
  ClockWatch::Stamp late = rig.watch->Classify(b3, false, rig.clock.MonotonicNs());
  CHECK(late.mark == ClockMark::kUnsynced);
  CHECK(late.ts_ns == b3);
}

TEST_CASE("losing and regaining synchronisation without a jump corrects by the drift only") {
  Rig rig(SyncState::kSynced, kReal);
  rig.clock.Advance(kSecond);
  rig.source->Set(SyncState::kUnsynced);
  ClockWatch::Change lost = rig.watch->Poll();
  CHECK(lost.sync_changed);
  CHECK_FALSE(lost.synced);
  rig.clock.Advance(kSecond);
  const std::int64_t a = rig.clock.NowNs();
  CHECK(rig.watch->Classify(a, false, rig.clock.MonotonicNs()).mark == ClockMark::kUnsynced);
  rig.clock.Advance(kSecond);
  rig.clock.StepWall(2'000'000);  // 2 ms of drift found at the resync
  rig.source->Set(SyncState::kSynced);
  ClockWatch::Change back = rig.watch->Poll();
  CHECK_FALSE(back.stepped);
  REQUIRE(back.corrections.size() == 1);
  CHECK(back.corrections[0].offset_ns == 2'000'000);
}

}  // namespace
}  // namespace pn
