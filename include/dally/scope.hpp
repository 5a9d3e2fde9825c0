// dally/scope.hpp: Scope, a group of child tasks that is joined or cancelled as one.
//
// The graceful-shutdown building block: spawn each connection or job into a scope, and
// on shutdown `scope.cancel()` then `co_await scope.join()`.
//
//     dally::Scope scope;
//     scope.spawn(session(std::move(conn)));   // on the current runtime
//     scope.spawn(rt, job());                  // on any runtime, from any thread
//     scope.cancel();                          // any thread: cancels every child's I/O
//     (void)co_await scope.join();             // every child has finished
//
// Children are detached tasks that the scope counts; their values are dropped. A child's
// escaping exception is kept and the first one is rethrown by join() (later ones are
// reported on stderr). A child whose runtime shuts down before it returns (its frame is
// destroyed, or it never started) counts as finished, without an error, so a join() on
// another runtime does not wait for it forever. Destroying a Scope whose children still run is a
// programming error: it is reported on stderr, the children are cancelled and left to finish on
// their own (they do not touch the destroyed Scope object).
#pragma once

#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "dally/cancel.hpp"
#include "dally/detail/waiter.hpp"
#include "dally/result.hpp"
#include "dally/runtime.hpp"
#include "dally/task.hpp"

namespace dally {

namespace detail {
// Shared by a Scope and its children, so a child can outlive a misused Scope.
struct ScopeState {
    std::mutex mutex;
    std::size_t active = 0;
    std::exception_ptr error;
    WaiterList joiners;
    CancelSource source;
    void finish(std::exception_ptr e) noexcept;
};

// A child's place in its scope's count, held as a parameter of the child's coroutine so
// that it is given up exactly once: by finish() when the child returns, or else by the
// destructor when the frame is destroyed unfinished (runtime shutdown) or never created.
class ScopeChild {
  public:
    explicit ScopeChild(std::shared_ptr<ScopeState> s) noexcept : m_state(std::move(s)) {}
    ScopeChild(ScopeChild&&) noexcept = default;  // leaves the source empty
    ScopeChild& operator=(ScopeChild&&) = delete;
    ~ScopeChild() {
        if (m_state) m_state->finish(nullptr);
    }
    void finish(std::exception_ptr e) noexcept { std::exchange(m_state, nullptr)->finish(e); }

  private:
    std::shared_ptr<ScopeState> m_state;
};
}  // namespace detail

class Scope {
  public:
    Scope();
    // See the header comment: never std::terminate; reports, cancels and detaches.
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

    // Starts `task` as a child on the current runtime; throws NoRuntimeError outside one.
    template <class T>
    void spawn(Task<T> task) {
        Runtime* rt = Runtime::current();
        if (rt == nullptr) throw NoRuntimeError("dally::Scope::spawn");
        spawn(*rt, std::move(task));
    }
    // Starts `task` as a child on `rt`. Any thread. After cancel(), the child is spawned
    // already cancelled (its I/O fails with operation_canceled).
    template <class T>
    void spawn(Runtime& rt, Task<T> task) {
        if (!task.valid()) throw std::invalid_argument("dally::Scope::spawn: empty Task");
        {
            std::lock_guard lock(m_state->mutex);
            ++m_state->active;
        }
        (void)rt.spawn(run_child(std::move(task), detail::ScopeChild(m_state)),
                       m_state->source.token());
    }

    struct JoinAwaiter : detail::Waiter {
        detail::ScopeState* scope;
        explicit JoinAwaiter(detail::ScopeState& s) noexcept : scope(&s) {}
        bool await_ready() const noexcept { return false; }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            return suspend(h, detail::root_of(h));
        }
        // Rethrows (and clears) the first exception a child let escape.
        Result<void> await_resume();

      private:
        bool suspend(std::coroutine_handle<> h, detail::TaskRoot* task);
        static bool unpark_joiner(detail::Waiter& w) noexcept;
    };
    // `co_await scope.join()`: suspends until no child runs (at once if none does), then
    // rethrows the first exception a child let escape, if any. Safe from any runtime;
    // several tasks may join. The scope can be reused afterwards. If the joining task is
    // cancelled while children still run, join() returns operation_canceled at once and
    // the children go on running (it does not cancel them, and keeps their exception for
    // the next join): join from a task that is not cancelled to wait for them.
    JoinAwaiter join() noexcept { return JoinAwaiter(*m_state); }

    // Cancels every child, running or spawned later: their I/O and their waits on sync
    // primitives fail with operation_canceled; they decide how to return. Any thread;
    // idempotent.
    void cancel() noexcept { m_state->source.cancel(); }
    bool cancelled() const noexcept { return m_state->source.cancelled(); }
    // Children still running (a snapshot). Any thread.
    std::size_t active() const noexcept;

  private:
    template <class T>
    static Task<void> run_child(Task<T> task, detail::ScopeChild child) {
        std::exception_ptr error;
        try {
            (void)co_await std::move(task);
        } catch (...) {
            error = std::current_exception();
        }
        child.finish(error);
    }

    std::shared_ptr<detail::ScopeState> m_state;
};

}  // namespace dally
