#include "dally/time.hpp"

#include <cerrno>

#include "dally/runtime.hpp"

namespace dally {
namespace detail {
namespace {

Timespec to_timespec(Clock::duration d) noexcept {
    if (d < Clock::duration::zero()) d = Clock::duration::zero();
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(d);
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d - secs);
    return Timespec{secs.count(), ns.count()};
}

std::error_code op_error(const Op& op) noexcept {
    if (op.res == -ECANCELED && op.timed_out) return std::make_error_code(std::errc::timed_out);
    return errno_code(op.res);
}

}  // namespace

bool submit_current(Op& op, std::coroutine_handle<> h, TaskRoot* root, const char* what) {
    Runtime* rt = Runtime::current();
    if (rt == nullptr) throw NoRuntimeError(what);
    return rt->submit_op(op, h, root);
}

Result<std::size_t> size_result(const Op& op) noexcept {
    if (op.res >= 0) return static_cast<std::size_t>(op.res);
    return Result<std::size_t>(op_error(op), 0);
}

Result<void> void_result(const Op& op) noexcept {
    if (op.res >= 0) return {};
    return op_error(op);
}

void set_deadline(Op& op, Clock::time_point deadline) noexcept {
    op.has_deadline = true;
    op.deadline = to_timespec(deadline.time_since_epoch());
}

}  // namespace detail

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
