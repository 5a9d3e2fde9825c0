// The epoll backend: the fallback where io_uring is unavailable (io_uring_disabled = 2, a
// seccomp profile) or forced with DALLY_BACKEND=epoll. It completes the same Op structs
// with the same results as the io_uring backend:
// - sockets and pipes: try the call at once (MSG_DONTWAIT / non-blocking); on EAGAIN wait
//   for readiness, edge-triggered, registered once per descriptor;
// - timers and linked timeouts: a min-heap driving epoll_pwait2's nanosecond timeout;
// - regular files: on the blocking pool (epoll cannot wait for them), completed back on
//   the runtime through a locked list and the eventfd;
// - cancellation: a waiting op is taken off its list and completes with -ECANCELED; work
//   already on the pool finishes first.
// Completions found during submit() are delivered at the next poll(), never re-entrantly.
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "backend/backend.hpp"
#include "dally/blocking.hpp"

namespace dally::detail {
namespace {

constexpr std::uint32_t timeout_abs = 1U << 0;  // IORING_TIMEOUT_ABS
constexpr std::uint32_t cqe_more = 1U << 1;     // IORING_CQE_F_MORE

std::int64_t to_ns(const Timespec& t) noexcept { return t.tv_sec * 1000000000LL + t.tv_nsec; }

std::int64_t now_ns() noexcept {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<std::int64_t>(t.tv_sec) * 1000000000LL + t.tv_nsec;
}

class EpollBackend final : public Backend {
public:
    explicit EpollBackend(Runtime& rt) : m_rt(rt) {
        m_ep = epoll_create1(EPOLL_CLOEXEC);
        if (m_ep < 0) throw std::system_error(errno, std::system_category(), "dally: epoll_create1");
        m_eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (m_eventfd < 0) {
            int e = errno;
            ::close(m_ep);
            throw std::system_error(e, std::system_category(), "dally: eventfd");
        }
        m_pool->eventfd = m_eventfd;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = m_eventfd;
        epoll_ctl(m_ep, EPOLL_CTL_ADD, m_eventfd, &ev);
    }

    ~EpollBackend() override {
        ::close(m_ep);
        ::close(m_eventfd);
    }

    const char* name() const noexcept override { return "epoll"; }
    void attach_thread() override {}

    void submit(Op& op) override {
        const bool linked = op.has_deadline;
        op.pending += linked ? 2 : 1;
        m_in_flight += linked ? 2 : 1;
        if (linked) add_timer(op, to_ns(op.deadline), true);
        start(op);
    }

    void cancel(Op& op) override {
        if (take_waiting(op)) finish(op, -ECANCELED);  // work on the pool finishes first
    }

    void cancel_all() override {
        std::vector<Op*> all;
        for (auto& [op, where] : m_where) all.push_back(op);
        for (Op* op : all) cancel(*op);
    }

    void poll(bool wait) override {
        collect_pool();
        if (!m_done.empty()) wait = false;
        timespec ts{};
        timespec* timeout = &ts;
        if (wait) {
            const std::int64_t next = next_timer_ns();
            if (next < 0) {
                timeout = nullptr;
            } else {
                const std::int64_t d = std::max<std::int64_t>(0, next - now_ns());
                ts.tv_sec = d / 1000000000LL;
                ts.tv_nsec = d % 1000000000LL;
            }
        }
        epoll_event events[256];
        int n = epoll_pwait2(m_ep, events, 256, timeout, nullptr);
        if (n < 0 && errno != EINTR) {
            throw std::system_error(errno, std::system_category(), "dally: epoll_pwait2");
        }
        for (int i = 0; i < n; ++i) {
            const int fd = events[i].data.fd;
            if (fd == m_eventfd) {
                std::uint64_t v;
                while (::read(m_eventfd, &v, sizeof v) > 0) {
                }
                continue;
            }
            ready(fd, events[i].events);
        }
        fire_timers();
        collect_pool();
        deliver_done();
    }

    void reap_posted() override {
        collect_pool();
        deliver_done();
    }

    void wake() noexcept override {
        std::uint64_t one = 1;
        [[maybe_unused]] ssize_t r = ::write(m_eventfd, &one, sizeof one);
    }

    std::size_t in_flight() const noexcept override { return m_in_flight; }

