// dally/cancel.hpp: cancelling groups of tasks from anywhere.
//
// A CancelSource cancels every task spawned with its token (rt.spawn(task, src.token())).
// Cancelling a task is real: its in-flight operation is cancelled in the kernel
// (IORING_OP_ASYNC_CANCEL) and completes with std::errc::operation_canceled, and every
// later operation of that task fails the same way without being submitted. A wait on a
// sync primitive (Event, Mutex, Semaphore, Channel, Scope::join) ends the same way (see
// sync.hpp for what such a wait still gets without suspending). The task itself
// decides how to unwind (usually by returning on the error). Buffers stay owned by the
// task until the kernel's completion has arrived. JoinHandle::cancel() does the same for
// one task. Both are safe from any thread.
#pragma once

#include <memory>

#include "dally/detail/promise.hpp"

namespace dally {

namespace detail {
// Registers a root with a source (it is cancelled at once if the source already was).
void cancel_state_add(const std::shared_ptr<CancelState>& s, TaskRoot& root) noexcept;
}  // namespace detail

class CancelToken {
public:
    CancelToken() noexcept = default;
    bool cancelled() const noexcept;
    bool valid() const noexcept { return static_cast<bool>(m_state); }

private:
    friend class CancelSource;
    friend class Runtime;
    explicit CancelToken(std::shared_ptr<detail::CancelState> s) noexcept : m_state(std::move(s)) {}
    std::shared_ptr<detail::CancelState> m_state;
};

class CancelSource {
public:
    CancelSource();
    // Cancels every task spawned with a token of this source, now and in the future.
    // Any thread; idempotent.
    void cancel() noexcept;
    bool cancelled() const noexcept;
    CancelToken token() const noexcept { return CancelToken(m_state); }

private:
    std::shared_ptr<detail::CancelState> m_state;
};

}  // namespace dally
