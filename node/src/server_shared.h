// State shared by the server and its connections. Connections hold it by shared_ptr so a call
// finishing after Shutdown() still finds it.
#pragma once

#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <shared_mutex>

#include "krpc/codec/frame.h"
#include "krpc/codec/frame_reader.h"
#include "krpc/impl/io_pool.h"
#include "krpc/log.h"
#include "krpc/net/tls_context.h"
#include "krpc/server.h"
#include "concurrency_limit.h"
#include "method_table.h"

namespace krpc::node {

struct ServerShared {
  // The I/O loops. Connections hold ServerShared, so the loops (and their io_contexts) outlive
  // every connection, even one kept alive by a handler that finishes after the server is gone.
  std::shared_ptr<impl::IoPool> pool;
  ServerOptions options;
  codec::Limits limits;
  MethodTable methods;
  std::shared_ptr<ServerObserver> observer;        // never null (a no-op by default)
  std::shared_ptr<ServerInterceptor> interceptor;  // may be null
  void* unknown_method_cookie[kProtocols] = {};
  std::unique_ptr<boost::asio::thread_pool> handler_pool;  // null: run handlers inline
  std::shared_ptr<spdlog::logger> log = krpc::log::Get("server");
  log::LimitedLog error_log{log, 20};  // what peers can trigger at will

  std::atomic<bool> draining{false};
  std::atomic<int64_t> inflight{0};
  std::atomic<int64_t> connections_open{0};
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_rejected{0};
  std::atomic<uint64_t> idle_closed{0};
  std::atomic<uint64_t> frame_errors{0};
  std::atomic<uint64_t> calls_total{0};
  std::atomic<uint64_t> accept_errors{0};
  std::atomic<uint64_t> handler_exceptions{0};
  std::atomic<uint64_t> drain_timeouts{0};
  std::atomic<uint64_t> tls_handshakes{0};
  std::atomic<uint64_t> tls_failures{0};
  std::atomic<uint64_t> authz_denied{0};
  std::atomic<uint64_t> replies_dropped{0};
  std::atomic<int64_t> streams_open{0};          // StreamCall objects alive
  std::atomic<uint64_t> stream_messages_received{0};
  std::atomic<uint64_t> stream_messages_sent{0};
  std::atomic<int64_t> stream_writes_waiting{0};
  std::atomic<uint64_t> overload_refused{0};  // by the node's or a method's concurrency limit
  std::atomic<uint64_t> early_refused{0};     // remaining deadline below the method's median handler time
  // max_inflight=auto: the node's adaptive limit (null: the fixed max_inflight alone).
  std::unique_ptr<ConcurrencyLimit> node_limit;
  // TLS material (null when tls_mode is disabled) and whether plaintext is refused.
  std::shared_ptr<net::TlsContext> tls;
  bool tls_strict = false;
  // Bytes of partly received frames held by all connections (max_pending_frame_bytes).
  std::shared_ptr<codec::MemoryBudget> frame_budget;

  // False once the I/O loops are stopped: completions from other threads then run inline
  // (nothing else touches the connections any more) instead of posting to a dead loop.
  std::shared_mutex loops_mu;
  bool loops_running = true;
  bool LoopsRunning() {
    std::shared_lock lock(loops_mu);
    return loops_running;
  }
  // Serializes completions once the loops are stopped (handler threads after a drain that
  // timed out, and the final run of what was still queued). Recursive: a queued handler may
  // complete a call inline while the queue is being run under it.
  std::recursive_mutex late_mu;

  // Signalled when in-flight calls reach zero while draining.
  std::mutex drain_mu;
  std::condition_variable drained;

  // A connection with no traffic this long is idle (and closed when it has no calls):
  // heartbeat_interval_ms * (heartbeat_miss_limit + 1).
  std::chrono::milliseconds IdleLimit() const {
    return std::chrono::milliseconds(int64_t{options.heartbeat_interval_ms} * (options.heartbeat_miss_limit + 1));
  }

  // Every accepted connection's end, adopted by a protocol or not, exactly once: the open
  // count, the idle counter (reason kIdleClose) and the observer see the same close.
  static constexpr std::string_view kIdleClose = "idle";
  void ConnectionClosed(std::string_view reason) {
    connections_open.fetch_sub(1, std::memory_order_relaxed);
    if (reason == kIdleClose) idle_closed.fetch_add(1, std::memory_order_relaxed);
    observer->OnConnectionClosed(reason);
  }

  void CallFinished() {
    if (inflight.fetch_sub(1, std::memory_order_acq_rel) == 1 && draining.load(std::memory_order_acquire)) {
      std::lock_guard lock(drain_mu);
      drained.notify_all();
    }
  }

  // krpc connections told to go away whose client has not yet answered the PING sent behind
  // the GOAWAY (nor closed). Until it does, a request it sent before reading the GOAWAY may
  // still be on the wire, and closing would destroy it unanswered.
  std::atomic<int64_t> goaway_unacked{0};
  void GoawayAcknowledged() {
    if (goaway_unacked.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard lock(drain_mu);
      drained.notify_all();
    }
  }
  // The drain may close every connection: no call in flight, and no request on its way.
  bool Drained() const { return inflight.load() == 0 && goaway_unacked.load() == 0; }
};

}  // namespace krpc::node
