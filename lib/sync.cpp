#include "dally/sync.hpp"

#include "dally/detail/waiter.hpp"
#include "dally/runtime.hpp"

namespace dally {
namespace detail {

bool Waiter::park(WaiterList& list, std::coroutine_handle<> h, TaskRoot* task, Unpark fn,
                  const char* what) {
    Runtime* rt = Runtime::current();
    if (rt == nullptr) throw NoRuntimeError(what);
    root = nullptr;
    // A cancelled task does not park: the cancel request it would need has already been
    // handled (or will find no current_wait), so nothing would ever resume it early.
    if (interruptible && task != nullptr &&
        task->cancel_requested.load(std::memory_order_acquire)) {
        state.store(State::cancelled, std::memory_order_relaxed);
        return false;
    }
    handle = h;
    runtime = rt;
    unpark = fn;
    delivered = false;
    MpscNode::fn = [](MpscNode* n, bool run) {
        auto* self = static_cast<Waiter*>(n);
        self->delivered = true;
        // Not run: the runtime is shutting down and destroys the waiting task itself.
        if (run) self->runtime->schedule(self->handle);
    };
    if (task != nullptr) {
        // Registered even when not interruptible: shutdown unlinks the wait through it.
        root = task;
        task->current_wait = this;
    }
    list.push_back(this);
    return true;
}

void Waiter::wake() noexcept {
    // Copy out first: once posted, the waiter may resume on its thread and vanish.
    Runtime* rt = runtime;
    if (rt == Runtime::current()) {
        delivered = true;
        rt->schedule(handle);
    } else {
        rt->post_waiter(this);  // the runtime may be shutting down (settle_wait)
    }
}

void Waiter::cancel() noexcept {
    if (!interruptible) return;
    // Not parked: a notifier took it and what it was handed is the waiter's; the primitive
    // is left alone (its lock is only needed to decide a race with a notifier).
    if (state.load(std::memory_order_acquire) != State::parked) return;
    if (!unpark(*this)) return;  // a notifier won the race under the lock
    delivered = true;
    runtime->schedule(handle);
}

}  // namespace detail

// ---- Event

void Event::set() noexcept {
    detail::WakeList waiters;
    {
        std::lock_guard lock(m_mutex);
        m_set.store(true, std::memory_order_release);
        waiters = m_waiters.take_all();
    }
    waiters.wake_all();
}

void Event::reset() noexcept {
    std::lock_guard lock(m_mutex);
    m_set.store(false, std::memory_order_release);
}

bool Event::Awaiter::suspend(std::coroutine_handle<> h, detail::TaskRoot* task) {
    std::lock_guard lock(event->m_mutex);
    if (event->m_set.load(std::memory_order_relaxed)) return false;
    return park(event->m_waiters, h, task, &unpark_event, "co_await Event::wait");
}

bool Event::Awaiter::unpark_event(detail::Waiter& w) noexcept {
    Event& e = *static_cast<Awaiter&>(w).event;
    std::lock_guard lock(e.m_mutex);
    return e.m_waiters.remove(&w);
}

// ---- Mutex

bool Mutex::try_lock() noexcept {
    std::lock_guard lock(m_mutex);
    if (m_locked) return false;
    m_locked = true;
    return true;
}

void Mutex::unlock() noexcept {
    detail::Waiter* next = nullptr;
    {
        std::lock_guard lock(m_mutex);
        next = m_waiters.pop_front();
        if (next == nullptr) m_locked = false;  // else the lock passes to `next`, still held
    }
    if (next != nullptr) next->wake();
}

bool Mutex::Awaiter::suspend(std::coroutine_handle<> h, detail::TaskRoot* task) {
    std::lock_guard lock(mutex->m_mutex);
    if (!mutex->m_locked) {
        mutex->m_locked = true;
        return false;
    }
    return park(mutex->m_waiters, h, task, &unpark_mutex, "co_await Mutex::lock");
}

bool Mutex::Awaiter::unpark_mutex(detail::Waiter& w) noexcept {
    Mutex& m = *static_cast<Awaiter&>(w).mutex;
    std::lock_guard lock(m.m_mutex);
    return m.m_waiters.remove(&w);
}

// ---- Semaphore

bool Semaphore::try_acquire() noexcept {
    std::lock_guard lock(m_mutex);
    if (m_permits == 0) return false;
    --m_permits;
    return true;
}

void Semaphore::release(std::size_t n) noexcept {
    detail::WakeList woken;
    {
        std::lock_guard lock(m_mutex);
        for (; n != 0; --n) {
            detail::Waiter* w = m_waiters.pop_front();
            if (w == nullptr) break;
            woken.push_back(w);  // the permit goes straight to this waiter
        }
        m_permits += n;
    }
    woken.wake_all();
}

std::size_t Semaphore::available() noexcept {
    std::lock_guard lock(m_mutex);
    return m_permits;
}

bool Semaphore::Awaiter::suspend(std::coroutine_handle<> h, detail::TaskRoot* task) {
    std::lock_guard lock(sem->m_mutex);
    if (sem->m_permits != 0) {
        --sem->m_permits;
        return false;
    }
    return park(sem->m_waiters, h, task, &unpark_semaphore, "co_await Semaphore::acquire");
}

bool Semaphore::Awaiter::unpark_semaphore(detail::Waiter& w) noexcept {
    Semaphore& s = *static_cast<Awaiter&>(w).sem;
    std::lock_guard lock(s.m_mutex);
    return s.m_waiters.remove(&w);
}

}  // namespace dally
