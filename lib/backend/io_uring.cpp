// The io_uring backend: one ring per runtime, submissions batched until poll(), one
// io_uring_enter per loop iteration at most (none when nothing is pending and the kernel
// reports no deferred task work), a persistent eventfd read for cross-thread wakeups.
#include <liburing.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

#include "backend/backend.hpp"

namespace dally::detail {
namespace {

static_assert(sizeof(Timespec) == sizeof(__kernel_timespec));

constexpr std::uint64_t link_timeout_tag = 1;

class IoUringBackend final : public Backend {
public:
    IoUringBackend(Runtime& rt, const RuntimeOptions& options) : m_rt(rt) {
        unsigned entries = options.entries < 8 ? 8 : options.entries;
        io_uring_params p{};
        const unsigned cq = entries * 8 < 4096 ? 4096 : entries * 8;
        // Probe from the best setup down; EINVAL means this kernel lacks a flag.
        const unsigned base = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
        const unsigned tries[] = {
            IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
                IORING_SETUP_R_DISABLED,
            IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
            0,
        };
        int ret = -EINVAL;
        for (unsigned extra : tries) {
            if (!options.defer_taskrun && extra != 0) continue;
            std::memset(&p, 0, sizeof p);
            p.flags = base | extra;
            p.cq_entries = cq;
            ret = io_uring_queue_init_params(entries, &m_ring, &p);
            if (ret != -EINVAL) break;
        }
        if (ret < 0) {
            throw std::system_error(-ret, std::system_category(),
                                    "dally: io_uring_setup failed (is io_uring disabled by "
                                    "/proc/sys/kernel/io_uring_disabled or a seccomp profile?)");
        }
        m_disabled = (p.flags & IORING_SETUP_R_DISABLED) != 0;
        m_taskrun_flag = (p.flags & IORING_SETUP_TASKRUN_FLAG) != 0;
        m_name = "io_uring";
        if (p.flags & IORING_SETUP_DEFER_TASKRUN) {
            m_name += " (single_issuer, defer_taskrun)";
        } else if (p.flags & IORING_SETUP_COOP_TASKRUN) {
            m_name += " (coop_taskrun)";
        }
        m_eventfd = ::eventfd(0, EFD_CLOEXEC);
        if (m_eventfd < 0) {
            int e = errno;
            io_uring_queue_exit(&m_ring);
            throw std::system_error(e, std::system_category(), "dally: eventfd");
        }
        m_wake_op.code = OpCode::read;
        m_wake_op.fd = m_eventfd;
        m_wake_op.buf = &m_wake_buf;
        m_wake_op.len = sizeof m_wake_buf;
        m_wake_op.offset = reinterpret_cast<std::uintptr_t>(this);
        m_wake_op.handler = [](Op& op, int, std::uint32_t, bool) {
            reinterpret_cast<IoUringBackend*>(op.offset)->arm_wake();
        };
    }

    ~IoUringBackend() override {
        io_uring_queue_exit(&m_ring);
        ::close(m_eventfd);
    }

    const char* name() const noexcept override { return m_name.c_str(); }

    void attach_thread() override {
        if (m_disabled) {
            // liburing 2.3 declares io_uring_enable_rings but does not export it.
            long ret = ::syscall(__NR_io_uring_register, m_ring.ring_fd,
                                 IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
            if (ret < 0) throw std::system_error(errno, std::system_category(), "dally: enabling the ring");
            m_disabled = false;
        }
        if (io_uring_probe* probe = io_uring_get_probe_ring(&m_ring)) {
            m_msg_ring = io_uring_opcode_supported(probe, IORING_OP_MSG_RING) != 0;
            io_uring_free_probe(probe);
        }
        arm_wake();
    }

    bool send_wake(Backend& target) noexcept override {
        auto* t = dynamic_cast<IoUringBackend*>(&target);
        if (t == nullptr || !m_msg_ring || m_disabled || m_stop_wake) return false;
        try {
            auto* w = new MsgWake{};
            w->target = t;
            w->op.handler = &IoUringBackend::on_msg_wake;
            io_uring_sqe* sqe = get_sqe(1);
            io_uring_prep_msg_ring(sqe, t->m_ring.ring_fd, 0, 0, 0);
            io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uintptr_t>(&w->op));
            ++m_in_flight;
        } catch (...) {
            return false;
        }
        return true;
    }

