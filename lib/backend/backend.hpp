// Backend selection and the completion path shared by backends. Internal.
#pragma once

#include <cstdint>
#include <memory>

#include "dally/detail/op.hpp"
#include "dally/runtime.hpp"

namespace dally::detail {

// Creates the backend for `rt`: DALLY_BACKEND=io_uring|epoll forces one; otherwise io_uring
// unless /proc/sys/kernel/io_uring_disabled is 2 or the ring cannot be set up (seccomp),
// then epoll. The first choice in the process is logged in one line on stderr. Throws
// std::system_error / std::invalid_argument with a clear message on failure.
std::unique_ptr<Backend> make_backend(Runtime& rt, const RuntimeOptions& options);

std::unique_ptr<Backend> make_io_uring_backend(Runtime& rt, const RuntimeOptions& options);
std::unique_ptr<Backend> make_epoll_backend(Runtime& rt, const RuntimeOptions& options);

// Delivers one completion of `op`. `link_timeout` marks the CQE of its linked timeout;
// `more` says further completions of a multishot op will follow.
void deliver(Runtime& rt, Op& op, int res, std::uint32_t flags, bool more, bool link_timeout);

}  // namespace dally::detail
