// dally/when.hpp: running tasks concurrently and waiting for all of them or the first.
//
//     auto [a, b] = co_await dally::when_all(fetch(x), fetch(y));   // std::tuple
//     auto first = co_await dally::when_any(query(a), query(b));    // .index, .value
//
// Each child is spawned on the calling task's runtime (so the children run concurrently
// with each other; a child may hop elsewhere with resume_on). A void child yields
// std::monostate. Both must be awaited inside a task on a running runtime (NoRuntimeError
// otherwise), and neither returns before every child it spawned has finished.
// Cancelling the awaiting task does not reach the children.
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "dally/runtime.hpp"
#include "dally/sync.hpp"
#include "dally/task.hpp"

namespace dally {

// What when_any yields: which child finished first (its argument position) and its value.
template <class V>
struct AnyResult {
    std::size_t index;
    V value;
};

namespace detail {

template <class T>
using when_value_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <class T>
Task<when_value_t<T>> as_value(Task<T> t) {
    if constexpr (std::is_void_v<T>) {
        co_await std::move(t);
        co_return std::monostate{};
    } else {
        co_return co_await std::move(t);
    }
}

inline Runtime& when_runtime(const char* what) {
    Runtime* rt = Runtime::current();
    if (rt == nullptr) throw NoRuntimeError(what);
    return *rt;
}

// Awaits `h` into `out`; keeps the first exception. Once a sibling has failed, the
// children not yet awaited are cancelled first (their I/O fails promptly).
template <class V>
Task<void> join_into(JoinHandle<V>& h, std::optional<V>& out, std::exception_ptr& error) {
    if (error) h.cancel();
    try {
        out.emplace(co_await h);
    } catch (...) {
        if (!error) error = std::current_exception();
    }
}

template <class... Vs, std::size_t... I>
Task<std::tuple<Vs...>> when_all_impl(std::index_sequence<I...>, Task<Vs>... tasks) {
    Runtime& rt = when_runtime("dally::when_all");
    std::tuple<JoinHandle<Vs>...> handles{rt.spawn(std::move(tasks))...};
    std::tuple<std::optional<Vs>...> results;
    std::exception_ptr error;
    (co_await join_into(std::get<I>(handles), std::get<I>(results), error), ...);
    if (error) std::rethrow_exception(error);
    co_return std::tuple<Vs...>{std::move(*std::get<I>(results))...};
}

struct AnyState {
    static constexpr std::size_t none = std::numeric_limits<std::size_t>::max();
    std::atomic<std::size_t> winner{none};
    Event done;
    void finish(std::size_t i) noexcept {
        std::size_t expected = none;
        if (winner.compare_exchange_strong(expected, i, std::memory_order_acq_rel)) done.set();
    }
};

template <class V>
Task<V> any_child(Task<V> t, std::size_t i, std::shared_ptr<AnyState> s) {
    std::optional<V> v;
    try {
        v.emplace(co_await std::move(t));
    } catch (...) {
        s->finish(i);
        throw;
    }
    s->finish(i);
    co_return std::move(*v);
}

// Awaits a child; the winner's value (or exception) is kept, the losers' are dropped.
template <std::size_t I, class Var, class V>
Task<void> collect_any(JoinHandle<V>& h, std::size_t winner, std::optional<Var>& out,
                       std::exception_ptr& error) {
    try {
        if (I == winner) {
            out.emplace(std::in_place_index<I>, co_await h);
        } else {
            (void)co_await h;
        }
    } catch (...) {
        if (I == winner) error = std::current_exception();
    }
}

template <class... Vs, std::size_t... I>
Task<AnyResult<std::variant<Vs...>>> when_any_impl(std::index_sequence<I...>, Task<Vs>... tasks) {
    Runtime& rt = when_runtime("dally::when_any");
    auto state = std::make_shared<AnyState>();
    std::tuple<JoinHandle<Vs>...> handles{rt.spawn(any_child(std::move(tasks), I, state))...};
    // Not cut short by this task's cancellation: when_any must not return before a child has.
    (void)co_await Event::Awaiter(state->done, false);
    const std::size_t w = state->winner.load(std::memory_order_acquire);
    ((I != w ? std::get<I>(handles).cancel() : void()), ...);
    std::optional<std::variant<Vs...>> value;
    std::exception_ptr error;
    (co_await collect_any<I>(std::get<I>(handles), w, value, error), ...);
    if (error) std::rethrow_exception(error);
    co_return AnyResult<std::variant<Vs...>>{w, std::move(*value)};
}

}  // namespace detail

// Runs every task concurrently; yields all their values in argument order. If any throws,
// the ones not yet awaited are cancelled, all are awaited, then the first exception (in
// argument order) is rethrown.
template <class... Ts>
Task<std::tuple<detail::when_value_t<Ts>...>> when_all(Task<Ts>... tasks) {
    return detail::when_all_impl(std::index_sequence_for<Ts...>{},
                                 detail::as_value(std::move(tasks))...);
}

// The same for a run-time number of tasks of one type; values in vector order.
template <class T>
Task<std::vector<detail::when_value_t<T>>> when_all(std::vector<Task<T>> tasks) {
    using V = detail::when_value_t<T>;
    Runtime& rt = detail::when_runtime("dally::when_all");
    std::vector<JoinHandle<V>> handles;
    handles.reserve(tasks.size());
    for (auto& t : tasks) handles.push_back(rt.spawn(detail::as_value(std::move(t))));
    std::vector<std::optional<V>> results(handles.size());
    std::exception_ptr error;
    for (std::size_t i = 0; i < handles.size(); ++i) {
        co_await detail::join_into(handles[i], results[i], error);
    }
    if (error) std::rethrow_exception(error);
    std::vector<V> out;
    out.reserve(results.size());
    for (auto& r : results) out.push_back(std::move(*r));
    co_return out;
}

// Runs every task concurrently until the first finishes; yields its position and value
// (value: a std::variant over the tasks' value types, holding alternative `index`). The
// others are then cancelled (JoinHandle::cancel: their I/O fails with operation_canceled)
// and awaited before this returns, so a loser must react to cancellation (or finish) for
// when_any to return. If the first to finish threw, its exception is rethrown; the
// losers' results and exceptions are dropped.
template <class... Ts>
Task<AnyResult<std::variant<detail::when_value_t<Ts>...>>> when_any(Task<Ts>... tasks) {
    static_assert(sizeof...(Ts) > 0, "dally::when_any needs at least one task");
    return detail::when_any_impl(std::index_sequence_for<Ts...>{},
                                 detail::as_value(std::move(tasks))...);
}

// The same for a run-time number of tasks of one type. Throws std::invalid_argument if
// `tasks` is empty.
template <class T>
Task<AnyResult<detail::when_value_t<T>>> when_any(std::vector<Task<T>> tasks) {
    using V = detail::when_value_t<T>;
    if (tasks.empty()) throw std::invalid_argument("dally::when_any: no tasks");
    Runtime& rt = detail::when_runtime("dally::when_any");
    auto state = std::make_shared<detail::AnyState>();
    std::vector<JoinHandle<V>> handles;
    handles.reserve(tasks.size());
    for (std::size_t i = 0; i < tasks.size(); ++i) {
        handles.push_back(
            rt.spawn(detail::any_child(detail::as_value(std::move(tasks[i])), i, state)));
    }
    (void)co_await Event::Awaiter(state->done, false);  // as above
    const std::size_t w = state->winner.load(std::memory_order_acquire);
    for (std::size_t i = 0; i < handles.size(); ++i) {
        if (i != w) handles[i].cancel();
    }
    std::optional<V> value;
    std::exception_ptr error;
    for (std::size_t i = 0; i < handles.size(); ++i) {
        try {
            if (i == w) {
                value.emplace(co_await handles[i]);
            } else {
                (void)co_await handles[i];
            }
        } catch (...) {
            if (i == w) error = std::current_exception();
        }
    }
    if (error) std::rethrow_exception(error);
    co_return AnyResult<V>{w, std::move(*value)};
}

}  // namespace dally
