// dally/runtime.hpp: Runtime, one io_uring ring and one FIFO of ready tasks per thread.
//
// A Runtime runs on exactly one thread (the first one to call run()/block_on()) and
// must be destroyed on that thread or after that thread has exited. Its tasks stay on it
// unless they hop with `co_await resume_on(other)`. `spawn`, `post` and `submit` are
// safe from ANY thread, runtime or not; they go through a lock-free MPSC inbox and wake
// the runtime only when it is parked, so a burst of posts costs at most one wakeup.
//
//     dally::Runtime rt;
//     int v = rt.block_on(compute());          // run a task to completion on this thread
//     auto h = rt.spawn(worker());             // JoinHandle<T>: co_await it, or drop to detach
//     rt.post([] { /* runs on rt's thread */ });
//     std::future<int> f = rt.submit([] { return 7; });  // from a foreign thread
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include "dally/cancel.hpp"
#include "dally/detail/op.hpp"
#include "dally/detail/queue.hpp"
#include "dally/task.hpp"

namespace dally {

// Thrown when an operation that needs a running Runtime is used where none runs (a plain
// thread, main() before run). The message names the operation and how to fix the call.
class NoRuntimeError : public std::logic_error {
public:
    explicit NoRuntimeError(const char* operation);
};

struct RuntimeOptions {
    // Submission queue size; the completion queue gets 8x this (at least 4096 entries).
    unsigned entries = 512;
    // Use IORING_SETUP_SINGLE_ISSUER|DEFER_TASKRUN when the kernel has them (probed; falls
    // back to COOP_TASKRUN, then to a plain ring). Off: always a plain ring.
    bool defer_taskrun = true;
};

template <class T>
class JoinHandle;

class Runtime {
public:
    explicit Runtime(RuntimeOptions options = {});
    ~Runtime();
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;

    // The runtime running on this thread, or nullptr.
    static Runtime* current() noexcept;

    // Starts `task` on this runtime. Any thread. Drop the handle to detach the task; an
    // exception escaping a detached task is reported on stderr.
    template <class T>
    JoinHandle<T> spawn(Task<T> task);
    // Same, cancelled when `token`'s CancelSource is (cancel.hpp).
    template <class T>
    JoinHandle<T> spawn(Task<T> task, const CancelToken& token);

    // Runs `fn()` on this runtime's thread, in order with other posts from the same thread.
    // Any thread. `fn` must not throw (an escaping exception is reported and dropped).
    template <class F>
    void post(F&& fn);

    // Like post, for a caller that wants the result: returns a std::future. If `fn` returns
    // a Task<R>, the task is spawned and the future holds its R; `fn` itself (a coroutine
    // lambda's captures) is kept alive until that task finishes.
    template <class F>
    auto submit(F&& fn);

    // Runs the loop on the calling thread until `task` completes; returns its value or
    // rethrows. Other tasks run meanwhile and stay suspended afterwards.
    template <class T>
    T block_on(Task<T> task);

    // Runs the loop on the calling thread until stop() is called.
    void run();
    // Makes run() return at its next iteration. Any thread.
    void stop() noexcept;

    // "io_uring" and the setup flags in force, for logs.
    const char* backend_name() const noexcept;
    // How many times another thread had to wake this runtime from its park (posts and
    // spawns that found it busy cost none). Any thread; for metrics and tests.
    std::uint64_t wakeups() const noexcept { return m_wakeups.load(std::memory_order_relaxed); }

    // ---- internals used by awaitables (owner thread only unless noted) ----
    void schedule(std::coroutine_handle<> h) {
        if (!m_draining) m_ready.push(h);
    }
    // Any thread.
    void post_node(detail::MpscNode* node) noexcept;
    // Any thread: post_node() for a caller that cannot know whether the runtime is being
    // destroyed (a sync primitive waking a waiter from another thread). The destructor
    // waits until such calls have returned, so their wakeup never touches a freed runtime.
    void post_waiter(detail::MpscNode* node) noexcept;
    // Submits `op` for the coroutine `h`; false if it completed at once (cancelled).
    bool submit_op(detail::Op& op, std::coroutine_handle<> h, detail::TaskRoot* root);
    detail::Backend& backend() noexcept { return *m_backend; }
    void link(detail::TaskRoot& root) noexcept;
    void unlink(detail::TaskRoot& root) noexcept;
    // Shared live-task counter (an Executor's); the runtime signals `on_idle` at zero.
    void set_task_counter(std::atomic<std::size_t>* counter, void (*on_idle)(void*),
                          void* ctx) noexcept;
    void task_started() noexcept;
    void task_finished() noexcept;
    // Runs fn(rt) for every live runtime, under the registry lock (fn must not block).
    static void for_each(void (*fn)(Runtime&, void*), void* ctx);
    // Shutdown in two steps, both on the runtime's thread: cancel and drain everything in
    // flight, then destroy every task still alive on this runtime.
    void drain() noexcept;
    void destroy_tasks() noexcept;

private:
    template <class T>
    void start_root(typename Task<T>::handle_type h);
    void bind_thread();
    void loop(const std::atomic<std::uintptr_t>* until_done);
    void drain_inbox(bool run) noexcept;
    // Shutdown: makes sure nothing touches the task's parked sync wait once its frame goes.
    void settle_wait(detail::TaskRoot& root) noexcept;

