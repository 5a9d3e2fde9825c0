// dally/detail/io.hpp: the awaitable shape shared by single-operation I/O. Internal.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstddef>

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

}  // namespace dally::detail
