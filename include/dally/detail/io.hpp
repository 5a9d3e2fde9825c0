// dally/detail/io.hpp: the awaitable shape shared by single-operation I/O. Internal.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>

#include "dally/detail/op.hpp"
#include "dally/detail/promise.hpp"
#include "dally/result.hpp"

namespace dally::detail {

// Submits `op` on the calling thread's runtime for coroutine `h`; throws NoRuntimeError
// naming `what` if none runs. False: completed at once (op.res holds the result).
bool submit_current(Op& op, std::coroutine_handle<> h, TaskRoot* root, const char* what);

// Closes a descriptor dally owns (if fd >= 0), telling the current runtime's backend first:
// the epoll backend keeps per-descriptor state that a reused number must not inherit.
// Every close in dally goes through here.
void close_fd(int fd) noexcept;

Result<std::size_t> size_result(const Op& op) noexcept;
Result<void> void_result(const Op& op) noexcept;
void set_deadline(Op& op, std::chrono::steady_clock::time_point deadline) noexcept;
// A non-negative duration as the kernel's timespec (negative becomes zero).
Timespec to_timespec(std::chrono::steady_clock::duration d) noexcept;

// One operation, one completion. Derived awaitables fill `op` and define await_resume.
struct OpAwaitable {
    Op op{};
    const char* what = "I/O";

    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return submit_current(op, h, root_of(h), what);
    }
    // Used by dally::timeout: the operation fails with timed_out at `deadline`.
    void set_deadline(std::chrono::steady_clock::time_point deadline) noexcept {
        detail::set_deadline(op, deadline);
    }
};

// One operation moves at most this much; longer transfers take several.
inline constexpr std::size_t max_op_len = std::size_t{1} << 30;
// Offset meaning "the descriptor's current position" (streams, pipes).
inline constexpr std::uint64_t current_position = ~std::uint64_t{0};

}  // namespace dally::detail

namespace dally {

// An operation yielding a byte count (recv, send, read, write).
struct SizeAwaitable : detail::OpAwaitable {
    Result<std::size_t> await_resume() const noexcept { return detail::size_result(op); }
};
// An operation yielding only success or an error (close, fsync, shutdown, rename...).
struct VoidAwaitable : detail::OpAwaitable {
    Result<void> await_resume() const noexcept { return detail::void_result(op); }
};

namespace detail {

// A single read/write-shaped operation on `fd` (`buf` is borrowed until it completes).
SizeAwaitable io_op(OpCode code, const char* what, int fd, const void* buf, std::size_t len,
                    std::uint64_t offset) noexcept;

// send_all / write_all: one send or write that resubmits itself for the rest after a short
// transfer, so it costs no allocation; under timeout() the deadline covers the whole
// transfer. A write at an offset advances it; current_position stays current.
struct TransferAllAwaitable : OpAwaitable {
    // `on_zero`: the error when a step transfers nothing (no progress is possible).
    TransferAllAwaitable(OpCode code, const char* what, int fd, std::span<const std::byte> data,
                         std::uint64_t offset, std::errc on_zero) noexcept;
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        if (m_total == 0) return false;
        return OpAwaitable::await_suspend(h);
    }
    // Bytes transferred (all of them); on error, partial() says how many went first.
    Result<std::size_t> await_resume() const noexcept;

private:
    static bool step(Op& op, int res);
    std::uint64_t m_total = 0;
    std::errc m_on_zero;
};

}  // namespace detail
}  // namespace dally
