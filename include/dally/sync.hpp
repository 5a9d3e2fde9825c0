// dally/sync.hpp: synchronisation between tasks, across runtimes and with plain threads.
//
// Event, Mutex and Semaphore suspend the awaiting task; they never block its thread. A
// waiter is resumed on the runtime it suspended on, whichever thread wakes it. Channel<T>
// is a bounded multi-producer/multi-consumer queue for tasks on any runtimes and, through
// its try_/ _blocking functions, for threads that are not runtimes (a game loop).
//
//     dally::Channel<Job> jobs(256);
//     co_await jobs.send(job);                       // Result<void>: broken_pipe once closed
//     while (auto j = co_await jobs.recv()) run(*j);  // drains, then broken_pipe
//     jobs.close();                                   // any thread
//
// Every function here is safe from any thread unless it says otherwise. A small internal
// lock guards each primitive's state and wait list (a spinlock for Channel, whose critical
// sections are a few ring and list operations); it is never held across a suspension.
//
// Cancellation. Every wait here returns a Result, and cancelling the waiting task
// (JoinHandle::cancel, a CancelSource, Scope::cancel; from any thread) ends a suspended
// wait with std::errc::operation_canceled (`r.cancelled()`), as it does for I/O. A wait
// that can complete without suspending still does (event set, lock or permit free, item
// queued), even in a cancelled task, so cleanup code can take a free lock; one that would
// have to suspend fails at once instead. A cancelled wait took nothing: no lock, permit or
// item, and a send did not deliver its value. If the wake-up and the cancel race, the
// waiter either gets what it waited for (the wait succeeds; the task's later waits fail as
// above) or it stays with the primitive for the next waiter; it is never lost. Waits of
// coroutines that are not dally Tasks cannot be cancelled.
//
// Lifetime: a primitive must outlive every co_await on it, up to the moment that co_await
// returns (a woken task that has not resumed yet still counts: a cancel request racing
// the wake-up, or a shutdown giving a lock back, may touch the primitive until then). If
// a runtime shuts down while its tasks wait here, their waits are unlinked before the
// frames are destroyed; a lock or permit handed to a task that never resumed is given
// back, an item handed to such a receiver is destroyed.
#pragma once

#include <atomic>
#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "dally/detail/waiter.hpp"
#include "dally/result.hpp"
#include "dally/runtime.hpp"

namespace dally {

// A flag tasks wait on. set() releases every current waiter and lets later waits pass
// until reset(). Any thread.
class Event {
  public:
    explicit Event(bool initially_set = false) noexcept : m_set(initially_set) {}
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;

    // Sets the flag and resumes every waiting task (each on its own runtime). Idempotent.
    void set() noexcept;
    // Clears the flag; later waits suspend again.
    void reset() noexcept;
    bool is_set() const noexcept { return m_set.load(std::memory_order_acquire); }

    struct Awaiter : detail::Waiter {
        Event* event;
        // `can_cancel` false: cancel requests do not end the wait (internal: when_any).
        explicit Awaiter(Event& e, bool can_cancel = true) noexcept : event(&e) {
            interruptible = can_cancel;
        }
        bool await_ready() const noexcept { return event->is_set(); }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            return suspend(h, detail::root_of(h));
        }
        Result<void> await_resume() noexcept { return detail::wait_result(finish()); }

      private:
        bool suspend(std::coroutine_handle<> h, detail::TaskRoot* task);
        static bool unpark_event(detail::Waiter& w) noexcept;
    };
    // `co_await ev.wait()`: returns at once if set, else suspends until set() is called.
    // operation_canceled if the task is cancelled while it would wait (see the top).
    // Needs a running runtime (NoRuntimeError otherwise) when it has to suspend.
    Awaiter wait() noexcept { return Awaiter(*this); }

  private:
    std::mutex m_mutex;
    std::atomic<bool> m_set;
    detail::WaiterList m_waiters;
};

// A mutual-exclusion lock for tasks, FIFO-fair: unlock() hands the lock straight to the
// longest waiter. Hold it across co_awaits freely; it blocks no thread. Not recursive.
class Mutex {
  public:
    Mutex() = default;
    Mutex(const Mutex&) = delete;
    Mutex& operator=(const Mutex&) = delete;

    // Owns the lock; unlocks on destruction. Move-only. May be released on another runtime
    // than the one that locked (a task that hopped).
    class [[nodiscard]] Guard {
      public:
        Guard() noexcept = default;
        explicit Guard(Mutex& m) noexcept : m_mutex(&m) {}
        Guard(Guard&& o) noexcept : m_mutex(std::exchange(o.m_mutex, nullptr)) {}
        Guard& operator=(Guard&& o) noexcept {
            if (this != &o) {
                unlock();
                m_mutex = std::exchange(o.m_mutex, nullptr);
            }
            return *this;
        }
        ~Guard() { unlock(); }
        bool owns_lock() const noexcept { return m_mutex != nullptr; }
        void unlock() noexcept {
            if (m_mutex != nullptr) std::exchange(m_mutex, nullptr)->unlock();
        }

