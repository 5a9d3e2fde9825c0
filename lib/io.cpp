#include "dally/detail/io.hpp"

#include <algorithm>
#include <cerrno>

#include "dally/runtime.hpp"

namespace dally::detail {
namespace {

std::error_code op_error(const Op& op) noexcept {
    if (op.res == -ECANCELED && op.timed_out) return std::make_error_code(std::errc::timed_out);
    return errno_code(op.res);
}

}  // namespace

Timespec to_timespec(std::chrono::steady_clock::duration d) noexcept {
    if (d < std::chrono::steady_clock::duration::zero()) d = std::chrono::steady_clock::duration::zero();
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(d);
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d - secs);
    return Timespec{secs.count(), ns.count()};
}

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

void set_deadline(Op& op, std::chrono::steady_clock::time_point deadline) noexcept {
    op.has_deadline = true;
    op.deadline = to_timespec(deadline.time_since_epoch());
}

SizeAwaitable io_op(OpCode code, const char* what, int fd, const void* buf, std::size_t len,
                    std::uint64_t offset) noexcept {
    SizeAwaitable a;
    a.what = what;
    a.op.code = code;
    a.op.fd = fd;
    a.op.buf = const_cast<void*>(buf);
    a.op.len = static_cast<std::uint32_t>(std::min(len, max_op_len));
    a.op.offset = offset;
    return a;
}

TransferAllAwaitable::TransferAllAwaitable(OpCode code, const char* name, int fd,
                                           std::span<const std::byte> data, std::uint64_t offset,
                                           std::errc on_zero) noexcept
    : m_total(data.size()), m_on_zero(on_zero) {
    what = name;
    op.code = code;
    op.fd = fd;
    op.buf = const_cast<std::byte*>(data.data());
    op.len = static_cast<std::uint32_t>(std::min(data.size(), max_op_len));
    op.offset = offset;
    op.step = &TransferAllAwaitable::step;
}

bool TransferAllAwaitable::step(Op& op, int res) {
    if (res <= 0) return false;
    // `op` is the first member of the OpAwaitable base, hence pointer-interconvertible with it.
    auto& self = static_cast<TransferAllAwaitable&>(*reinterpret_cast<OpAwaitable*>(&op));
    op.progress += static_cast<std::uint64_t>(res);
    if (op.progress >= self.m_total) return false;
    Runtime* rt = Runtime::current();
    if (rt == nullptr) return false;
    op.buf = static_cast<std::byte*>(op.buf) + res;
    op.len = static_cast<std::uint32_t>(std::min<std::uint64_t>(self.m_total - op.progress, max_op_len));
    if (op.code == OpCode::write && op.offset != current_position) op.offset += static_cast<std::uint64_t>(res);
    rt->backend().submit(op);
    return true;
}

Result<std::size_t> TransferAllAwaitable::await_resume() const noexcept {
    const auto done = static_cast<std::size_t>(op.progress);
    if (op.progress >= m_total) return static_cast<std::size_t>(m_total);
    if (op.res >= 0) return Result<std::size_t>(std::make_error_code(m_on_zero), done);
    return Result<std::size_t>(size_result(op).error(), done);
}

}  // namespace dally::detail
