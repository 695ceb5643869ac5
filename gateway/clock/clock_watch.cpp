#include "gateway/clock/clock_watch.h"

#include <spdlog/spdlog.h>

#include <cstdlib>

namespace pn {
namespace {

constexpr std::size_t kMaxSpans = 64;  // a clock that steps more often than this is broken anyway

std::string Seconds(std::int64_t ns) {
  return fmt::format("{:+.3f} s", static_cast<double>(ns) / 1e9);
}

bool Overlap(std::int64_t lo1, std::int64_t hi1, std::int64_t lo2, std::int64_t hi2) {
  return lo1 <= hi2 && lo2 <= hi1;
}

}  // namespace

ClockWatch::ClockWatch(const Clock& clock, std::unique_ptr<SyncSource> source, Options options)
    : clock_(clock), source_(std::move(source)), options_(options) {
  const std::int64_t mono = clock_.MonotonicNs();
  const std::int64_t wall = clock_.NowNs();
  const SyncState state = source_->Read();
  Span first;
  first.base = wall - mono;
  first.synced = state != SyncState::kUnsynced;
  spans_.push_back(first);
  status_.source = source_->Describe();
  status_.synced = first.synced;
  if (state == SyncState::kUnknown) {
    spdlog::warn("clock: {} cannot be read; the clock is trusted as it is", status_.source);
    unknown_logged_ = true;
  } else if (first.synced) {
    spdlog::info("clock: {}: the system clock is synchronised", status_.source);
  } else {
    spdlog::warn(
        "clock: {}: the system clock is NOT synchronised; records get \"clock\":\"unsynced\" until "
        "it is, then their times are corrected",
        status_.source);
  }
}

ClockWatch::Change ClockWatch::Poll() {
  // The source first: an NTP client steps the clock before it says synchronised, so a sync seen
  // here comes with its step in the clocks read next (the other order could see the sync and
  // miss its step, and correct by nothing).
  const SyncState state = source_->Read();
  const std::int64_t mono = clock_.MonotonicNs();
  const std::int64_t wall = clock_.NowNs();
  const std::int64_t base = wall - mono;
  if (state == SyncState::kUnknown && !unknown_logged_) {
    spdlog::warn("clock: {} cannot be read; the clock is trusted as it is", source_->Describe());
    unknown_logged_ = true;
  }
  Change ch;
  ch.synced = state != SyncState::kUnsynced;
  const Span cur = spans_.back();
  const std::int64_t d = base - cur.base;
  ch.stepped = std::llabs(d) > options_.step_threshold_ns;
  ch.sync_changed = ch.synced != cur.synced;
  if (ch.stepped || ch.sync_changed) {
    Span next;
    next.base = base;
    next.synced = ch.synced;
    next.shift = cur.shift + (ch.stepped ? d : 0);
    spans_.push_back(next);
    while (spans_.size() > kMaxSpans) spans_.pop_front();
  } else {
    spans_.back().base = base;  // drift
  }
  if (ch.stepped) {
    ch.step_ns = d;
    spdlog::warn("clock: the wall clock jumped by {}; the rules keep a continuous time",
                 Seconds(d));
  }
  if (ch.sync_changed && ch.synced) {
    ch.corrections = CorrectSpans(base);
    spdlog::info(
        "clock: the system clock is synchronised now; {} span(s) of records taken "
        "before are corrected",
        ch.corrections.size());
  } else if (ch.sync_changed) {
    spdlog::warn(
        "clock: the system clock lost its synchronisation; records get "
        "\"clock\":\"unsynced\" until it is back");
  }
  std::lock_guard lock(status_mu_);
  status_.synced = ch.synced;
  if (ch.stepped) {
    ++status_.steps;
    status_.last_step_ns = d;
  }
  return ch;
}

std::vector<ClockCorrection> ClockWatch::CorrectSpans(std::int64_t synced_base) {
  // Every unsynced span not yet corrected, except the new current one (synced).
  std::vector<Span*> todo;
  for (std::size_t i = 0; i + 1 < spans_.size(); ++i) {
    Span& s = spans_[i];
    if (!s.synced && !s.offset && !s.ambiguous) todo.push_back(&s);
  }
  // Records of two spans whose times overlap cannot be told apart in the store when their
  // offsets differ (the clock went back while unsynchronised): leave those marked unsynced.
  const std::int64_t same = options_.step_threshold_ns / 4;
  for (Span* a : todo) {
    if (a->lo > a->hi) continue;
    for (Span& b : spans_) {
      if (&b == a || b.synced || b.lo > b.hi) continue;
      const std::int64_t off_b = b.offset ? *b.offset : synced_base - b.base;
      if (std::llabs(off_b - (synced_base - a->base)) <= same) continue;
      if (Overlap(a->lo, a->hi, b.lo, b.hi) && (b.ambiguous || !b.offset)) {
        a->ambiguous = true;
        break;
      }
    }
  }
  std::vector<ClockCorrection> out;
  std::uint64_t done = 0, left = 0;
  for (Span* s : todo) {
    if (s->ambiguous) {
      ++left;
      spdlog::warn(
          "clock: records taken unsynchronised between {} and {} (ns) overlap in time with "
          "others taken with a different offset; they stay \"clock\":\"unsynced\"",
          s->lo, s->hi);
      continue;
    }
    s->offset = synced_base - s->base;
    ++done;
    if (s->lo <= s->hi) out.push_back(ClockCorrection{s->lo, s->hi, *s->offset});
  }
  std::lock_guard lock(status_mu_);
  status_.corrections += done;
  status_.uncorrected += left;
  return out;
}

ClockWatch::Span& ClockWatch::Attribute(std::int64_t ts_ns, std::int64_t mono_ns) {
  const std::int64_t tol = options_.step_threshold_ns / 4;
  const std::int64_t stamp_base = ts_ns - mono_ns;  // the base if it was stamped right now
  Span* best = nullptr;
  std::int64_t best_latency = 0;
  for (auto it = spans_.rbegin(); it != spans_.rend(); ++it) {
    const std::int64_t latency = it->base - stamp_base;  // now - monotonic time of the stamp
    if (latency < -tol) continue;
    if (best == nullptr || latency < best_latency - tol) {
      best = &*it;
      best_latency = latency;
    }
  }
  return best != nullptr ? *best : spans_.back();
}

ClockWatch::Stamp ClockWatch::Classify(std::int64_t ts_ns, bool source_time,
                                       std::int64_t mono_now_ns) {
  if (source_time) return Stamp{ClockMark::kSynced, ts_ns, ts_ns - spans_.back().shift};
  if (spans_.size() == 1 && spans_.front().synced) return Stamp{ClockMark::kSynced, ts_ns, ts_ns};
  Span& s = Attribute(ts_ns, mono_now_ns);
  if (s.synced || s.ambiguous) {
    const ClockMark mark = s.synced ? ClockMark::kSynced : ClockMark::kUnsynced;
    return Stamp{mark, ts_ns, ts_ns - s.shift};
  }
  if (s.offset) return Stamp{ClockMark::kCorrected, ts_ns + *s.offset, ts_ns - s.shift};
  s.lo = std::min(s.lo, ts_ns);
  s.hi = std::max(s.hi, ts_ns);
  return Stamp{ClockMark::kUnsynced, ts_ns, ts_ns - s.shift};
}

ClockWatch::Stamp ClockWatch::Now() {
  const std::int64_t wall = clock_.NowNs();
  Span& s = spans_.back();
  if (s.synced) return Stamp{ClockMark::kSynced, wall, wall - s.shift};
  s.lo = std::min(s.lo, wall);
  s.hi = std::max(s.hi, wall);
  return Stamp{ClockMark::kUnsynced, wall, wall - s.shift};
}

ClockStatus ClockWatch::Status() const {
  std::lock_guard lock(status_mu_);
  return status_;
}

}  // namespace pn
