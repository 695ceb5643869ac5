// ClockWatch: follows the wall clock against the monotonic clock and the sync source, so that
// records taken while the clock was wrong are marked, corrected when the offset becomes known,
// and the rules see time that never jumps. gateway/clock/README.md describes the behaviour.
//
// The model: the wall clock is the monotonic clock plus a base (wall - monotonic). The base moves
// slowly (NTP frequency discipline) or jumps (a step: NTP's first sync, `date -s`). Time is cut
// into spans at every step and every change of sync state; each span keeps its base, whether the
// clock was synchronised, the total of the steps before it ("shift"), and, once the clock
// synchronised after it, the offset that corrects its times.
//
// A timestamp taken by the gateway's clock in span S is S.base + (monotonic time of the stamp),
// so `ts - S.base` is that monotonic time, at most "now": Classify() attributes a timestamp to
// the span whose base gives the smallest non-negative latency (ties go to the newer span). That
// is exact as long as a record reaches the rules stage faster than the size of a step, and it
// needs no per-reading bookkeeping by the drivers.
//
// Thread-safety: one thread (the rules stage) calls everything but Status(), which any thread
// may call.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/reading.h"
#include "gateway/clock/sync_source.h"

namespace pn {

// Records marked unsynced whose time lies in [ts_lo_ns, ts_hi_ns] get ts + offset_ns and the
// mark "corrected" (Store::CorrectClock).
struct ClockCorrection {
  std::int64_t ts_lo_ns = 0;
  std::int64_t ts_hi_ns = 0;
  std::int64_t offset_ns = 0;
};

struct ClockStatus {
  std::string source;             // SyncSource::Describe()
  bool synced = true;             // as of the last Poll
  std::uint64_t steps = 0;        // jumps of the wall clock seen since the start
  std::int64_t last_step_ns = 0;  // the last jump, signed (0: none)
  std::uint64_t corrections = 0;  // spans of unsynchronised time corrected
  std::uint64_t uncorrected = 0;  // spans that could not be corrected soundly (ambiguous)
};

class ClockWatch {
 public:
  struct Options {
    // A change of the base larger than this is a step (a jump), smaller ones are drift.
    std::int64_t step_threshold_ns = 1'000'000'000;
  };

  ClockWatch(const Clock& clock, std::unique_ptr<SyncSource> source, Options options);

  struct Change {
    bool stepped = false;
    std::int64_t step_ns = 0;
    bool sync_changed = false;
    bool synced = true;
    // Spans of unsynchronised time whose records in the store can now be corrected.
    std::vector<ClockCorrection> corrections;
  };
  // Reads the sync source and both clocks; logs steps and sync changes. Call about once a second.
  Change Poll();

  struct Stamp {
    ClockMark mark = ClockMark::kSynced;
    std::int64_t ts_ns = 0;        // the time to record (corrected when the offset is known)
    std::int64_t rules_ts_ns = 0;  // the same moment on the rules' timeline (no jumps)
  };
  // For a time taken by the gateway's clock (source_time = false) or the source's own
  // (source_time = true: never marked or corrected; put on the rules' timeline with the
  // current shift). `mono_now_ns`: the clock's MonotonicNs() read after the time was taken
  // (the rules stage reads it once per batch, not per reading).
  Stamp Classify(std::int64_t ts_ns, bool source_time, std::int64_t mono_now_ns);

  // "Now" on the rules' timeline (the wall clock less the steps seen), and the same moment as it
  // should be recorded, with its mark (for the events of a rules tick).
  Stamp Now();

  ClockStatus Status() const;

 private:
  struct Span {
    std::int64_t base = 0;  // wall - monotonic, updated by drift while the span is current
    bool synced = true;
    std::int64_t shift = 0;              // total of the steps before this span
    std::optional<std::int64_t> offset;  // set when corrected
    bool ambiguous = false;              // unsynced, and could not be corrected soundly
    // Times attributed to this span (for the correction's range); lo > hi: none.
    std::int64_t lo = INT64_MAX;
    std::int64_t hi = INT64_MIN;
  };
  Span& Attribute(std::int64_t ts_ns, std::int64_t mono_ns);
  std::vector<ClockCorrection> CorrectSpans(std::int64_t synced_base);

  const Clock& clock_;
  std::unique_ptr<SyncSource> source_;
  Options options_;
  std::deque<Span> spans_;  // oldest first; never empty; bounded
  bool unknown_logged_ = false;

  mutable std::mutex status_mu_;
  ClockStatus status_;
};

}  // namespace pn