      private:
        Mutex* m_mutex = nullptr;
    };

    struct Awaiter : detail::Waiter {
        Mutex* mutex;
        explicit Awaiter(Mutex& m) noexcept : mutex(&m) {}
        Awaiter(const Awaiter&) = delete;
        Awaiter& operator=(const Awaiter&) = delete;
        ~Awaiter() {
            if (abandoned_with_handoff()) mutex->unlock();  // handed the lock, never resumed
        }
        bool await_ready() noexcept { return mutex->try_lock(); }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            return suspend(h, detail::root_of(h));
        }
        Result<Guard> await_resume() noexcept {
            if (finish()) return detail::cancelled_error();
            return Guard(*mutex);
        }

      private:
        bool suspend(std::coroutine_handle<> h, detail::TaskRoot* task);
        static bool unpark_mutex(detail::Waiter& w) noexcept;
    };
    // `auto g = co_await m.lock(); if (!g) ...;` suspends until the lock is this task's; the
    // Result holds its Guard. operation_canceled (and no lock) if the task is cancelled
    // while it would wait (see the top of this header).
    Awaiter lock() noexcept { return Awaiter(*this); }
    // Takes the lock if it is free; never suspends. Any thread.
    bool try_lock() noexcept;
    // Releases the lock (prefer Guard). Must be held.
    void unlock() noexcept;

  private:
    std::mutex m_mutex;
    bool m_locked = false;
    detail::WaiterList m_waiters;
};

// A counting semaphore for tasks, FIFO-fair: release() hands permits to waiters in order.
class Semaphore {
  public:
    explicit Semaphore(std::size_t initial) noexcept : m_permits(initial) {}
    Semaphore(const Semaphore&) = delete;
    Semaphore& operator=(const Semaphore&) = delete;

    struct Awaiter : detail::Waiter {
        Semaphore* sem;
        explicit Awaiter(Semaphore& s) noexcept : sem(&s) {}
        Awaiter(const Awaiter&) = delete;
        Awaiter& operator=(const Awaiter&) = delete;
        ~Awaiter() {
            if (abandoned_with_handoff()) sem->release();  // handed a permit, never resumed
        }
        bool await_ready() noexcept { return sem->try_acquire(); }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            return suspend(h, detail::root_of(h));
        }
        Result<void> await_resume() noexcept { return detail::wait_result(finish()); }

      private:
        bool suspend(std::coroutine_handle<> h, detail::TaskRoot* task);
        static bool unpark_semaphore(detail::Waiter& w) noexcept;
    };
    // `if (co_await sem.acquire()) ...`: takes one permit, suspending until one is
    // released. operation_canceled, and no permit (do not release one), if the task is
    // cancelled while it would wait (see the top of this header).
    Awaiter acquire() noexcept { return Awaiter(*this); }
    // Takes a permit if one is free; never suspends.
    bool try_acquire() noexcept;
    // Returns `n` permits; waiting tasks get them first, in arrival order.
    void release(std::size_t n = 1) noexcept;
    // Permits free now (a snapshot).
    std::size_t available() noexcept;

  private:
    std::mutex m_mutex;
    std::size_t m_permits;
    detail::WaiterList m_waiters;
};

// A bounded MPMC queue. Errors are values:
// - std::errc::broken_pipe: the channel is closed (send), or closed and drained (recv);
// - std::errc::resource_unavailable_try_again: try_send on a full / try_recv on an empty
//   open channel.
// Items are delivered in send order per sender, each to exactly one receiver. T must be
// move-constructible (it need not be default-constructible).
template <class T>
class Channel {
  public:
    // `capacity` >= 1 items are buffered; a send beyond that waits for a receiver.
    explicit Channel(std::size_t capacity) : m_buf(capacity) {
        if (capacity == 0) throw std::invalid_argument("dally::Channel: capacity must be >= 1");
    }
    Channel(const Channel&) = delete;
    Channel& operator=(const Channel&) = delete;
    // Destroy it only when no task waits on it and no thread uses it.
    ~Channel() = default;