    void forget_fd(int fd) noexcept override { m_fds.erase(fd); }

private:
    struct FdState {
        std::vector<Op*> readers;
        std::vector<Op*> writers;
        bool registered = false;
        bool nonblocking = false;
        int kind = -1;  // -1 unknown, 0 regular file (pool), 1 pollable
    };
    enum class Where { readers, writers, timer, pool };
    struct Timer {
        std::int64_t at;
        Op* op;
        bool link;
        std::uint64_t seq;
        bool operator>(const Timer& o) const noexcept { return at > o.at; }
    };
    struct Done {
        Op* op;
        int res;
        bool more;
        bool link;
    };

    // ---- starting an op

    void start(Op& op) {
        switch (op.code) {
        case OpCode::nop: finish(op, 0); return;
        case OpCode::timeout: {
            const std::int64_t at = (op.op_flags & timeout_abs) ? to_ns(op.ts) : now_ns() + to_ns(op.ts);
            m_where[&op] = Where::timer;
            add_timer(op, at, false);
            return;
        }
        case OpCode::close:
            m_fds.erase(op.fd);
            finish(op, ::close(op.fd) < 0 ? -errno : 0);
            return;
        case OpCode::shutdown:
            finish(op, ::shutdown(op.fd, static_cast<int>(op.op_flags)) < 0 ? -errno : 0);
            return;
        case OpCode::connect: {
            set_nonblocking(op.fd);
            if (::connect(op.fd, static_cast<const sockaddr*>(op.buf), op.len) == 0) {
                finish(op, 0);
            } else if (errno == EINPROGRESS) {
                wait_on(op, true);
            } else {
                finish(op, -errno);
            }
            return;
        }
        case OpCode::read:
        case OpCode::write:
            if (fd_kind(op.fd) == 0) {
                run_on_pool(op);
                return;
            }
            if (!attempt(op)) wait_on(op, op.code == OpCode::write);
            return;
        case OpCode::poll:
            if (!attempt(op)) wait_on(op, (op.op_flags & POLLOUT) != 0 && (op.op_flags & POLLIN) == 0);
            return;
        case OpCode::openat:
        case OpCode::statx:
        case OpCode::fsync:
        case OpCode::renameat:
        case OpCode::unlinkat:
        case OpCode::mkdirat: run_on_pool(op); return;
        case OpCode::accept_multishot:
        case OpCode::accept: set_nonblocking(op.fd); [[fallthrough]];
        case OpCode::recv:
        case OpCode::send:
            if (!attempt(op)) wait_on(op, op.code == OpCode::send);
            return;
        }
        finish(op, -EOPNOTSUPP);
    }

    // One try of a readiness op. True if the op is finished (or, multishot, drained).
    bool attempt(Op& op) {
        for (;;) {
            int r = 0;
            switch (op.code) {
            case OpCode::recv:
                r = static_cast<int>(::recv(op.fd, op.buf, op.len, static_cast<int>(op.op_flags) | MSG_DONTWAIT));
                break;
            case OpCode::send:
                r = static_cast<int>(::send(op.fd, op.buf, op.len,
                                            static_cast<int>(op.op_flags) | MSG_DONTWAIT | MSG_NOSIGNAL));
                break;
            case OpCode::accept:
            case OpCode::accept_multishot: r = ::accept4(op.fd, nullptr, nullptr, SOCK_CLOEXEC); break;
            case OpCode::read:
            case OpCode::write: {
                // Pipes, ttys, eventfds: their flags are shared with whoever else holds them
                // (stdout!), so instead of O_NONBLOCK, ask first whether the call would block.
                const bool rd = op.code == OpCode::read;
                pollfd p{op.fd, static_cast<short>(rd ? POLLIN : POLLOUT), 0};
                if (::poll(&p, 1, 0) == 0) return false;
                r = static_cast<int>(rd ? ::read(op.fd, op.buf, op.len) : ::write(op.fd, op.buf, op.len));
                break;
            }
            case OpCode::connect: {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(op.fd, SOL_SOCKET, SO_ERROR, &err, &len);
                finish(op, -err);
                return true;
            }
            case OpCode::poll: {
                pollfd p{op.fd, static_cast<short>(op.op_flags), 0};
                if (::poll(&p, 1, 0) > 0) {
                    finish(op, p.revents);
                    return true;
                }
                return false;
            }
            default: finish(op, -EOPNOTSUPP); return true;
            }
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
            if (r < 0 && errno == EINTR) continue;
            const int res = r < 0 ? -errno : r;
            if (op.code == OpCode::accept_multishot) {
                if (res >= 0) {
                    m_done.push_back({&op, res, true, false});
                    continue;  // drain the backlog, multishot style
                }
                finish(op, res);
                return true;
            }
            finish(op, res);
            return true;
        }
    }