    void submit(Op& op) override {
        const bool linked = op.has_deadline;
        io_uring_sqe* sqe = get_sqe(linked ? 2 : 1);
        prep(sqe, op);
        io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uintptr_t>(&op));
        op.pending += 1;
        ++m_in_flight;
        if (linked) {
            sqe->flags |= IOSQE_IO_LINK;
            io_uring_sqe* t = io_uring_get_sqe(&m_ring);
            io_uring_prep_link_timeout(t, reinterpret_cast<__kernel_timespec*>(&op.deadline),
                                       IORING_TIMEOUT_ABS);
            io_uring_sqe_set_data64(t, reinterpret_cast<std::uintptr_t>(&op) | link_timeout_tag);
            op.pending += 1;
            ++m_in_flight;
        }
    }

    void cancel(Op& op) override {
        io_uring_sqe* sqe = get_sqe(1);
        io_uring_prep_cancel64(sqe, reinterpret_cast<std::uintptr_t>(&op), 0);
        io_uring_sqe_set_data64(sqe, 0);
    }

    void cancel_all() override {
        io_uring_sqe* sqe = get_sqe(1);
        io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
        io_uring_sqe_set_data64(sqe, 0);
        m_stop_wake = true;
    }

    void poll(bool wait) override {
        int ret;
        if (wait) {
            ret = io_uring_submit_and_wait(&m_ring, 1);
        } else if (io_uring_sq_ready(&m_ring) != 0 || task_work_pending()) {
            ret = io_uring_submit_and_get_events(&m_ring);
        } else {
            ret = 0;
        }
        if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY && ret != -ETIME) {
            throw std::system_error(-ret, std::system_category(), "dally: io_uring_enter");
        }
        reap();
    }

    void reap_posted() override { reap(); }

    void wake() noexcept override {
        std::uint64_t one = 1;
        // A full counter (EAGAIN) still means the runtime will wake.
        [[maybe_unused]] ssize_t n = ::write(m_eventfd, &one, sizeof one);
    }

    std::size_t in_flight() const noexcept override { return m_in_flight; }

private:
    // A wakeup sent to another ring (IORING_OP_MSG_RING); the target sees a CQE with
    // user_data 0, which ends its wait and is otherwise ignored.
    struct MsgWake {
        Op op;
        IoUringBackend* target = nullptr;
    };
    static void on_msg_wake(Op& op, int res, std::uint32_t, bool) {
        auto* w = reinterpret_cast<MsgWake*>(&op);
        if (res < 0) w->target->wake();  // e.g. the target's CQ was full: use the eventfd
        delete w;
    }

    bool task_work_pending() const noexcept {
        if (!m_taskrun_flag) return true;
        return (IO_URING_READ_ONCE(*m_ring.sq.kflags) & IORING_SQ_TASKRUN) != 0 ||
               (IO_URING_READ_ONCE(*m_ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW) != 0;
    }

    void reap() {
        // Walks the CQ ring in shared memory only (liburing's peek helpers may enter the
        // kernel to flush deferred work when the ring is empty; the next poll does that).
        // Each CQE is consumed before it is delivered, so a delivery may submit (a step
        // resubmitting itself) and even reap again without seeing it twice. deliver() only
        // queues coroutines: no user code runs while the CQ is being walked.
        const unsigned mask = m_ring.cq.ring_mask;
        for (;;) {
            const unsigned head = *m_ring.cq.khead;
            if (head == io_uring_smp_load_acquire(m_ring.cq.ktail)) return;
            const io_uring_cqe* c = &m_ring.cq.cqes[head & mask];
            const std::uint64_t ud = c->user_data;
            const int res = c->res;
            const std::uint32_t flags = c->flags;
            io_uring_cq_advance(&m_ring, 1);
            if (ud == 0) continue;
            Op* op = reinterpret_cast<Op*>(ud & ~link_timeout_tag);
            const bool more = (flags & IORING_CQE_F_MORE) != 0;
            if (!more) --m_in_flight;
            deliver(m_rt, *op, res, flags, more, (ud & link_timeout_tag) != 0);
        }
    }

    void arm_wake() {
        if (m_stop_wake) return;
        io_uring_sqe* sqe = get_sqe(1);
        io_uring_prep_read(sqe, m_eventfd, &m_wake_buf, sizeof m_wake_buf, 0);
        io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uintptr_t>(&m_wake_op));
        ++m_in_flight;
    }

