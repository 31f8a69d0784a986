// Task<T>: the coroutine type of krpc's typed stubs and coroutine handlers.
//
//   krpc::Task<int> Answer() { co_return 42; }
//   krpc::Task<krpc::Status> Handler(...) {
//     auto r = co_await client.Echo(ctx, req);   // an RPC: suspends, resumes on an I/O thread
//     int x = co_await Answer();                 // another task: runs now, inline
//     co_return krpc::Status::Ok();
//   }
//   int v = krpc::SyncWait(Answer());            // from plain code (main, tests): blocks
//
// A Task is lazy: it starts when awaited (or given to SyncWait/Spawn) and resumes its awaiter
// directly when it finishes (symmetric transfer). One awaiter, awaited once. GCC 12 evaluates a
// co_await inside the conditional operator even on the branch not taken: use if/else. An exception thrown in the body comes out of `co_await`. A task
// resumed by an RPC continues on the client I/O thread that completed the call: keep blocking
// work off it (co_await more calls, or hand it to your own pool).
#pragma once

#include <condition_variable>
#include <coroutine>
#include <exception>
#include <mutex>
#include <optional>
#include <utility>

namespace krpc {

template <typename T = void>
class Task;

namespace impl {

struct TaskPromiseBase {
  std::coroutine_handle<> continuation = std::noop_coroutine();
  std::exception_ptr error;

  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <typename P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) const noexcept {
      return h.promise().continuation;
    }
    void await_resume() const noexcept {}
  };
  std::suspend_always initial_suspend() const noexcept { return {}; }
  FinalAwaiter final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept { error = std::current_exception(); }
};

template <typename T>
struct TaskPromise : TaskPromiseBase {
  std::optional<T> value;
  Task<T> get_return_object() noexcept;
  void return_value(T v) { value.emplace(std::move(v)); }
  T take() {
    if (error) std::rethrow_exception(error);
    return std::move(*value);
  }
};

template <>
struct TaskPromise<void> : TaskPromiseBase {
  Task<void> get_return_object() noexcept;
  void return_void() const noexcept {}
  void take() const {
    if (error) std::rethrow_exception(error);
  }
};

// An eagerly started coroutine that frees itself when it ends (the root of Spawn/SyncWait).
struct Detached {
  struct promise_type {
    Detached get_return_object() const noexcept { return {}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { std::terminate(); }  // the roots catch everything
  };
};

}  // namespace impl

template <typename T>
class [[nodiscard]] Task {
 public:
  using promise_type = impl::TaskPromise<T>;
  using value_type = T;

  Task(Task&& other) noexcept : h_(std::exchange(other.h_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      if (h_) h_.destroy();
      h_ = std::exchange(other.h_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() {
    if (h_) h_.destroy();
  }

  struct Awaiter {
    std::coroutine_handle<promise_type> h;
    bool await_ready() const noexcept { return !h || h.done(); }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
      h.promise().continuation = awaiting;
      return h;
    }
    T await_resume() { return h.promise().take(); }
  };
  Awaiter operator co_await() & noexcept { return Awaiter{h_}; }
  Awaiter operator co_await() && noexcept { return Awaiter{h_}; }

 private:
  friend struct impl::TaskPromise<T>;
  explicit Task(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
  std::coroutine_handle<promise_type> h_;
};

namespace impl {
template <typename T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}
inline Task<void> TaskPromise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}

template <typename T, typename F>
Detached SpawnRoot(Task<T> task, F done) {
  std::exception_ptr error;
  if constexpr (std::is_void_v<T>) {
    try {
      co_await std::move(task);
    } catch (...) {
      error = std::current_exception();
    }
    done(error);
  } else {
    std::optional<T> value;
    try {
      value.emplace(co_await std::move(task));
    } catch (...) {
      error = std::current_exception();
    }
    done(std::move(value), error);
  }
}
}  // namespace impl

// Starts `task` now, on this thread, without waiting for it. `done` runs when it finishes:
// for Task<void> as done(std::exception_ptr), otherwise done(std::optional<T>, std::exception_ptr)
// (the optional is empty when the task threw).
template <typename T, typename F>
void Spawn(Task<T> task, F done) {
  impl::SpawnRoot(std::move(task), std::move(done));
}

// Runs `task` to completion and returns its value (rethrows its exception). Blocks the
// calling thread: never call it on a client I/O thread or inside a handler.
template <typename T>
T SyncWait(Task<T> task) {
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  std::exception_ptr error;
  std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> result;
  auto finish = [&](auto&& fill) {
    std::lock_guard lock(mu);  // notify under the lock: the waiter owns mu, cv and the result
    fill();
    finished = true;
    cv.notify_all();
  };
  if constexpr (std::is_void_v<T>) {
    Spawn(std::move(task), [&](std::exception_ptr e) { finish([&] { error = e; }); });
  } else {
    Spawn(std::move(task), [&](std::optional<T> v, std::exception_ptr e) {
      finish([&] {
        error = e;
        result = std::move(v);
      });
    });
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return finished; });
  if (error) std::rethrow_exception(error);
  if constexpr (!std::is_void_v<T>) return std::move(*result);
}

}  // namespace krpc