    void wait_on(Op& op, bool write) {
        FdState& s = m_fds[op.fd];
        if (!s.registered) {
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
            ev.data.fd = op.fd;
            if (epoll_ctl(m_ep, EPOLL_CTL_ADD, op.fd, &ev) < 0 && errno != EEXIST) {
                finish(op, -errno);
                return;
            }
            s.registered = true;
        }
        (write ? s.writers : s.readers).push_back(&op);
        m_where[&op] = write ? Where::writers : Where::readers;
    }

    void ready(int fd, std::uint32_t events) {
        auto it = m_fds.find(fd);
        if (it == m_fds.end()) return;
        const bool err = (events & (EPOLLERR | EPOLLHUP)) != 0;
        if (events & (EPOLLIN | EPOLLRDHUP) || err) retry(it->second.readers);
        it = m_fds.find(fd);  // a completion may have closed it
        if (it == m_fds.end()) return;
        if (events & EPOLLOUT || err) retry(it->second.writers);
    }

    // Retries waiting ops in order; stops at the first that would block again (a finished
    // op leaves the list; a multishot accept drains the backlog and stays).
    void retry(std::vector<Op*>& list) {
        while (!list.empty()) {
            if (!attempt(*list.front())) return;
        }
    }

    // ---- finishing

    void finish(Op& op, int res) {
        take_waiting(op);
        m_done.push_back({&op, res, false, false});
        if (auto t = m_timer_seq.find(&op); t != m_timer_seq.end()) {
            // The linked timeout loses the race: it completes as cancelled.
            m_timer_seq.erase(t);
            m_done.push_back({&op, -ECANCELED, false, true});
        }
    }

    // Removes op from wherever it waits. False if it was not waiting.
    bool take_waiting(Op& op) {
        auto it = m_where.find(&op);
        if (it == m_where.end()) return false;
        const Where w = it->second;
        m_where.erase(it);
        if (w == Where::readers || w == Where::writers) {
            auto f = m_fds.find(op.fd);
            if (f != m_fds.end()) {
                auto& list = w == Where::readers ? f->second.readers : f->second.writers;
                list.erase(std::remove(list.begin(), list.end(), &op), list.end());
            }
        } else if (w == Where::timer) {
            m_sleep_seq.erase(&op);
        }
        return w != Where::pool;
    }

    void deliver_done() {
        while (!m_done.empty()) {
            std::vector<Done> batch;
            batch.swap(m_done);
            for (const Done& d : batch) {
                if (!d.more) --m_in_flight;
                deliver(m_rt, *d.op, d.res, d.more ? cqe_more : 0, d.more, d.link);
            }
        }
    }

    // ---- timers (sleeps and linked timeouts)

    void add_timer(Op& op, std::int64_t at, bool link) {
        const std::uint64_t seq = ++m_seq;
        (link ? m_timer_seq : m_sleep_seq)[&op] = seq;
        m_timers.push_back({at, &op, link, seq});
        std::push_heap(m_timers.begin(), m_timers.end(), std::greater<>());
    }

    std::int64_t next_timer_ns() {
        while (!m_timers.empty() && !live(m_timers.front())) {
            std::pop_heap(m_timers.begin(), m_timers.end(), std::greater<>());
            m_timers.pop_back();
        }
        return m_timers.empty() ? -1 : m_timers.front().at;
    }

    bool live(const Timer& t) const {
        const auto& map = t.link ? m_timer_seq : m_sleep_seq;
        auto it = map.find(t.op);
        return it != map.end() && it->second == t.seq;
    }

    void fire_timers() {
        const std::int64_t now = now_ns();
        while (next_timer_ns() >= 0 && m_timers.front().at <= now) {
            Timer t = m_timers.front();
            std::pop_heap(m_timers.begin(), m_timers.end(), std::greater<>());
            m_timers.pop_back();
            Op& op = *t.op;
            if (t.link) {
                m_timer_seq.erase(&op);
                m_done.push_back({&op, -ETIME, false, true});
                if (take_waiting(op)) m_done.push_back({&op, -ECANCELED, false, false});
            } else {
                take_waiting(op);
                m_done.push_back({&op, -ETIME, false, false});
                if (auto l = m_timer_seq.find(&op); l != m_timer_seq.end()) {
                    m_timer_seq.erase(l);
                    m_done.push_back({&op, -ECANCELED, false, true});
                }
            }
        }
    }

    // ---- regular files, on the blocking pool

