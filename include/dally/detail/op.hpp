// dally/detail/op.hpp: one in-flight I/O operation and the backend interface that runs it.
// Internal: an Op lives inside an awaitable, in the awaiting coroutine's frame, and must
// stay there until its last completion arrives (the backend holds a pointer to it).
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>

namespace dally {
class Runtime;
}

namespace dally::detail {

struct TaskRoot;

// Layout-compatible with the kernel's __kernel_timespec.
struct Timespec {
    std::int64_t tv_sec = 0;
    long long tv_nsec = 0;
};

enum class OpCode : std::uint8_t {
    nop,
    read,
    write,
    recv,
    send,
    accept,
    accept_multishot,
    connect,
    close,
    shutdown,
    timeout,
    poll,
    // Files (fs.hpp). Paths are NUL-terminated strings at `buf`, relative to `fd` (AT_FDCWD).
    openat,    // op_flags: open flags; len: mode
    statx,     // op_flags: AT_* flags; len: STATX_* mask; offset: the struct statx to fill
    fsync,     // op_flags: IORING_FSYNC_DATASYNC or 0
    renameat,  // offset: the new path (const char*); op_flags: RENAME_* flags
    unlinkat,  // op_flags: 0 or AT_REMOVEDIR
    mkdirat,   // len: mode
};

struct Op;
// Full control of every completion (multishot operations).
using CqeHandler = void (*)(Op& op, int res, std::uint32_t cqe_flags, bool more);
// Sees the result first; returns true if it resubmitted the op to continue (send_all).
using StepHandler = bool (*)(Op& op, int res);

struct Op {
    OpCode code = OpCode::nop;
    std::uint8_t pending = 0;         // completions still to arrive
    bool timed_out = false;           // the linked timeout fired
    bool has_deadline = false;        // submit with a linked timeout at `deadline`
    std::uint32_t op_flags = 0;       // msg flags, timeout flags, shutdown how, poll mask
    int fd = -1;
    std::int32_t res = 0;             // the operation's result: >= 0 or -errno
    std::uint32_t len = 0;
    void* buf = nullptr;              // data buffer, or sockaddr for connect
    std::uint64_t offset = 0;         // file offset; total bytes for a multi-step send; a
                                      // second pointer for renameat/statx (see OpCode)
    std::uint64_t progress = 0;       // bytes done by earlier steps of a multi-step op
    Timespec ts{};                    // timeout op's duration/deadline
    Timespec deadline{};              // linked-timeout deadline (CLOCK_MONOTONIC, absolute)
    std::coroutine_handle<> waiter{}; // resumed when the last completion arrives
    TaskRoot* root = nullptr;         // task that waits, for cancellation routing
    CqeHandler handler = nullptr;     // custom completion (multishot); null: resume waiter
    StepHandler step = nullptr;       // continuation of a multi-step op
};

// Where an Op runs. One per Runtime; all calls except wake() come from the runtime's thread.
class Backend {
public:
    virtual ~Backend() = default;
    virtual const char* name() const noexcept = 0;
    // Called once on the thread that runs the runtime, before any submit.
    virtual void attach_thread() = 0;
    // Queues the op; it is sent to the kernel at the next poll(). May be called again for
    // an op whose earlier completions are still arriving (a step resubmitting itself).
    virtual void submit(Op& op) = 0;
    // Asks for an in-flight op to complete early with -ECANCELED (if it has not completed).
    virtual void cancel(Op& op) = 0;
    // Cancels everything in flight (shutdown).
    virtual void cancel_all() = 0;
    // Flushes submissions and delivers completions; blocks for one event if `wait`.
    virtual void poll(bool wait) = 0;
    // Delivers completions already posted, without entering the kernel (any thread).
    virtual void reap_posted() = 0;
    // Thread-safe: makes a blocking poll() return.
    virtual void wake() noexcept = 0;
    // Owner thread: queues a wakeup of `target` on this backend's own submissions (so it
    // costs no syscall of its own); false if this backend cannot, and the caller uses wake().
    virtual bool send_wake(Backend& target) noexcept {
        (void)target;
        return false;
    }
    // Completions still expected.
    virtual std::size_t in_flight() const noexcept = 0;
    // A descriptor is about to be closed by dally: drop any state kept for its number.
    virtual void forget_fd(int fd) noexcept { (void)fd; }
};

}  // namespace dally::detail
