// dally/detail/waiter.hpp: the intrusive wait-list node shared by the sync primitives
// (sync.hpp, scope.hpp). Internal.
//
// A Waiter lives in the awaiting coroutine's frame (inside its awaiter object). A
// primitive links it into a WaiterList under the primitive's own small lock, and wakes it
// after releasing that lock: wake() resumes the coroutine on the runtime it suspended on
// (schedule() if that is the calling thread's runtime, else post_waiter(), safe from any
// thread). After wake() the node may be gone; read `next` before waking.
//
// Cancellation. A parked waiter of a dally task is that task's `current_wait`. A cancel
// request reaches the task's runtime thread (runtime.cpp, cancel_on_runtime), which calls
// cancel(): under the primitive's lock, a waiter still parked is unlinked and resumed with
// state `cancelled`; one that a notifier already took (`woken`) keeps what it was handed.
// Both decisions are made under the same lock, so nothing handed out is ever lost. A
// waiter that was handed something but is destroyed before it resumes (runtime shutdown)
// gives it back in its awaiter's destructor (a Mutex unlocks, a Semaphore releases).
// Shutdown unlinks every parked wait before destroying its frame (Runtime::settle_wait).
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <system_error>
#include <thread>

#include "dally/detail/promise.hpp"
#include "dally/detail/queue.hpp"
#include "dally/result.hpp"

namespace dally {
class Runtime;
}

namespace dally::detail {

class WaiterList;

// What a wait reports when its task was cancelled.
inline std::error_code cancelled_error() noexcept {
    return std::make_error_code(std::errc::operation_canceled);
}
inline Result<void> wait_result(bool cancelled) noexcept {
    return cancelled ? Result<void>(cancelled_error()) : Result<void>();
}

struct Waiter : MpscNode {
    enum class State : std::uint8_t {
        idle,       // not on a list (before parking, and after await_resume)
        parked,     // on its primitive's list
        woken,      // taken off by a notifier: it holds what it was handed until it resumes
        cancelled,  // taken off by a cancel request, or refused to park (already cancelled)
    };
    // Takes the waiter off its primitive's list under the primitive's lock, if it is still
    // parked there (WaiterList::remove); true if it did. Set by each awaiter type.
    using Unpark = bool (*)(Waiter&) noexcept;

    // Set by park() (a wait that completes at once never reads them, and an awaiter is
    // built for every send and recv, so they are left uninitialised until then).
    std::coroutine_handle<> handle;
    Runtime* runtime;
    TaskRoot* root;  // the waiting task while parked (null: a foreign coroutine)
    Waiter* next_waiter;
    Waiter* prev_waiter;
    Unpark unpark;
    bool delivered;             // the wake reached `runtime` (that thread only; shutdown)
    bool interruptible = true;  // false: cancel requests leave it parked (when_any's wait)
    // Changed under the primitive's lock; atomic so a cancel can skip the lock when the
    // waiter is no longer parked (it must not touch a primitive it no longer waits on).
    std::atomic<State> state{State::idle};

    Waiter() noexcept = default;
    Waiter(const Waiter&) = delete;
    Waiter& operator=(const Waiter&) = delete;

    // In await_suspend, under the primitive's lock, once the wait cannot complete at once:
    // records `h`, the calling thread's runtime and the task, and links the waiter at the
    // end of `list`; true. Returns false without parking (state `cancelled`) if the task's
    // cancellation was already requested. Throws NoRuntimeError naming `what` when no
    // runtime runs here (the waiter could never be resumed). Out of line, so that the
    // awaiters' fast paths stay small enough to inline.
    bool park(WaiterList& list, std::coroutine_handle<> h, TaskRoot* task, Unpark fn,
              const char* what);
    // In await_resume: true if the wait ended by cancellation. Resets the waiter to idle
    // (so its awaiter's destructor knows that whatever it was handed is now the task's).
    // Nobody else touches the state by now: a load and a store, not a locked exchange.
    bool finish() noexcept {
        const State s = state.load(std::memory_order_relaxed);
        if (s == State::idle) return false;  // completed without parking
        if (root != nullptr) root->current_wait = nullptr;
        state.store(State::idle, std::memory_order_relaxed);
        return s == State::cancelled;
    }
    // True if the waiter was handed something and is being destroyed without resuming.
    bool abandoned_with_handoff() const noexcept {
        return state.load(std::memory_order_relaxed) == State::woken;
    }
    // Resumes the coroutine on its own runtime. Any thread; call without holding a lock
    // the woken coroutine might need (it may run at once on another thread).
    void wake() noexcept;
    // On the waiter's runtime thread: a cancel request for its task. Unparks and resumes
    // it if it is still parked; otherwise does nothing (it has been, or is being, woken).
    void cancel() noexcept;
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

// Waiters taken off a list, to be woken once the primitive's lock is released.
class WakeList {
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
    friend class WaiterList;
    Waiter* m_head = nullptr;
    Waiter* m_tail = nullptr;
};

// FIFO of parked waiters, doubly linked so a cancelled one leaves from the middle. Not
// synchronised: guarded by its owner's lock, as is every waiter's `state`.
class WaiterList {
  public:
    bool empty() const noexcept { return m_head == nullptr; }
    void push_back(Waiter* w) noexcept {
        w->state.store(Waiter::State::parked, std::memory_order_relaxed);
        w->next_waiter = nullptr;
        w->prev_waiter = m_tail;
        if (m_tail != nullptr) {
            m_tail->next_waiter = w;
        } else {
            m_head = w;
        }
        m_tail = w;
    }
    // The longest waiter, now `woken`, or null.
    Waiter* pop_front() noexcept {
        Waiter* w = m_head;
        if (w != nullptr) {
            m_head = w->next_waiter;
            if (m_head != nullptr) {
                m_head->prev_waiter = nullptr;
            } else {
                m_tail = nullptr;
            }
            w->next_waiter = nullptr;
            w->state.store(Waiter::State::woken, std::memory_order_relaxed);
        }
        return w;
    }
    // Unlinks `w` as `cancelled` if it is parked (then it is on this list); else false.
    bool remove(Waiter* w) noexcept {
        if (w->state.load(std::memory_order_relaxed) != Waiter::State::parked) return false;
        if (w->prev_waiter != nullptr) {
            w->prev_waiter->next_waiter = w->next_waiter;
        } else {
            m_head = w->next_waiter;
        }
        if (w->next_waiter != nullptr) {
            w->next_waiter->prev_waiter = w->prev_waiter;
        } else {
            m_tail = w->prev_waiter;
        }
        w->next_waiter = w->prev_waiter = nullptr;
        w->state.store(Waiter::State::cancelled, std::memory_order_relaxed);
        return true;
    }
    // Takes every waiter off (each now `woken`), to wake them after unlocking.
    WakeList take_all() noexcept {
        WakeList out;
        out.m_head = m_head;
        out.m_tail = m_tail;
        for (Waiter* w = m_head; w != nullptr; w = w->next_waiter) {
            w->state.store(Waiter::State::woken, std::memory_order_relaxed);
        }
        m_head = m_tail = nullptr;
        return out;
    }

  private:
    Waiter* m_head = nullptr;
    Waiter* m_tail = nullptr;
};

}  // namespace dally::detail
