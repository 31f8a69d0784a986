#include "krpc/impl/io_pool.h"

#include <pthread.h>

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
    loop->context = std::make_unique<boost::asio::io_context>(1);
    loop->work = std::make_unique<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(
        loop->context->get_executor());
    auto* ctx = loop->context.get();
    const std::string thread_name = (name + "-" + std::to_string(i)).substr(0, 15);
    loop->thread = std::thread([ctx, thread_name] {
      pthread_setname_np(pthread_self(), thread_name.c_str());
      tls_loop = ctx;
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

void IoPool::Stop() {
  if (stopped_.exchange(true)) return;
  for (auto& l : loops_) l->work.reset();
  for (auto& l : loops_) l->context->stop();
  for (auto& l : loops_) {
    if (l->thread.joinable()) l->thread.join();
  }
}

}  // namespace krpc::impl
