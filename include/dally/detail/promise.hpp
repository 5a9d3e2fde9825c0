// dally/detail/promise.hpp: coroutine promise shared by every Task, and the per-task root
// record that spawned tasks use for joining, cancellation and shutdown. Internal.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <type_traits>

#include "dally/detail/queue.hpp"

namespace dally {
class Runtime;
}

namespace dally::detail {

struct Op;
struct CancelState;
struct Waiter;

// Join state values; any other value is a JoinWaiter*.
inline constexpr std::uintptr_t join_running = 0;
inline constexpr std::uintptr_t join_done = 1;

// A coroutine waiting on a JoinHandle; lives in the waiter's frame.
struct JoinWaiter : MpscNode {
    std::coroutine_handle<> handle;
    Runtime* runtime = nullptr;
};

// What a spawned ("root") task needs beyond an awaited one. Every promise has one so a
// spawn costs no allocation beyond the coroutine frame; awaited tasks point at their root's.
struct TaskRoot : MpscNode {
    std::atomic<std::uint32_t> refs{0};         // running + JoinHandle + pending messages
    std::atomic<std::uintptr_t> join{join_running};
    std::atomic<bool> cancel_requested{false};
    std::atomic<Runtime*> runtime{nullptr};     // runtime it currently runs on
    Op* current_op = nullptr;                   // touched only on `runtime`'s thread
    Waiter* current_wait = nullptr;             // parked on a sync primitive; same thread
    TaskRoot* live_prev = nullptr;              // runtime's list of live tasks
    TaskRoot* live_next = nullptr;
    std::shared_ptr<CancelState> source;        // CancelSource it was spawned with
    std::coroutine_handle<> handle;             // the root coroutine
};

// Called by the final awaiter of a root task; returns the coroutine to run next, or null.
std::coroutine_handle<> root_finished(TaskRoot& root, std::exception_ptr* error) noexcept;

// Continues with `h` once the calling coroutine has suspended, in constant stack. This is
// symmetric transfer done by a per-thread trampoline instead of a tail call, because
// compilers only guarantee that tail call in optimised builds without sanitizers.
void transfer(std::coroutine_handle<> h) noexcept;
// Resumes `h` as the base of a trampoline (what the runtime loop does for each task).
void resume(std::coroutine_handle<> h) noexcept;

// Signals handed to wait_signal (bit n-1 for signal n); runtime threads keep them blocked
// so the kernel leaves them pending for the signalfd instead of interrupting a runtime.
extern std::atomic<std::uint64_t> g_managed_signals;
// Blocks the managed signals in the calling thread.
void block_managed_signals() noexcept;
// Drops one reference; destroys the frame on the last one.
void root_release(TaskRoot& root) noexcept;
// Thread-safe: cancels the task's in-flight operation or wait (sync.hpp) and fails its later
// ones.
void root_request_cancel(TaskRoot& root) noexcept;
// Leaves the CancelSource the task was spawned with (when it finishes or is destroyed).
void cancel_state_remove(TaskRoot& root) noexcept;

struct PromiseBase {
    std::coroutine_handle<> continuation{};
    TaskRoot* root = nullptr;
    std::exception_ptr exception{};
    TaskRoot root_state{};

    PromiseBase() noexcept = default;
    PromiseBase(const PromiseBase&) = delete;
    PromiseBase& operator=(const PromiseBase&) = delete;
    ~PromiseBase() {
        if (root_state.source) cancel_state_remove(root_state);
    }

    std::suspend_always initial_suspend() noexcept { return {}; }

    struct FinalAwaiter {
        bool await_ready() noexcept { return false; }
        template <class P>
        void await_suspend(std::coroutine_handle<P> h) noexcept {
            PromiseBase& p = h.promise();
            if (p.continuation) {
                transfer(p.continuation);
            } else if (std::coroutine_handle<> next = root_finished(p.root_state, &p.exception)) {
                transfer(next);
            }
        }
        void await_resume() noexcept {}
    };
    FinalAwaiter final_suspend() noexcept { return {}; }
    void unhandled_exception() noexcept { exception = std::current_exception(); }
};

// The root of the coroutine awaiting an operation, or null for a foreign coroutine type.
template <class P>
TaskRoot* root_of(std::coroutine_handle<P> h) noexcept {
    if constexpr (std::is_base_of_v<PromiseBase, P>) {
        return h.promise().root;
    } else {
        return nullptr;
    }
}

}  // namespace dally::detail
