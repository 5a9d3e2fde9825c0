// dally/time.hpp: sleeping and timeouts, on the ring's own timers (no timer thread).
//
//     co_await dally::sleep_for(50ms);
//     auto r = co_await dally::timeout(2s, stream.recv(buf));   // r.timed_out() after 2 s
//     if (r.timed_out()) use(r.partial());                      // bytes before the deadline
//
// timeout() works with any dally I/O awaitable: single operations get an io_uring linked
// timeout (IORING_OP_LINK_TIMEOUT), composite ones (send_all) pass the deadline to each
// step. A timed-out operation's buffer is released only after its completion arrives.
#pragma once

#include <chrono>
#include <concepts>
#include <utility>

#include "dally/detail/io.hpp"
#include "dally/result.hpp"

namespace dally {

using Clock = std::chrono::steady_clock;

// Result: ok when the time has passed; operation_canceled if the task was cancelled.
struct SleepAwaitable : detail::OpAwaitable {
    Result<void> await_resume() const noexcept;
};

// Suspends the task for `d` (zero or negative: until the next loop iteration's timers).
SleepAwaitable sleep_for(Clock::duration d) noexcept;
// Suspends the task until the steady clock reaches `tp`.
SleepAwaitable sleep_until(Clock::time_point tp) noexcept;

template <class A>
concept Deadlineable = requires(A& a, Clock::time_point tp) { a.set_deadline(tp); };

// Makes `op` fail with std::errc::timed_out if it has not completed by `tp`.
template <Deadlineable A>
[[nodiscard]] A deadline(Clock::time_point tp, A&& op) {
    op.set_deadline(tp);
    return std::forward<A>(op);
}

// Makes `op` fail with std::errc::timed_out if it has not completed within `d`.
template <Deadlineable A>
[[nodiscard]] A timeout(Clock::duration d, A&& op) {
    return deadline(Clock::now() + d, std::forward<A>(op));
}

}  // namespace dally
