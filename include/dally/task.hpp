// dally/task.hpp: Task<T>, the coroutine type of dally.
//
// A Task is lazy (it starts when awaited or spawned) and move-only. `co_await task`
// yields its T or rethrows its exception. Awaiting uses symmetric transfer (through a
// per-thread trampoline), so a chain of nested co_awaits runs in constant stack in every
// build mode. To run a task concurrently, spawn it on a
// Runtime (runtime.hpp); dropping an unstarted Task destroys it without running it.
#pragma once

#include <coroutine>
#include <exception>
#include <optional>
#include <utility>

#include "dally/detail/promise.hpp"

namespace dally {

template <class T = void>
class Task;

namespace detail {

template <class T>
struct Promise : PromiseBase {
    std::optional<T> value;
    Task<T> get_return_object() noexcept;
    template <class U = T>
    void return_value(U&& v) {
        value.emplace(std::forward<U>(v));
    }
    T take() {
        if (exception) std::rethrow_exception(exception);
        return std::move(*value);
    }
};

template <>
struct Promise<void> : PromiseBase {
    Task<void> get_return_object() noexcept;
    void return_void() noexcept {}
    void take() {
        if (exception) std::rethrow_exception(exception);
    }
};

}  // namespace detail

template <class T>
class [[nodiscard]] Task {
public:
    using promise_type = detail::Promise<T>;
    using handle_type = std::coroutine_handle<promise_type>;
    using value_type = T;

    Task() noexcept = default;
    explicit Task(handle_type h) noexcept : m_handle(h) {}
    Task(Task&& other) noexcept : m_handle(std::exchange(other.m_handle, {})) {}
    Task& operator=(Task&& other) noexcept {
        if (this != &other) {
            if (m_handle) m_handle.destroy();
            m_handle = std::exchange(other.m_handle, {});
        }
        return *this;
    }
    Task(const Task&) = delete;
    Task& operator=(const Task&) = delete;
    ~Task() {
        if (m_handle) m_handle.destroy();
    }

    bool valid() const noexcept { return static_cast<bool>(m_handle); }

    struct Awaiter {
        handle_type h;
        bool await_ready() const noexcept { return false; }
        template <class P>
        void await_suspend(std::coroutine_handle<P> parent) noexcept {
            h.promise().continuation = parent;
            h.promise().root = detail::root_of(parent);
            detail::transfer(h);
        }
        T await_resume() { return h.promise().take(); }
    };
    // Starts the task and suspends until it finishes. The task must not have started.
    Awaiter operator co_await() & noexcept { return Awaiter{m_handle}; }
    Awaiter operator co_await() && noexcept { return Awaiter{m_handle}; }

    // Gives up ownership of the coroutine (used by spawn).
    handle_type release() noexcept { return std::exchange(m_handle, {}); }

private:
    handle_type m_handle{};
};

namespace detail {
template <class T>
Task<T> Promise<T>::get_return_object() noexcept {
    return Task<T>{std::coroutine_handle<Promise<T>>::from_promise(*this)};
}
inline Task<void> Promise<void>::get_return_object() noexcept {
    return Task<void>{std::coroutine_handle<Promise<void>>::from_promise(*this)};
}
}  // namespace detail

}  // namespace dally
