#include "krpc/impl/io_pool.h"

#include <pthread.h>

#include <boost/asio/steady_timer.hpp>

#include "krpc/log.h"

namespace krpc::impl {
namespace {
thread_local const boost::asio::io_context* tls_loop = nullptr;
}  // namespace

const boost::asio::io_context* CurrentLoop() { return tls_loop; }

IoPool::IoPool(int threads, std::string name) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 0; i < threads; ++i) {
    auto loop = std::make_unique<Loop>();
    loop->context = std::make_shared<boost::asio::io_context>(1);
    // Create the loop's reactor (epoll, eventfd, timerfd) now. Asio creates it lazily, on the
    // first socket or timer bound to the context; if that first socket is one the acceptor
    // thread accepts while the process is out of descriptors, the creation throws there.
    { boost::asio::steady_timer warm(*loop->context); }
    loop->work = std::make_unique<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(
        loop->context->get_executor());
    const std::string thread_name = (name + "-" + std::to_string(i)).substr(0, 15);
    loop->thread = std::thread([ctx = loop->context, thread_name] {
      pthread_setname_np(pthread_self(), thread_name.c_str());
      tls_loop = ctx.get();
      for (;;) {
        try {
          ctx->run();
          return;
        } catch (const std::exception& e) {
          // A handler must never take the loop down; log and keep serving.
          log::Get("io")->error("uncaught exception in I/O loop {}: {}", thread_name, e.what());
        }
      }
    });
    loops_.push_back(std::move(loop));
  }
}

IoPool::~IoPool() { Stop(); }

boost::asio::io_context& IoPool::Next() {
  return *loops_[next_.fetch_add(1, std::memory_order_relaxed) % loops_.size()]->context;
}

boost::asio::io_context& IoPool::ForTimer() {
  if (const auto* current = CurrentLoop()) {
    for (auto& l : loops_) {
      if (l->context.get() == current) return *l->context;
    }
  }
  return *loops_[next_timer_.fetch_add(1, std::memory_order_relaxed) % loops_.size()]->context;
}

void IoPool::Stop() {
  if (stopped_.exchange(true)) return;
  for (auto& l : loops_) l->work.reset();
  for (auto& l : loops_) l->context->stop();
  for (auto& l : loops_) {
    if (!l->thread.joinable()) continue;
    if (l->thread.get_id() == std::this_thread::get_id()) {
      l->thread.detach();  // see the header: it cannot join itself; it owns its context
    } else {
      l->thread.join();
    }
  }
}

}  // namespace krpc::impl