    struct SendAwaiter : detail::Waiter {
        Channel* ch;
        T value;
        std::error_code ec{};
        SendAwaiter(Channel& c, T v) : ch(&c), value(std::move(v)) {}
        bool await_ready() const noexcept { return false; }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            return ch->send_suspend(*this, h, detail::root_of(h));
        }
        Result<void> await_resume() noexcept {
            if (finish()) return detail::cancelled_error();
            return ec ? Result<void>(ec) : Result<void>();
        }
    };
    struct RecvAwaiter : detail::Waiter {
        Channel* ch;
        std::optional<T> slot{};
        std::error_code ec{};
        explicit RecvAwaiter(Channel& c) noexcept : ch(&c) {}
        bool await_ready() const noexcept { return false; }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            return ch->recv_suspend(*this, h, detail::root_of(h));
        }
        Result<T> await_resume() {
            if (finish()) return Result<T>(detail::cancelled_error());
            if (ec) return Result<T>(ec);
            return Result<T>(std::move(*slot));
        }
    };

    // `co_await ch.send(v)`: queues v, suspending while the channel is full. Suspended
    // senders are resumed in arrival order once receivers have drained the channel to half
    // its capacity (so a fast sender refills it in one go rather than waking per item).
    // Fails with broken_pipe if the channel is (or gets, while waiting) closed, and with
    // operation_canceled if the task is cancelled while it would wait (sync.hpp's top); v
    // is then not delivered, and is destroyed with the awaiter.
    SendAwaiter send(T value) { return SendAwaiter(*this, std::move(value)); }
    // `co_await ch.recv()`: the next item, suspending while the channel is empty. After
    // close(), the items already queued are still delivered, then broken_pipe. A cancelled
    // task still gets queued items; where it would wait: operation_canceled, no item taken.
    RecvAwaiter recv() noexcept { return RecvAwaiter(*this); }

    // Never suspends or blocks. On failure (full, or senders are already waiting:
    // resource_unavailable_try_again; closed: broken_pipe) `value` is left untouched.
    Result<void> try_send(T&& value) { return try_send_impl(value); }
    Result<void> try_send(const T& value) { return try_send_impl(value); }
    // Never suspends or blocks: an item, or resource_unavailable_try_again / broken_pipe.
    Result<T> try_recv();

    // For threads that are not runtimes: block the calling thread until done. Throw
    // std::logic_error on a runtime's thread (it would stall every task there).
    Result<void> send_blocking(T value);
    Result<T> recv_blocking();

    // Closes the channel: pending and later sends fail; receivers drain what is queued,
    // then get broken_pipe. Idempotent.
    void close() noexcept;
    bool closed() const noexcept {
        std::lock_guard lock(m_mutex);
        return m_closed;
    }
    std::size_t capacity() const noexcept { return m_buf.size(); }
    // Items queued now (a snapshot).
    std::size_t size() const noexcept {
        std::lock_guard lock(m_mutex);
        return m_size;
    }

  private:
    static std::error_code closed_error() noexcept {
        return std::make_error_code(std::errc::broken_pipe);
    }
    static std::error_code would_block() noexcept {
        return std::make_error_code(std::errc::resource_unavailable_try_again);
    }
    static void require_foreign_thread(const char* what) {
        if (Runtime::current() != nullptr) {
            throw std::logic_error(std::string("dally::Channel::") + what +
                                   " called on a runtime's thread: it would block every task "
                                   "there; co_await send()/recv() instead");
        }
    }

    void push_locked(T&& v) {
        std::size_t i = m_head + m_size;
        if (i >= m_buf.size()) i -= m_buf.size();
        m_buf[i].emplace(std::move(v));
        ++m_size;
    }
    T pop_locked() {
        std::optional<T>& s = m_buf[m_head];
        T v = std::move(*s);
        s.reset();
        if (++m_head == m_buf.size()) m_head = 0;
        --m_size;
        return v;
    }

    // Delivers `v` (moved from only on success). Lock held; `wake` gets a receiver to wake.
    template <class U>
    bool try_push_locked(U& v, detail::WakeList& wake) {
        if (!m_receivers.empty()) {  // they wait only while the buffer is empty
            auto* r = static_cast<RecvAwaiter*>(m_receivers.pop_front());
            r->slot.emplace(std::move(v));
            wake.push_back(r);
            return true;
        }
        // Suspended senders go first (FIFO), even when some room is left (see below).
        if (m_size == m_buf.size() || !m_senders.empty()) return false;
        push_locked(T(std::move(v)));
        if (m_blocked_receivers != 0) m_not_empty.notify_one();
        return true;
    }
    // Takes the next item. Lock held; `wake` gets the senders whose values moved in.
    bool try_pop_locked(std::optional<T>& out, detail::WakeList& wake) {
        if (m_size == 0) return false;
        out.emplace(pop_locked());
        // Suspended senders are let in only once the buffer is down to half: a fast sender
        // then refills it in one go instead of waking once per item received.
        if (!m_senders.empty() && m_size <= m_buf.size() / 2) {
            while (m_size < m_buf.size() && !m_senders.empty()) {
                auto* s = static_cast<SendAwaiter*>(m_senders.pop_front());
                push_locked(std::move(s->value));
                wake.push_back(s);
            }
        }
        if (m_blocked_senders != 0 && m_senders.empty() && m_size < m_buf.size()) {
            m_not_full.notify_one();
        }
        return true;
    }

    template <class U>
    Result<void> try_send_impl(U& value) {
        detail::WakeList wake;
        {
            std::lock_guard lock(m_mutex);
            if (m_closed) return closed_error();
            if (!try_push_locked(value, wake)) return would_block();
        }
        wake.wake_all();
        return {};
    }

    bool send_suspend(SendAwaiter& a, std::coroutine_handle<> h, detail::TaskRoot* task) {
        detail::WakeList wake;
        {
            std::lock_guard lock(m_mutex);
            if (m_closed) {
                a.ec = closed_error();
                return false;
            }
            if (!try_push_locked(a.value, wake)) {
                return a.park(m_senders, h, task, &unpark_sender, "co_await Channel::send");
            }
        }
        wake.wake_all();
        return false;
    }
    bool recv_suspend(RecvAwaiter& a, std::coroutine_handle<> h, detail::TaskRoot* task) {
        detail::WakeList wake;
        {
            std::lock_guard lock(m_mutex);
            if (!try_pop_locked(a.slot, wake)) {
                if (m_closed) {
                    a.ec = closed_error();
                    return false;
                }
                return a.park(m_receivers, h, task, &unpark_receiver, "co_await Channel::recv");
            }
        }
        wake.wake_all();
        return false;
    }
    static bool unpark_sender(detail::Waiter& w) noexcept {
        Channel& ch = *static_cast<SendAwaiter&>(w).ch;
        std::lock_guard lock(ch.m_mutex);
        return ch.m_senders.remove(&w);
    }
    static bool unpark_receiver(detail::Waiter& w) noexcept {
        Channel& ch = *static_cast<RecvAwaiter&>(w).ch;
        std::lock_guard lock(ch.m_mutex);
        return ch.m_receivers.remove(&w);
    }

    mutable detail::SpinLock m_mutex;
    std::vector<std::optional<T>> m_buf;  // ring: m_size items from m_head
    std::size_t m_head = 0;
    std::size_t m_size = 0;
    bool m_closed = false;
    detail::WaiterList m_senders;    // SendAwaiters, while full
    detail::WaiterList m_receivers;  // RecvAwaiters, while empty
    std::condition_variable_any m_not_full;
    std::condition_variable_any m_not_empty;
    std::size_t m_blocked_senders = 0;
    std::size_t m_blocked_receivers = 0;
};

