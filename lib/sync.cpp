#include "dally/sync.hpp"

#include "dally/detail/waiter.hpp"
#include "dally/runtime.hpp"

namespace dally {
namespace detail {

void Waiter::prepare(std::coroutine_handle<> h, const char* what) {
    Runtime* rt = Runtime::current();
    if (rt == nullptr) throw NoRuntimeError(what);
    handle = h;
    runtime = rt;
    fn = [](MpscNode* n, bool run) {
        // Not run: the runtime is shutting down and destroys the waiting task itself.
        if (run) {
            auto* self = static_cast<Waiter*>(n);
            self->runtime->schedule(self->handle);
        }
    };
}

void Waiter::wake() noexcept {
    // Copy out first: once posted, the waiter may resume on its thread and vanish.
    Runtime* rt = runtime;
    if (rt == Runtime::current()) {
        rt->schedule(handle);
    } else {
        rt->post_node(this);
    }
}

}  // namespace detail

// ---- Event

void Event::set() noexcept {
    detail::WaiterList waiters;
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

bool Event::Awaiter::await_suspend(std::coroutine_handle<> h) {
    std::lock_guard lock(event->m_mutex);
    if (event->m_set.load(std::memory_order_relaxed)) return false;
    prepare(h, "co_await Event::wait");
    event->m_waiters.push_back(this);
    return true;
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

bool Mutex::Awaiter::await_suspend(std::coroutine_handle<> h) {
    std::lock_guard lock(mutex->m_mutex);
    if (!mutex->m_locked) {
        mutex->m_locked = true;
        return false;
    }
    prepare(h, "co_await Mutex::lock");
    mutex->m_waiters.push_back(this);
    return true;
}

// ---- Semaphore

bool Semaphore::try_acquire() noexcept {
    std::lock_guard lock(m_mutex);
    if (m_permits == 0) return false;
    --m_permits;
    return true;
}

void Semaphore::release(std::size_t n) noexcept {
    detail::WaiterList woken;
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

bool Semaphore::Awaiter::await_suspend(std::coroutine_handle<> h) {
    std::lock_guard lock(sem->m_mutex);
    if (sem->m_permits != 0) {
        --sem->m_permits;
        return false;
    }
    prepare(h, "co_await Semaphore::acquire");
    sem->m_waiters.push_back(this);
    return true;
}

}  // namespace dally
