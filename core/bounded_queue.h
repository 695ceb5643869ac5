// BoundedQueue<T>: a bounded multi-producer, multi-consumer FIFO with an overflow policy.
//
// Drivers push readings; the rules stage pops them in batches. When the queue is full:
//   kBlock       the producer waits until there is room (back-pressure to the driver), or until
//                the queue is closed.
//   kDropOldest  the oldest queued item is discarded to make room, and counted in dropped.
// Close() wakes every waiter: later pushes fail, pops drain what is left and then return 0.
//
// Thread-safety: every method is safe for concurrent access.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

namespace pn {

enum class OverflowPolicy { kBlock, kDropOldest };

std::optional<OverflowPolicy> ParseOverflowPolicy(std::string_view name);

struct QueueCounters {
  std::uint64_t pushed = 0;    // items accepted
  std::uint64_t popped = 0;    // items handed to consumers
  std::uint64_t dropped = 0;   // items discarded by kDropOldest
  std::uint64_t rejected = 0;  // pushes refused because the queue was closed
  std::uint64_t blocked = 0;   // pushes that had to wait for room (kBlock)
  std::size_t depth = 0;       // items queued now
  std::size_t high_water = 0;  // largest depth seen
};

template <typename T>
class BoundedQueue {
 public:
  // REQUIRES: capacity > 0.
  BoundedQueue(std::size_t capacity, OverflowPolicy policy)
      : capacity_(capacity), policy_(policy) {}

  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  // Returns false only when the queue is closed (the item is not queued).
  bool Push(T item) {
    std::unique_lock lock(mu_);
    if (!MakeRoomLocked(lock, 1)) return false;
    items_.push_back(std::move(item));
    AfterPushLocked(1);
    lock.unlock();
    not_empty_.notify_one();
    return true;
  }

  // Pushes every item in order; with kBlock it may wait several times. Returns how many were
  // queued (fewer than items.size() only if the queue was closed meanwhile).
  std::size_t PushBatch(std::vector<T>& items) {
    std::size_t done = 0;
    std::unique_lock lock(mu_);
    while (done < items.size()) {
      std::size_t want = std::min(items.size() - done, capacity_);
      if (!MakeRoomLocked(lock, policy_ == OverflowPolicy::kBlock ? 1 : want)) break;
      std::size_t room = policy_ == OverflowPolicy::kBlock ? capacity_ - items_.size() : want;
      std::size_t n = std::min(room, items.size() - done);
      for (std::size_t i = 0; i < n; ++i) items_.push_back(std::move(items[done + i]));
      done += n;
      AfterPushLocked(n);
      not_empty_.notify_all();
    }
    return done;
  }

  // Moves up to max_items into out (appending). Waits up to `wait` for the first item.
  // Returns the number moved; 0 means timeout, or closed and drained.
  std::size_t PopBatch(std::vector<T>& out, std::size_t max_items, std::chrono::milliseconds wait) {
    std::unique_lock lock(mu_);
    if (!not_empty_.wait_for(lock, wait, [&] { return !items_.empty() || closed_; })) return 0;
    std::size_t n = std::min(max_items, items_.size());
    for (std::size_t i = 0; i < n; ++i) {
      out.push_back(std::move(items_.front()));
      items_.pop_front();
    }
    counters_.popped += n;
    counters_.depth = items_.size();
    lock.unlock();
    if (n > 0) not_full_.notify_all();
    return n;
  }

  void Close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  bool closed() const {
    std::lock_guard lock(mu_);
    return closed_;
  }
  std::size_t capacity() const { return capacity_; }
  OverflowPolicy policy() const { return policy_; }
  QueueCounters counters() const {
    std::lock_guard lock(mu_);
    return counters_;
  }

 private:
  // Ensures room for `need` more items according to the policy. Returns false if closed.
  bool MakeRoomLocked(std::unique_lock<std::mutex>& lock, std::size_t need) {
    if (closed_) {
      ++counters_.rejected;
      return false;
    }
    if (items_.size() + need <= capacity_) return true;
    if (policy_ == OverflowPolicy::kDropOldest) {
      while (items_.size() + need > capacity_ && !items_.empty()) {
        items_.pop_front();
        ++counters_.dropped;
      }
      return true;
    }
    ++counters_.blocked;
    not_full_.wait(lock, [&] { return closed_ || items_.size() + need <= capacity_; });
    if (closed_) {
      ++counters_.rejected;
      return false;
    }
    return true;
  }

  void AfterPushLocked(std::size_t n) {
    counters_.pushed += n;
    counters_.depth = items_.size();
    counters_.high_water = std::max(counters_.high_water, items_.size());
  }

  const std::size_t capacity_;
  const OverflowPolicy policy_;
  mutable std::mutex mu_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<T> items_;
  bool closed_ = false;
  QueueCounters counters_;
};

inline std::optional<OverflowPolicy> ParseOverflowPolicy(std::string_view name) {
  if (name == "block") return OverflowPolicy::kBlock;
  if (name == "drop_oldest") return OverflowPolicy::kDropOldest;
  return std::nullopt;
}

}  // namespace pn
