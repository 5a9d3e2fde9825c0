// dally/blocking.hpp: run blocking work (SQLite, password hashing, DNS) off the runtime.
//
//     std::string hash = co_await dally::spawn_blocking([&] { return argon2(password); });
//
// `fn` runs on a process-wide, bounded pool of threads; the awaiting task is suspended
// meanwhile (its runtime keeps running other tasks) and resumes on its own runtime with
// fn's value, or fn's exception rethrown. Threads start on demand up to the limit and
// exit after an idle period. Work is not cancellable once it runs: a cancelled task still
// waits for its fn to return. If the task's frame is destroyed first (runtime shutdown),
// fn still finishes on the pool and its result is dropped.
#pragma once

#include <chrono>
#include <coroutine>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include "dally/detail/queue.hpp"
#include "dally/runtime.hpp"

namespace dally {

struct BlockingPoolOptions {
    // Most threads running blocking work at once; more work waits in a FIFO queue.
    unsigned max_threads = 64;
    // An idle thread exits after this long.
    std::chrono::milliseconds idle_timeout{10000};
};

// Sets the pool's limits (any time; applies to threads started from then on). Thread-safe.
void configure_blocking_pool(const BlockingPoolOptions& options);

// Threads the pool has now, for metrics and tests. Thread-safe.
unsigned blocking_pool_threads() noexcept;

namespace detail {

struct BlockingJob {
    virtual ~BlockingJob() = default;
    virtual void run() noexcept = 0;
};

// Queues `job` on the pool.
void submit_blocking(std::shared_ptr<BlockingJob> job);

// The waiting side of a job: resumed on its runtime unless its frame went away first.
struct BlockingWaiter : MpscNode {
    std::mutex mutex;
    bool abandoned = false;
    Runtime* runtime = nullptr;
    std::coroutine_handle<> handle{};
    std::shared_ptr<BlockingWaiter> self;  // keeps the state alive while in the inbox
};

// Called by the job when fn has returned: posts the resume to the waiter's runtime.
void blocking_done(const std::shared_ptr<BlockingWaiter>& waiter) noexcept;

template <class F>
class BlockingAwaitable {
public:
    using R = std::invoke_result_t<F&>;

    explicit BlockingAwaitable(F fn) : m_state(std::make_shared<State>(std::move(fn))) {}
    BlockingAwaitable(BlockingAwaitable&&) noexcept = default;
    ~BlockingAwaitable() {
        if (m_state) {
            std::lock_guard lock(m_state->mutex);
            m_state->abandoned = true;
        }
    }

    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
        Runtime* rt = Runtime::current();
        if (rt == nullptr) throw NoRuntimeError("co_await spawn_blocking");
        m_state->runtime = rt;
        m_state->handle = h;
        submit_blocking(m_state);
    }
    R await_resume() {
        if (m_state->error) std::rethrow_exception(m_state->error);
        if constexpr (!std::is_void_v<R>) return std::move(*m_state->value);
    }

private:
    struct Unit {};
    using Stored = std::conditional_t<std::is_void_v<R>, Unit, R>;

    struct State final : BlockingJob, BlockingWaiter, std::enable_shared_from_this<State> {
        explicit State(F f) : fn(std::move(f)) {}
        F fn;
        std::optional<Stored> value;
        std::exception_ptr error;
        void run() noexcept override {
            try {
                if constexpr (std::is_void_v<R>) {
                    fn();
                    value.emplace();
                } else {
                    value.emplace(fn());
                }
            } catch (...) {
                error = std::current_exception();
            }
            blocking_done(std::static_pointer_cast<BlockingWaiter>(this->shared_from_this()));
        }
    };
    std::shared_ptr<State> m_state;
};

}  // namespace detail

// Runs `fn()` on the blocking pool; co_await the result on the calling task's runtime.
// `fn` is moved into the pool job; references it captures must outlive the co_await.
template <class F>
[[nodiscard]] detail::BlockingAwaitable<std::decay_t<F>> spawn_blocking(F&& fn) {
    return detail::BlockingAwaitable<std::decay_t<F>>(std::forward<F>(fn));
}

}  // namespace dally