    std::unique_ptr<detail::Backend> m_backend;
    detail::ReadyQueue m_ready;
    detail::MpscQueue m_inbox;
    alignas(64) std::atomic<bool> m_parked{false};
    std::atomic<bool> m_stop{false};
    std::atomic<int> m_stoppers{0};  // stop() calls still touching the runtime
    alignas(64) std::atomic<int> m_wakers{0};  // post_waiter() calls still touching it
    std::atomic<std::uint64_t> m_wakeups{0};
    std::atomic<std::size_t> m_own_counter{0};
    std::atomic<std::size_t>* m_counter = &m_own_counter;
    void (*m_on_idle)(void*) = nullptr;
    void* m_on_idle_ctx = nullptr;
    detail::TaskRoot* m_live = nullptr;
    std::thread::id m_owner{};
    bool m_bound = false;
    bool m_looping = false;
    bool m_draining = false;
};

// A spawned task's result. Move-only; co_await it once from any task on any runtime.
// Dropping it detaches the task. cancel() is thread-safe: it cancels the task's in-flight
// I/O (IORING_OP_ASYNC_CANCEL) or its wait on a sync primitive (sync.hpp), and makes its
// later I/O and waits fail with operation_canceled. Awaiting a JoinHandle is not cut short.
template <class T>
class [[nodiscard("drop the JoinHandle explicitly to detach")]] JoinHandle {
public:
    using handle_type = typename Task<T>::handle_type;
    JoinHandle() noexcept = default;
    explicit JoinHandle(handle_type h) noexcept : m_handle(h) {}
    JoinHandle(JoinHandle&& o) noexcept : m_handle(std::exchange(o.m_handle, {})) {}
    JoinHandle& operator=(JoinHandle&& o) noexcept {
        if (this != &o) {
            reset();
            m_handle = std::exchange(o.m_handle, {});
        }
        return *this;
    }
    ~JoinHandle() { reset(); }

    bool valid() const noexcept { return static_cast<bool>(m_handle); }
    bool done() const noexcept {
        return m_handle &&
               m_handle.promise().root_state.join.load(std::memory_order_acquire) ==
                   detail::join_done;
    }
    void cancel() noexcept {
        if (m_handle) detail::root_request_cancel(m_handle.promise().root_state);
    }
    // Detaches the task.
    void reset() noexcept {
        if (m_handle) {
            detail::root_release(m_handle.promise().root_state);
            m_handle = {};
        }
    }

    struct Awaiter : detail::JoinWaiter {
        handle_type h;
        bool await_ready() const noexcept {
            return h.promise().root_state.join.load(std::memory_order_acquire) ==
                   detail::join_done;
        }
        bool await_suspend(std::coroutine_handle<> waiter) {
            Runtime* rt = Runtime::current();
            if (rt == nullptr) throw NoRuntimeError("co_await JoinHandle");
            handle = waiter;
            runtime = rt;
            fn = [](detail::MpscNode* n, bool run) {
                if (run) {
                    auto* self = static_cast<JoinWaiter*>(n);
                    self->runtime->schedule(self->handle);
                }
            };
            std::uintptr_t expected = detail::join_running;
            return h.promise().root_state.join.compare_exchange_strong(
                expected, reinterpret_cast<std::uintptr_t>(static_cast<detail::JoinWaiter*>(this)),
                std::memory_order_acq_rel, std::memory_order_acquire);
        }
        T await_resume() { return h.promise().take(); }
    };
    // Suspends until the task finishes; yields its value or rethrows its exception.
    Awaiter operator co_await() noexcept { return Awaiter{{}, m_handle}; }

    // For Runtime::block_on: the join state, and the result of a finished task.
    const std::atomic<std::uintptr_t>& join_state() const noexcept {
        return m_handle.promise().root_state.join;
    }
    T take() { return m_handle.promise().take(); }

private:
    handle_type m_handle{};
};

// ---- free functions ----

// Spawns on the current runtime; throws NoRuntimeError outside one.
template <class T>
JoinHandle<T> spawn(Task<T> task) {
    Runtime* rt = Runtime::current();
    if (rt == nullptr) throw NoRuntimeError("dally::spawn");
    return rt->spawn(std::move(task));
}

// `co_await yield()`: lets every other ready task run once, then continues.
struct YieldAwaiter {
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
        Runtime* rt = Runtime::current();
        if (rt == nullptr) throw NoRuntimeError("co_await yield()");
        rt->schedule(h);
    }
    void await_resume() const noexcept {}
};
inline YieldAwaiter yield() noexcept { return {}; }

