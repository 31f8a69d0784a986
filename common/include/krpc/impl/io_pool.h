// IoPool: N threads, each running its own io_context (one loop per thread). A connection is
// bound to one context for its whole life, so its state needs no lock. Internal header.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace krpc::impl {

// The io_context the calling thread runs (an IoPool thread), or nullptr. Comparing it with a
// connection's context never touches the context, so it is safe even after the pool is gone.
const boost::asio::io_context* CurrentLoop();

class IoPool {
 public:
  // threads <= 0 means one per core.
  IoPool(int threads, std::string name);
  ~IoPool();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  // Round-robin pick of the context that will own a new connection (or a subchannel and its
  // connections). Only owners of connections take from this counter, so N owners created in a
  // row land on N different loops whatever else is created between them.
  boost::asio::io_context& Next();
  // A context for a timer: the calling thread's own loop when it is one of this pool's (no
  // cross-thread post), else a round-robin pick that leaves Next()'s placement alone.
  boost::asio::io_context& ForTimer();
  boost::asio::io_context& At(size_t i) { return *loops_[i]->context; }
  size_t size() const { return loops_.size(); }
  // Stops every loop and joins the threads; idempotent. Called from one of the pool's own
  // threads (the last owner of a client runtime can be a completion running on its loop),
  // that thread cannot join itself: it is detached and keeps its io_context alive until the
  // running handler returns, then exits.
  void Stop();

 private:
  struct Loop {
    // Shared with the loop's thread, so a detached thread never runs a destroyed context.
    std::shared_ptr<boost::asio::io_context> context;
    std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
    std::thread thread;
  };
  std::vector<std::unique_ptr<Loop>> loops_;
  std::atomic<size_t> next_{0};
  std::atomic<size_t> next_timer_{0};
  std::atomic<bool> stopped_{false};
};

}  // namespace krpc::impl
