#include "dally/time.hpp"

#include <cerrno>

#include "dally/runtime.hpp"

namespace dally {

Result<void> SleepAwaitable::await_resume() const noexcept {
    if (op.res == -ETIME || op.res >= 0) return {};
    return errno_code(op.res);
}

namespace {
SleepAwaitable make_sleep(detail::Timespec ts, std::uint32_t flags) noexcept {
    SleepAwaitable a;
    a.what = "dally::sleep_for/sleep_until";
    a.op.code = detail::OpCode::timeout;
    a.op.ts = ts;
    a.op.op_flags = flags;
    return a;
}
}  // namespace

SleepAwaitable sleep_for(Clock::duration d) noexcept {
    return make_sleep(detail::to_timespec(d), 0);
}

SleepAwaitable sleep_until(Clock::time_point tp) noexcept {
    constexpr std::uint32_t timeout_abs = 1U << 0;  // IORING_TIMEOUT_ABS, CLOCK_MONOTONIC
    return make_sleep(detail::to_timespec(tp.time_since_epoch()), timeout_abs);
}

}  // namespace dally
