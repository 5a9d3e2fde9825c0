// Backend selection and the completion path shared by backends. Internal.
#pragma once

#include <cstdint>
#include <memory>

#include "dally/detail/op.hpp"
#include "dally/runtime.hpp"

namespace dally::detail {

// Creates the backend for `rt`; throws std::system_error with a clear message on failure.
std::unique_ptr<Backend> make_backend(Runtime& rt, const RuntimeOptions& options);

std::unique_ptr<Backend> make_io_uring_backend(Runtime& rt, const RuntimeOptions& options);

// Delivers one completion of `op`. `link_timeout` marks the CQE of its linked timeout;
// `more` says further completions of a multishot op will follow.
void deliver(Runtime& rt, Op& op, int res, std::uint32_t flags, bool more, bool link_timeout);

}  // namespace dally::detail
