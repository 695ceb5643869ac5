#include "gateway/pipeline/forwarder.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstddef>
#include <span>
#include <string_view>

namespace pn {

Forwarder::Forwarder(Store& store, Upstream& upstream, Clock& clock, ForwarderOptions options)
    : store_(store),
      upstream_(upstream),
      clock_(clock),
      options_(std::move(options)),
      backoff_({.initial_ms = options_.retry_initial_ms,
                .max_ms = options_.retry_max_ms,
                .jitter = options_.retry_jitter},
               connect::SeedFromName(options_.name.c_str())) {
  state_.name = options_.name;
  state_.state = "starting";
}

void Forwarder::LoadCursor() {
  cursor_ = store_.Cursor(options_.name);
  acked_ = cursor_;
  sent_ = cursor_;
  cursor_loaded_ = true;
}

void Forwarder::SetState(const char* state, const std::string& error) {
  std::lock_guard lock(mu_);
  if (state_.state == "ok" && std::string_view(state) == "retrying") ++state_.reconnects;
  state_.state = state;
  if (!error.empty()) state_.last_error = error;
}

Forwarder::StepResult Forwarder::BackOff() {
  const std::int64_t wait_ms = backoff_.NextMs();
  return {Next::kBackOff, clock_.MonotonicNs() + wait_ms * 1'000'000};
}

void Forwarder::Acknowledge(std::size_t n) {
  n = std::min(n, inflight_.size());
  if (n == 0) return;
  const std::uint64_t last = inflight_[n - 1];
  inflight_.erase(inflight_.begin(), inflight_.begin() + static_cast<std::ptrdiff_t>(n));
  // A refused acknowledgement is only logged: the records were delivered, so they are not sent
  // again in this run; the store's cursor stays behind and they go again after a restart
  // (at-least-once).
  Status s = store_.Ack(options_.name, last);
  if (!s.ok()) spdlog::error("upstream {}: acknowledging failed: {}", options_.name, s.ToString());
  cursor_ = last;
  acked_ = last;
  std::lock_guard lock(mu_);
  state_.sent += n;
  state_.cursor = last;
  state_.last_success_ns = clock_.NowNs();
}

void Forwarder::ForgetInFlight() {
  inflight_.clear();
  sent_ = cursor_;
  if (pipelined_) {
    // The batch after the records in flight may have been read already: read again.
    pending_.clear();
    pending_from_ = 0;
  }
}

Forwarder::StepResult Forwarder::Step() {
  const std::string& name = options_.name;
  if (!cursor_loaded_) LoadCursor();
  if (!pipelining_asked_) {
    pipelining_asked_ = true;
    pipelined_ = options_.acknowledged && upstream_.EnablePipelining(options_.acknowledged);
  }
  if (!started_) {
    Status s = upstream_.Start();
    if (!s.ok()) {
      // Counted as a failed send: a broker that was never reachable must show in the errors
      // (and processnow_upstream_send_errors_total), not only in the state.
      {
        std::lock_guard lock(mu_);
        ++state_.errors;
      }
      spdlog::warn("upstream {}: cannot start: {}", name, s.message());
      SetState("retrying", s.message());
      return BackOff();
    }
    started_ = true;
    backoff_.Reset();
    SetState("ok");
  }
  if (!inflight_.empty()) {
    SendResult r = upstream_.Collect();
    Acknowledge(r.delivered);
    if (r.code != SendCode::kOk) return Failed(r.error);
  }
  if (pending_from_ < pending_.size() && store_.Rewrites() != pending_rewrites_) {
    // The store changed held records in place since they were read (their times corrected
    // after the clock synchronised): read again after the last record sent, send the
    // corrected ones.
    pending_from_ = pending_.size();
  }
  if (pending_from_ >= pending_.size()) {
    const std::uint64_t committed = store_.LastSeq();  // all visible to the read below
    pending_rewrites_ = store_.Rewrites();             // before the read: a later one re-reads
    auto res = store_.ReadAfter(sent_, static_cast<std::size_t>(options_.batch_records));
    if (!res) {
      spdlog::error("upstream {}: reading the store failed: {}", name, res.error().ToString());
      return BackOff();
    }
    pending_ = std::move(*res);
    pending_from_ = 0;
    if (pending_.empty()) {
      if (!inflight_.empty()) return {Next::kAwaitAcks};
      if (committed > cursor_) {
        // Records up to `committed` were committed before the read and none is held: the store
        // dropped them (max_bytes / max_age_s). Move past them instead of waiting.
        Status s = store_.Ack(name, committed);
        if (!s.ok()) {
          spdlog::error("upstream {}: acknowledging failed: {}", name, s.ToString());
          return BackOff();
        }
        cursor_ = committed;
        acked_ = committed;
        sent_ = committed;
        std::lock_guard lock(mu_);
        state_.cursor = committed;
        return {Next::kAgain};
      }
      return {Next::kCaughtUp};
    }
  }
  std::span<const Record> todo(pending_.data() + pending_from_, pending_.size() - pending_from_);
  SendResult r = upstream_.Send(todo);
  // taken: records of `todo` now in flight or delivered; delivered: records acknowledged from
  // the oldest one in flight (without pipelining nothing is in flight before the send).
  std::size_t taken = 0, delivered = 0;
  if (pipelined_) {
    if (r.code == SendCode::kError) {
      spdlog::error(
          "upstream {}: a pipelining upstream returned a permanent error; sending "
          "again: {}",
          name, r.error);
      r.code = SendCode::kRetry;
    }
    taken = todo.size();
    delivered = r.delivered;
  } else {
    delivered = std::min(r.delivered, todo.size());
    if (r.code == SendCode::kError) {
      // These records can never be delivered: count and skip them, don't block the rest.
      std::size_t skipped = todo.size() - delivered;
      spdlog::error("upstream {}: {} records rejected for good: {}", name, skipped, r.error);
      std::lock_guard lock(mu_);
      state_.rejected += skipped;
      delivered = todo.size();
    }
    taken = delivered;
  }
  for (std::size_t i = 0; i < taken; ++i) inflight_.push_back(todo[i].seq);
  if (taken > 0) sent_ = todo[taken - 1].seq;
  pending_from_ += taken;
  Acknowledge(delivered);
  if (r.code == SendCode::kRetry) return Failed(r.error);
  if (backoff_.failures() > 0) SetState("ok");
  backoff_.Reset();
  return {Next::kAgain};
}

Forwarder::StepResult Forwarder::Failed(const std::string& error) {
  ForgetInFlight();
  {
    std::lock_guard lock(mu_);
    ++state_.errors;
  }
  spdlog::warn("upstream {}: send failed, retrying in up to {} ms: {}", options_.name,
               backoff_.CeilingMs(), error);
  SetState("retrying", error);
  return BackOff();
}

void Forwarder::Finish() {
  upstream_.Stop();
  SetState("stopped");
}

UpstreamState Forwarder::State() const {
  std::lock_guard lock(mu_);
  return state_;
}

}  // namespace pn
