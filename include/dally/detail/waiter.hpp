// dally/detail/waiter.hpp: the intrusive wait-list node shared by the sync primitives
// (sync.hpp, scope.hpp). Internal.
//
// A Waiter lives in the awaiting coroutine's frame (inside its awaiter object). A
// primitive links it into a WaiterList under the primitive's own small lock, and wakes it
// after releasing that lock: wake() resumes the coroutine on the runtime it suspended on
// (schedule() if that is the calling thread's runtime, else post_node(), safe from any
// thread). After wake() the node may be gone; read `next` before waking.
#pragma once

#include <atomic>
#include <coroutine>
#include <thread>

#include "dally/detail/queue.hpp"

namespace dally {
class Runtime;
}

namespace dally::detail {

struct Waiter : MpscNode {
    std::coroutine_handle<> handle{};
    Runtime* runtime = nullptr;
    Waiter* next_waiter = nullptr;

    Waiter() noexcept = default;
    Waiter(const Waiter&) = delete;
    Waiter& operator=(const Waiter&) = delete;

    // Records `h` and the calling thread's runtime; throws NoRuntimeError naming `what`
    // when no runtime runs here (the waiter could never be resumed).
    void prepare(std::coroutine_handle<> h, const char* what);
    // Resumes the coroutine on its own runtime. Any thread; call without holding a lock
    // the woken coroutine might need (it may run at once on another thread).
    void wake() noexcept;
};

// A test-and-test-and-set lock for critical sections of a few dozen instructions that two
// runtimes hammer (a channel's queue): unlike std::mutex it never sleeps in the kernel on
// contention, which is what a handful of list and ring operations cannot afford.
// BasicLockable, so std::lock_guard and std::condition_variable_any work with it.
class SpinLock {
  public:
    void lock() noexcept {
        for (int spins = 0; m_locked.exchange(true, std::memory_order_acquire);) {
            while (m_locked.load(std::memory_order_relaxed)) {
                if (++spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
                    __builtin_ia32_pause();
#endif
                } else {
                    std::this_thread::yield();  // the holder was preempted
                }
            }
        }
    }
    bool try_lock() noexcept { return !m_locked.exchange(true, std::memory_order_acquire); }
    void unlock() noexcept { m_locked.store(false, std::memory_order_release); }

  private:
    std::atomic<bool> m_locked{false};
};

// FIFO of waiters. Not synchronised: guarded by its owner's lock.
class WaiterList {
  public:
    bool empty() const noexcept { return m_head == nullptr; }
    void push_back(Waiter* w) noexcept {
        w->next_waiter = nullptr;
        if (m_tail != nullptr) {
            m_tail->next_waiter = w;
        } else {
            m_head = w;
        }
        m_tail = w;
    }
    Waiter* pop_front() noexcept {
        Waiter* w = m_head;
        if (w != nullptr) {
            m_head = w->next_waiter;
            if (m_head == nullptr) m_tail = nullptr;
            w->next_waiter = nullptr;
        }
        return w;
    }
    // Moves every waiter out (to wake them after unlocking).
    WaiterList take_all() noexcept {
        WaiterList out;
        out.m_head = m_head;
        out.m_tail = m_tail;
        m_head = m_tail = nullptr;
        return out;
    }
    // Wakes every waiter in order; the list is empty afterwards.
    void wake_all() noexcept {
        Waiter* w = m_head;
        m_head = m_tail = nullptr;
        while (w != nullptr) {
            Waiter* next = w->next_waiter;
            w->wake();
            w = next;
        }
    }

  private:
    Waiter* m_head = nullptr;
    Waiter* m_tail = nullptr;
};

}  // namespace dally::detail