    int fd_kind(int fd) {
        FdState& s = m_fds[fd];
        if (s.kind < 0) {
            struct stat st {};
            s.kind = (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) ? 0 : 1;
        }
        return s.kind;
    }

    void set_nonblocking(int fd) {
        FdState& s = m_fds[fd];
        if (s.nonblocking) return;
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        s.nonblocking = true;
    }

    struct PoolShared {
        std::mutex mutex;
        std::vector<std::pair<Op*, int>> done;
        int eventfd = -1;
    };

    // The call an op stands for, made synchronously (on a pool thread). Field use mirrors
    // the io_uring backend's prep().
    static int blocking_call(const Op& op) {
        const auto* path = static_cast<const char*>(op.buf);
        const bool cur = op.offset == static_cast<std::uint64_t>(-1);
        long r = -1;
        switch (op.code) {
        case OpCode::read:
            r = cur ? ::read(op.fd, op.buf, op.len) : ::pread(op.fd, op.buf, op.len, static_cast<off_t>(op.offset));
            break;
        case OpCode::write:
            r = cur ? ::write(op.fd, op.buf, op.len) : ::pwrite(op.fd, op.buf, op.len, static_cast<off_t>(op.offset));
            break;
        case OpCode::openat: r = ::openat(op.fd, path, static_cast<int>(op.op_flags) | O_CLOEXEC, op.len); break;
        case OpCode::statx:
            r = ::statx(op.fd, path, static_cast<int>(op.op_flags), op.len,
                        reinterpret_cast<struct statx*>(static_cast<std::uintptr_t>(op.offset)));
            break;
        case OpCode::fsync: r = (op.op_flags & 1U) ? ::fdatasync(op.fd) : ::fsync(op.fd); break;
        case OpCode::renameat:
            r = ::renameat2(op.fd, path, op.fd, reinterpret_cast<const char*>(static_cast<std::uintptr_t>(op.offset)),
                            op.op_flags);
            break;
        case OpCode::unlinkat: r = ::unlinkat(op.fd, path, static_cast<int>(op.op_flags)); break;
        case OpCode::mkdirat: r = ::mkdirat(op.fd, path, op.len); break;
        default: errno = EOPNOTSUPP; break;
        }
        return r < 0 ? -errno : static_cast<int>(r);
    }

    void run_on_pool(Op& op) {
        m_where[&op] = Where::pool;
        auto shared = m_pool;
        // The op (and the buffers and paths it points to) stays alive until its completion
        // is delivered, so the job may read it; only its result travels back.
        Op* p = &op;
        submit_blocking(make_job([shared, p] {
            const int res = blocking_call(*p);
            {
                std::lock_guard lock(shared->mutex);
                shared->done.emplace_back(p, res);
            }
            std::uint64_t one = 1;
            [[maybe_unused]] ssize_t w = ::write(shared->eventfd, &one, sizeof one);
        }));
    }

    template <class F>
    static std::shared_ptr<BlockingJob> make_job(F f) {
        struct Job final : BlockingJob {
            explicit Job(F fn) : fn(std::move(fn)) {}
            F fn;
            void run() noexcept override { fn(); }
        };
        return std::make_shared<Job>(std::move(f));
    }

    void collect_pool() {
        std::vector<std::pair<Op*, int>> got;
        {
            std::lock_guard lock(m_pool->mutex);
            got.swap(m_pool->done);
        }
        for (auto [op, res] : got) {
            m_where.erase(op);
            finish(*op, res);
        }
    }

    Runtime& m_rt;
    int m_ep = -1;
    int m_eventfd = -1;
    std::unordered_map<int, FdState> m_fds;
    std::unordered_map<Op*, Where> m_where;
    std::unordered_map<Op*, std::uint64_t> m_timer_seq;  // live linked timeouts
    std::unordered_map<Op*, std::uint64_t> m_sleep_seq;  // live sleeps
    std::vector<Timer> m_timers;
    std::uint64_t m_seq = 0;
    std::vector<Done> m_done;
    std::size_t m_in_flight = 0;
    // Shared with pool jobs, which may finish after this backend is gone (their eventfd
    // write then hits a closed or reused descriptor number: harmless, at worst a spurious
    // wakeup elsewhere; the runtime drains in-flight work before it is destroyed).
    std::shared_ptr<PoolShared> m_pool = std::make_shared<PoolShared>();
};

}  // namespace

std::unique_ptr<Backend> make_epoll_backend(Runtime& rt, const RuntimeOptions&) {
    return std::make_unique<EpollBackend>(rt);
}

}  // namespace dally::detail