    io_uring_sqe* get_sqe(unsigned need) {
        if (io_uring_sq_space_left(&m_ring) < need) {
            int ret = io_uring_submit(&m_ring);
            if (ret < 0 && ret != -EBUSY && ret != -EAGAIN) {
                throw std::system_error(-ret, std::system_category(), "dally: io_uring_submit");
            }
            while (io_uring_sq_space_left(&m_ring) < need) {
                // The kernel could not take more (CQ overflow backpressure): reap and retry.
                reap();
                io_uring_submit_and_get_events(&m_ring);
            }
        }
        return io_uring_get_sqe(&m_ring);
    }

    static void prep(io_uring_sqe* sqe, Op& op) {
        switch (op.code) {
        case OpCode::nop: io_uring_prep_nop(sqe); break;
        case OpCode::read: io_uring_prep_read(sqe, op.fd, op.buf, op.len, op.offset); break;
        case OpCode::write: io_uring_prep_write(sqe, op.fd, op.buf, op.len, op.offset); break;
        case OpCode::recv: io_uring_prep_recv(sqe, op.fd, op.buf, op.len, static_cast<int>(op.op_flags)); break;
        case OpCode::send:
            io_uring_prep_send(sqe, op.fd, op.buf, op.len, static_cast<int>(op.op_flags) | MSG_NOSIGNAL);
            break;
        case OpCode::accept: io_uring_prep_accept(sqe, op.fd, nullptr, nullptr, SOCK_CLOEXEC); break;
        case OpCode::accept_multishot:
            io_uring_prep_multishot_accept(sqe, op.fd, nullptr, nullptr, SOCK_CLOEXEC);
            break;
        case OpCode::connect:
            io_uring_prep_connect(sqe, op.fd, static_cast<const sockaddr*>(op.buf), op.len);
            break;
        case OpCode::close: io_uring_prep_close(sqe, op.fd); break;
        case OpCode::shutdown: io_uring_prep_shutdown(sqe, op.fd, static_cast<int>(op.op_flags)); break;
        case OpCode::timeout:
            io_uring_prep_timeout(sqe, reinterpret_cast<__kernel_timespec*>(&op.ts), 0, op.op_flags);
            break;
        case OpCode::poll: io_uring_prep_poll_add(sqe, op.fd, op.op_flags); break;
        case OpCode::openat:
            io_uring_prep_openat(sqe, op.fd, static_cast<const char*>(op.buf),
                                 static_cast<int>(op.op_flags), op.len);
            break;
        case OpCode::statx:
            io_uring_prep_statx(sqe, op.fd, static_cast<const char*>(op.buf),
                                static_cast<int>(op.op_flags), op.len,
                                reinterpret_cast<struct statx*>(static_cast<std::uintptr_t>(op.offset)));
            break;
        case OpCode::fsync: io_uring_prep_fsync(sqe, op.fd, op.op_flags); break;
        case OpCode::renameat:
            io_uring_prep_renameat(sqe, op.fd, static_cast<const char*>(op.buf), op.fd,
                                   reinterpret_cast<const char*>(static_cast<std::uintptr_t>(op.offset)),
                                   op.op_flags);
            break;
        case OpCode::unlinkat:
            io_uring_prep_unlinkat(sqe, op.fd, static_cast<const char*>(op.buf), static_cast<int>(op.op_flags));
            break;
        case OpCode::mkdirat:
            io_uring_prep_mkdirat(sqe, op.fd, static_cast<const char*>(op.buf), op.len);
            break;
        }
    }

    Runtime& m_rt;
    io_uring m_ring{};
    bool m_disabled = false;
    bool m_taskrun_flag = false;
    bool m_stop_wake = false;
    bool m_msg_ring = false;
    std::string m_name;
    int m_eventfd = -1;
    std::uint64_t m_wake_buf = 0;
    Op m_wake_op{};
    std::size_t m_in_flight = 0;
};

}  // namespace

std::unique_ptr<Backend> make_io_uring_backend(Runtime& rt, const RuntimeOptions& options) {
    return std::make_unique<IoUringBackend>(rt, options);
}

}  // namespace dally::detail
