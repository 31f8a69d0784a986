// CallSlab: in-flight attempts of one connection indexed by call id, with no allocation in
// steady state. A call id is (generation << 32 | slot); a late response for a finished
// call finds a newer generation in its slot and is dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace krpc::impl {

struct Attempt;

class CallSlab {
 public:
  uint64_t Insert(Attempt* call) {
    uint32_t index;
    if (free_.empty()) {
      index = static_cast<uint32_t>(slots_.size());
      slots_.push_back({});
    } else {
      index = free_.back();
      free_.pop_back();
    }
    slots_[index].call = call;
    return (uint64_t{slots_[index].generation} << 32) | index;
  }

  // The attempt with this id, left in place, or nullptr if it already finished.
  Attempt* Find(uint64_t id) const {
    const auto index = static_cast<uint32_t>(id);
    if (index >= slots_.size() || slots_[index].generation != static_cast<uint32_t>(id >> 32)) return nullptr;
    return slots_[index].call;
  }

  // Removes and returns the call with this id, or nullptr if it already finished.
  Attempt* Take(uint64_t id) {
    const auto index = static_cast<uint32_t>(id);
    const auto generation = static_cast<uint32_t>(id >> 32);
    if (index >= slots_.size() || slots_[index].generation != generation || !slots_[index].call) return nullptr;
    Slot& s = slots_[index];
    Attempt* call = s.call;
    s.call = nullptr;
    if (++s.generation == 0) s.generation = 1;  // id 0 is never used
    free_.push_back(index);
    return call;
  }

  // Removes every call (e.g. when the connection fails) and returns them with their ids.
  std::vector<std::pair<uint64_t, Attempt*>> TakeAll() {
    std::vector<std::pair<uint64_t, Attempt*>> out;
    for (uint32_t i = 0; i < slots_.size(); ++i) {
      if (!slots_[i].call) continue;
      const uint64_t id = (uint64_t{slots_[i].generation} << 32) | i;
      out.emplace_back(id, Take(id));
    }
    return out;
  }

  size_t size() const { return slots_.size() - free_.size(); }
  bool empty() const { return size() == 0; }

 private:
  struct Slot {
    Attempt* call = nullptr;
    uint32_t generation = 1;
  };
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
};

}  // namespace krpc::impl