template <class T>
Result<T> Channel<T>::try_recv() {
    std::optional<T> out;
    detail::WakeList wake;
    {
        std::lock_guard lock(m_mutex);
        if (!try_pop_locked(out, wake)) return m_closed ? closed_error() : would_block();
    }
    wake.wake_all();
    return Result<T>(std::move(*out));
}

template <class T>
Result<void> Channel<T>::send_blocking(T value) {
    require_foreign_thread("send_blocking");
    detail::WakeList wake;
    {
        std::unique_lock lock(m_mutex);
        for (;;) {
            if (m_closed) return closed_error();
            if (try_push_locked(value, wake)) break;
            ++m_blocked_senders;
            m_not_full.wait(lock);
            --m_blocked_senders;
        }
    }
    wake.wake_all();
    return {};
}

template <class T>
Result<T> Channel<T>::recv_blocking() {
    require_foreign_thread("recv_blocking");
    std::optional<T> out;
    detail::WakeList wake;
    {
        std::unique_lock lock(m_mutex);
        for (;;) {
            if (try_pop_locked(out, wake)) break;
            if (m_closed) return closed_error();
            ++m_blocked_receivers;
            m_not_empty.wait(lock);
            --m_blocked_receivers;
        }
    }
    wake.wake_all();
    return Result<T>(std::move(*out));
}

template <class T>
void Channel<T>::close() noexcept {
    detail::WakeList woken;
    {
        std::lock_guard lock(m_mutex);
        if (m_closed) return;
        m_closed = true;
        // The outcome is set under the lock: a node may be gone as soon as it is woken.
        while (detail::Waiter* w = m_senders.pop_front()) {
            static_cast<SendAwaiter*>(w)->ec = closed_error();
            woken.push_back(w);
        }
        while (detail::Waiter* w = m_receivers.pop_front()) {
            static_cast<RecvAwaiter*>(w)->ec = closed_error();
            woken.push_back(w);
        }
        m_not_full.notify_all();
        m_not_empty.notify_all();
    }
    woken.wake_all();
}

}  // namespace dally