// `co_await resume_on(rt)`: continues the coroutine on `rt`'s thread (no-op if already
// there). Works from a foreign thread too: the way to get from plain code onto a runtime.
struct ResumeOnAwaiter : detail::MpscNode {
    Runtime* target;
    std::coroutine_handle<> handle{};
    detail::TaskRoot* root = nullptr;
    explicit ResumeOnAwaiter(Runtime& rt) noexcept : target(&rt) {}
    bool await_ready() const noexcept { return Runtime::current() == target; }
    template <class P>
    void await_suspend(std::coroutine_handle<P> h) noexcept {
        handle = h;
        root = detail::root_of(h);
        if (root != nullptr) {
            if (Runtime* from = Runtime::current(); from != nullptr) from->unlink(*root);
        }
        fn = [](detail::MpscNode* n, bool run) {
            auto* self = static_cast<ResumeOnAwaiter*>(n);
            if (self->root != nullptr) self->target->link(*self->root);
            if (run) self->target->schedule(self->handle);
        };
        target->post_node(this);
    }
    void await_resume() const noexcept {}
};
inline ResumeOnAwaiter resume_on(Runtime& rt) noexcept { return ResumeOnAwaiter{rt}; }

// ---- templates ----

namespace detail {
// Reports an exception nobody will see otherwise on stderr: "dally: <context>: <what>".
void report_exception(const char* context, std::exception_ptr e) noexcept;
inline void report_posted_exception(std::exception_ptr e) noexcept {
    report_exception("exception escaped a posted callable (dropped)", std::move(e));
}

template <class F>
struct PostNode : MpscNode {
    F f;
    explicit PostNode(F&& fn) : f(std::move(fn)) {
        this->fn = [](MpscNode* n, bool run) {
            std::unique_ptr<PostNode> self(static_cast<PostNode*>(n));
            if (run) invoke_posted(self->f);
        };
    }
    static void invoke_posted(F& f) noexcept {
        try {
            f();
        } catch (...) {
            report_posted_exception(std::current_exception());
        }
    }
};

template <class T>
struct is_task : std::false_type {};
template <class T>
struct is_task<Task<T>> : std::true_type {};
}  // namespace detail

template <class T>
void Runtime::start_root(typename Task<T>::handle_type h) {
    detail::TaskRoot& r = h.promise().root_state;
    h.promise().root = &r;
    r.handle = h;
    r.refs.store(2, std::memory_order_relaxed);  // running + handle
    task_started();
    if (current() == this) {
        link(r);
        m_ready.push(h);
    } else {
        r.fn = [](detail::MpscNode* n, bool run) {
            auto* root = static_cast<detail::TaskRoot*>(n);
            Runtime* rt = root->runtime.load(std::memory_order_relaxed);
            if (run) {
                rt->link(*root);
                rt->schedule(root->handle);
            } else {
                rt->task_finished();
                root_release(*root);
            }
        };
        r.runtime.store(this, std::memory_order_release);
        post_node(&r);
    }
}

template <class T>
JoinHandle<T> Runtime::spawn(Task<T> task) {
    auto h = task.release();
    if (!h) throw std::invalid_argument("dally::Runtime::spawn: empty Task");
    start_root<T>(h);
    return JoinHandle<T>{h};
}

template <class T>
JoinHandle<T> Runtime::spawn(Task<T> task, const CancelToken& token) {
    auto h = task.release();
    if (!h) throw std::invalid_argument("dally::Runtime::spawn: empty Task");
    if (token.m_state) detail::cancel_state_add(token.m_state, h.promise().root_state);
    start_root<T>(h);
    return JoinHandle<T>{h};
}

template <class F>
void Runtime::post(F&& fn) {
    using Fn = std::decay_t<F>;
    post_node(new detail::PostNode<Fn>(Fn(std::forward<F>(fn))));
}

template <class F>
auto Runtime::submit(F&& fn) {
    using R = std::invoke_result_t<std::decay_t<F>>;
    if constexpr (detail::is_task<R>::value) {
        using V = typename R::value_type;
        auto promise = std::make_shared<std::promise<V>>();
        auto future = promise->get_future();
        post([this, promise, f = std::forward<F>(fn)]() mutable {
            // The callable moves into the task's frame: a coroutine lambda's captures must
            // outlive its task, and this posted closure is freed as soon as it returns.
            auto wrap = [](std::decay_t<F> fn, std::shared_ptr<std::promise<V>> p) -> Task<void> {
                try {
                    if constexpr (std::is_void_v<V>) {
                        co_await fn();
                        p->set_value();
                    } else {
                        p->set_value(co_await fn());
                    }
                } catch (...) {
                    p->set_exception(std::current_exception());
                }
            };
            try {
                (void)spawn(wrap(std::move(f), promise));
            } catch (...) {
                promise->set_exception(std::current_exception());
            }
        });
        return future;
    } else {
        auto promise = std::make_shared<std::promise<R>>();
        auto future = promise->get_future();
        post([promise, f = std::forward<F>(fn)]() mutable {
            try {
                if constexpr (std::is_void_v<R>) {
                    f();
                    promise->set_value();
                } else {
                    promise->set_value(f());
                }
            } catch (...) {
                promise->set_exception(std::current_exception());
            }
        });
        return future;
    }
}

template <class T>
T Runtime::block_on(Task<T> task) {
    JoinHandle<T> h = spawn(std::move(task));
    loop(&h.join_state());
    return h.take();
}

}  // namespace dally
