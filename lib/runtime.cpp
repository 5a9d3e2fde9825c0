#include "dally/runtime.hpp"

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backend/backend.hpp"
#include "dally/detail/waiter.hpp"

namespace dally {
namespace {

thread_local Runtime* t_current = nullptr;

// The trampoline: while one runs on this thread, transfer() leaves the next coroutine here.
thread_local bool t_trampoline = false;
thread_local std::coroutine_handle<> t_next{};

// Bounds the inbox work per loop iteration, so a flooding producer cannot starve I/O.
constexpr int max_inbox_batch = 65536;

std::string no_runtime_message(const char* operation) {
    return std::string("dally: ") + operation +
           " needs a running dally::Runtime on this thread, and none runs here. I/O, timers and "
           "spawn only work inside a task that a Runtime runs: start it with rt.block_on(task), "
           "rt.spawn(task) on a running runtime, or an Executor. From a plain thread (or main() "
           "before the runtime runs), hand the work over with rt.post(fn) / rt.submit(fn), or "
           "move the coroutine onto a runtime first with co_await dally::resume_on(rt).";
}

// Live runtimes, so process-wide settings (the signals wait_signal manages) reach them.
std::mutex g_registry_mutex;
std::vector<Runtime*> g_registry;

struct CurrentGuard {
    Runtime* saved;
    explicit CurrentGuard(Runtime* rt) noexcept : saved(t_current) { t_current = rt; }
    ~CurrentGuard() { t_current = saved; }
};

}  // namespace

NoRuntimeError::NoRuntimeError(const char* operation)
    : std::logic_error(no_runtime_message(operation)) {}

Runtime::Runtime(RuntimeOptions options) : m_backend(detail::make_backend(*this, options)) {
    std::lock_guard lock(g_registry_mutex);
    g_registry.push_back(this);
}

void Runtime::for_each(void (*fn)(Runtime&, void*), void* ctx) {
    std::lock_guard lock(g_registry_mutex);
    for (Runtime* rt : g_registry) fn(*rt, ctx);
}

Runtime::~Runtime() {
    {
        std::lock_guard lock(g_registry_mutex);
        g_registry.erase(std::remove(g_registry.begin(), g_registry.end(), this), g_registry.end());
    }
    while (m_stoppers.load(std::memory_order_acquire) != 0) std::this_thread::yield();
    drain();
    destroy_tasks();
    drain_inbox(false);
    // A waker whose node has already been drained may still be checking m_parked or
    // writing the eventfd (post_node's tail): wait for it before the members go.
    while (m_wakers.load(std::memory_order_acquire) != 0) std::this_thread::yield();
}

Runtime* Runtime::current() noexcept { return t_current; }

const char* Runtime::backend_name() const noexcept { return m_backend->name(); }

void Runtime::bind_thread() {
    if (m_looping) {
        throw std::logic_error(
            "dally: Runtime::run/block_on called from a task of the same runtime (a nested loop "
            "would deadlock); co_await the task instead");
    }
    if (t_current != nullptr && t_current != this) {
        throw std::logic_error(
            "dally: another Runtime already runs on this thread; one thread runs one runtime");
    }
    if (!m_bound) {
        m_backend->attach_thread();
        m_owner = std::this_thread::get_id();
        m_bound = true;
        detail::block_managed_signals();
    } else if (m_owner != std::this_thread::get_id()) {
        throw std::logic_error(
            "dally: a Runtime runs on one thread: this one already ran on another thread");
    }
}

void Runtime::run() {
    loop(nullptr);
}

void Runtime::stop() noexcept {
    // The runtime may leave its loop and be destroyed as soon as it sees the flag; the
    // destructor waits for stop() calls that are still between the flag and the wakeup.
    m_stoppers.fetch_add(1, std::memory_order_seq_cst);
    m_stop.store(true, std::memory_order_seq_cst);
    if (m_parked.load(std::memory_order_seq_cst) && m_parked.exchange(false)) {
        m_wakeups.fetch_add(1, std::memory_order_relaxed);
        m_backend->wake();
    }
    m_stoppers.fetch_sub(1, std::memory_order_release);
}

void Runtime::loop(const std::atomic<std::uintptr_t>* until_done) {
    bind_thread();
    CurrentGuard guard(this);
    m_looping = true;
    struct LoopFlag {
        bool& f;
        ~LoopFlag() { f = false; }
    } flag{m_looping};

    auto finished = [&] {
        return until_done != nullptr
                   ? until_done->load(std::memory_order_acquire) == detail::join_done
                   : m_stop.load(std::memory_order_acquire);
    };
    for (;;) {
        drain_inbox(true);
        // Run what is ready now; what these tasks make ready runs after the next poll.
        for (std::size_t n = m_ready.size(); n != 0; --n) detail::resume(m_ready.pop());
        if (finished()) break;
        if (!m_ready.empty()) {
            m_backend->poll(false);
            continue;
        }
        // Park: announce it, then re-check the inbox (producers check the flag after pushing).
        m_parked.store(true, std::memory_order_seq_cst);
        if (m_inbox.maybe_nonempty() || finished()) {
            m_parked.store(false, std::memory_order_relaxed);
            m_backend->poll(false);
            continue;
        }
        m_backend->poll(true);
        m_parked.store(false, std::memory_order_relaxed);
    }
    m_backend->poll(false);  // hand queued submissions to the kernel before leaving
    if (until_done == nullptr) m_stop.store(false, std::memory_order_relaxed);  // consumed
}

void Runtime::drain_inbox(bool run) noexcept {
    for (int i = 0; i < max_inbox_batch; ++i) {
        detail::MpscNode* n = m_inbox.pop();
        if (n == nullptr) return;
        n->fn(n, run);
    }
}

void Runtime::post_node(detail::MpscNode* node) noexcept {
    m_inbox.push(node);
    if (m_parked.load(std::memory_order_seq_cst) && m_parked.exchange(false)) {
        m_wakeups.fetch_add(1, std::memory_order_relaxed);
        // From another runtime, the wakeup rides on that runtime's next submission batch.
        Runtime* from = t_current;
        if (from == nullptr || from == this || !from->m_backend->send_wake(*m_backend)) {
            m_backend->wake();
        }
    }
}

void Runtime::post_waiter(detail::MpscNode* node) noexcept {
    // Relaxed is enough: the push's release store publishes the increment to whoever pops
    // the node, and the destructor runs after that pop.
    m_wakers.fetch_add(1, std::memory_order_relaxed);
    post_node(node);
    m_wakers.fetch_sub(1, std::memory_order_release);
}

bool Runtime::submit_op(detail::Op& op, std::coroutine_handle<> h, detail::TaskRoot* root) {
    if (m_draining ||
        (root != nullptr && root->cancel_requested.load(std::memory_order_acquire))) {
        op.res = -ECANCELED;
        return false;
    }
    op.waiter = h;
    op.root = root;
    if (root != nullptr) root->current_op = &op;
    m_backend->submit(op);
    return true;
}

void Runtime::link(detail::TaskRoot& r) noexcept {
    r.live_prev = nullptr;
    r.live_next = m_live;
    if (m_live != nullptr) m_live->live_prev = &r;
    m_live = &r;
    r.runtime.store(this, std::memory_order_release);
}

void Runtime::unlink(detail::TaskRoot& r) noexcept {
    if (r.live_prev != nullptr) {
        r.live_prev->live_next = r.live_next;
    } else if (m_live == &r) {
        m_live = r.live_next;
    }
    if (r.live_next != nullptr) r.live_next->live_prev = r.live_prev;
    r.live_prev = r.live_next = nullptr;
}

void Runtime::set_task_counter(std::atomic<std::size_t>* counter, void (*on_idle)(void*),
                               void* ctx) noexcept {
    m_counter = counter;
    m_on_idle = on_idle;
    m_on_idle_ctx = ctx;
}

void Runtime::task_started() noexcept { m_counter->fetch_add(1, std::memory_order_relaxed); }

void Runtime::task_finished() noexcept {
    if (m_counter->fetch_sub(1, std::memory_order_acq_rel) == 1 && m_on_idle != nullptr) {
        m_on_idle(m_on_idle_ctx);
    }
}

void Runtime::drain() noexcept {
    if (m_draining) return;
    CurrentGuard guard(this);
    m_draining = true;
    if (m_bound) {
        try {
            if (m_owner == std::this_thread::get_id()) {
                m_backend->cancel_all();
                while (m_backend->in_flight() > 0) m_backend->poll(true);
            } else {
                // Destroyed after its thread: only that thread may enter the ring, and when
                // it exited the kernel cancelled its requests; collect what they posted.
                m_backend->reap_posted();
            }
        } catch (const std::exception& e) {
            std::fprintf(stderr, "dally: runtime shutdown could not drain the ring: %s\n",
                         e.what());
        }
    }
    while (!m_ready.empty()) m_ready.pop();
}

void Runtime::destroy_tasks() noexcept {
    CurrentGuard guard(this);
    m_draining = true;
    drain_inbox(false);
    while (m_live != nullptr) {
        detail::TaskRoot* r = m_live;
        settle_wait(*r);
        unlink(*r);
        r->runtime.store(nullptr, std::memory_order_relaxed);
        detail::root_release(*r);
        drain_inbox(false);
    }
    while (!m_ready.empty()) m_ready.pop();
}

void Runtime::settle_wait(detail::TaskRoot& r) noexcept {
    detail::Waiter* w = std::exchange(r.current_wait, nullptr);
    if (w == nullptr) return;
    // Still parked: unlinked, nobody can reach it any more.
    if (w->state.load(std::memory_order_acquire) == detail::Waiter::State::parked &&
        w->unpark(*w)) {
        return;
    }
    // A notifier took it; its wake may still be on the way to this inbox (another thread
    // between unlocking the primitive and posting). The node must arrive before the frame
    // that holds it is freed. The notifier is a few instructions from posting: spin.
    while (!w->delivered) {
        drain_inbox(false);
        if (!w->delivered) std::this_thread::yield();
    }
}

namespace detail {

std::atomic<std::uint64_t> g_managed_signals{0};

void block_managed_signals() noexcept {
    const std::uint64_t bits = g_managed_signals.load(std::memory_order_acquire);
    if (bits == 0) return;
    sigset_t set;
    sigemptyset(&set);
    for (int sig = 1; sig <= 64; ++sig) {
        if ((bits >> (sig - 1)) & 1U) sigaddset(&set, sig);
    }
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void resume(std::coroutine_handle<> h) noexcept {
    if (t_trampoline) {  // already inside one (a foreign resume from a task): queue it
        transfer(h);
        return;
    }
    t_trampoline = true;
    struct Reset {
        ~Reset() {
            t_trampoline = false;
            t_next = {};
        }
    } reset;
    while (h) {
        h.resume();
        h = std::exchange(t_next, {});
    }
}

void transfer(std::coroutine_handle<> h) noexcept {
    if (t_trampoline) {
        // Called from the await_suspend of the coroutine that is suspending; it returns to
        // the trampoline's loop next, which resumes h. One transfer per suspension.
        t_next = h;
        return;
    }
    resume(h);  // a coroutine resumed by foreign code: become the trampoline here
}

void report_exception(const char* context, std::exception_ptr e) noexcept {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        std::fprintf(stderr, "dally: %s: %s\n", context, ex.what());
    } catch (...) {
        std::fprintf(stderr, "dally: %s\n", context);
    }
}

namespace {

// Unlinks a task that finished on a thread other than its runtime's, on that runtime.
void unlink_remote(MpscNode* n, bool) {
    auto* r = static_cast<TaskRoot*>(n);
    if (Runtime* rt = r->runtime.load(std::memory_order_relaxed)) rt->unlink(*r);
    root_release(*r);
}

struct CancelMessage : MpscNode {
    TaskRoot* root;
};

void cancel_on_runtime(MpscNode* n, bool run) {
    auto* msg = static_cast<CancelMessage*>(n);
    TaskRoot& r = *msg->root;
    if (run) {
        Runtime* here = Runtime::current();
        Runtime* where = r.runtime.load(std::memory_order_acquire);
        if (where != nullptr && where != here) {
            where->post_node(msg);  // the task hopped: follow it
            return;
        }
        if (r.current_op != nullptr && here != nullptr) here->backend().cancel(*r.current_op);
        if (r.current_wait != nullptr) r.current_wait->cancel();
    }
    root_release(r);
    delete msg;
}

}  // namespace

std::coroutine_handle<> root_finished(TaskRoot& r, std::exception_ptr* error) noexcept {
    const bool detached = r.refs.load(std::memory_order_acquire) == 1;
    if (detached && *error) report_exception("unhandled exception in a detached task", *error);
    Runtime* here = Runtime::current();
    Runtime* home = r.runtime.load(std::memory_order_relaxed);
    r.current_op = nullptr;
    if (r.source) cancel_state_remove(r);
    if (home != nullptr) {
        home->task_finished();
        if (home == here) {
            home->unlink(r);
        } else {
            r.refs.fetch_add(1, std::memory_order_relaxed);
            r.fn = unlink_remote;
            home->post_node(&r);
        }
    }
    std::coroutine_handle<> next{};
    const std::uintptr_t prev = r.join.exchange(join_done, std::memory_order_acq_rel);
    if (prev != join_running && prev != join_done) {
        auto* w = reinterpret_cast<JoinWaiter*>(prev);
        if (w->runtime == here) {
            next = w->handle;
        } else {
            w->runtime->post_node(w);
        }
    }
    root_release(r);
    return next;
}

void root_release(TaskRoot& r) noexcept {
    if (r.refs.fetch_sub(1, std::memory_order_acq_rel) == 1) r.handle.destroy();
}

void root_request_cancel(TaskRoot& r) noexcept {
    if (r.cancel_requested.exchange(true, std::memory_order_acq_rel)) return;
    Runtime* rt = r.runtime.load(std::memory_order_acquire);
    if (rt == nullptr) return;  // not started yet: its first operation sees the flag
    r.refs.fetch_add(1, std::memory_order_relaxed);
    auto* msg = new CancelMessage{};
    msg->root = &r;
    msg->fn = cancel_on_runtime;
    rt->post_node(msg);
}

[[noreturn]] void throw_result_error(const std::error_code& ec) {
    throw std::system_error(ec);
}

}  // namespace detail
}  // namespace dally
