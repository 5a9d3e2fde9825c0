#include "dally/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace dally {

namespace {


// What the child does between vfork and exec, prepared by the parent so that the child
// only makes raw system calls: it shares the parent's memory (and, under a sanitizer, may
// be a fork of a multithreaded process), so it must not allocate, lock or call into
// intercepted libc.
struct ChildPlan {
    const char* path = nullptr;
    char* const* argv = nullptr;
    char* const* envp = nullptr;
    const char* cwd = nullptr;    // null: keep
    int stdio[3] = {-1, -1, -1};  // fd to install as 0/1/2, or -1 to inherit
    // <dir>/cgroup.procs of each cgroup to join.
    const char* const* cgroup_procs = nullptr;
    std::size_t ncgroups = 0;
    const ResourceLimit* limits = nullptr;
    std::size_t nlimits = 0;
    bool new_group = true;
    bool set_gid = false;
    bool set_uid = false;
    gid_t gid = 0;
    uid_t uid = 0;
    int report_fd = -1;  // CLOEXEC pipe: gets errno if exec is not reached
    // Shared-memory reporting, when vfork really shares memory (it is a fork under TSan
    // or valgrind): the child sets *shared, and the errno that stopped it.
    volatile int* shared = nullptr;
    volatile int* shared_errno = nullptr;
    const sigset_t* mask = nullptr;  // the parent's signal mask, restored before exec
};

// The kernel's struct sigaction (not glibc's): used through the raw syscall.
struct KernelSigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)();
    std::uint64_t mask;
};

[[noreturn]] void fail_in_child(const ChildPlan& p) noexcept {
    int e = errno;
    *p.shared_errno = e;
    if (p.report_fd >= 0) (void)syscall(SYS_write, p.report_fd, &e, sizeof e);
    _exit(127);
}

// Moves the calling process into the cgroup whose cgroup.procs is `procs`: its pid in
// decimal, formatted on the stack (no allocation after vfork). -1 with errno on failure.
int join_cgroup(const char* procs) noexcept {
    char digits[24];
    char* end = digits + sizeof digits;
    char* p = end;
    auto pid = static_cast<unsigned long>(syscall(SYS_getpid));
    do {
        *--p = static_cast<char>('0' + pid % 10);
        pid /= 10;
    } while (pid != 0);
    const int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, procs, O_WRONLY | O_CLOEXEC));
    if (fd < 0) return -1;
    const long n = syscall(SYS_write, fd, p, static_cast<std::size_t>(end - p));
    const int e = errno;
    (void)syscall(SYS_close, fd);
    if (n < 0) {
        errno = e;
        return -1;
    }
    return 0;
}

[[noreturn]] void run_child(const ChildPlan& p) noexcept {
    *p.shared = 1;
    // Handlers belong to the parent's code; a signal arriving before exec must not run one
    // in the child. SIGPIPE is reset too: a runtime usually ignores it, its children should not.
    for (int sig = 1; sig < 65; ++sig) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        KernelSigaction old{};
        if (syscall(SYS_rt_sigaction, sig, nullptr, &old, 8) != 0) continue;
        if (old.handler == SIG_DFL) continue;
        if (old.handler == SIG_IGN && sig != SIGPIPE) continue;
        KernelSigaction dfl{SIG_DFL, 0, nullptr, 0};
        (void)syscall(SYS_rt_sigaction, sig, &dfl, nullptr, 8);
    }
    if (p.new_group && syscall(SYS_setpgid, 0, 0) != 0) fail_in_child(p);
    // Every descriptor in the plan is >= 3 (the parent lifts them), so installing one never
    // overwrites another that is still to be installed.
    for (int i = 0; i < 3; ++i) {
        if (p.stdio[i] >= 0 && syscall(SYS_dup3, p.stdio[i], i, 0) < 0) fail_in_child(p);
    }
    // Before the credential drop, which would take the right to write cgroup.procs. From
    // here on, everything the child starts is born in (and limited by) the cgroups.
    for (std::size_t i = 0; i < p.ncgroups; ++i) {
        if (join_cgroup(p.cgroup_procs[i]) != 0) fail_in_child(p);
    }
    for (std::size_t i = 0; i < p.nlimits; ++i) {
        rlimit r{p.limits[i].soft, p.limits[i].hard};
        if (syscall(SYS_prlimit64, 0, p.limits[i].resource, &r, nullptr) != 0) fail_in_child(p);
    }
    if (p.cwd != nullptr && syscall(SYS_chdir, p.cwd) != 0) fail_in_child(p);
    // Raw calls, not glibc's setuid(): glibc broadcasts credential changes to every thread
    // of the (shared-memory) parent.
    if (p.set_gid) {
        gid_t groups[1] = {p.gid};
        if (syscall(SYS_setgroups, 1, groups) != 0) fail_in_child(p);
        if (syscall(SYS_setgid, p.gid) != 0) fail_in_child(p);
    } else if (p.set_uid) {
        if (syscall(SYS_setgroups, 0, nullptr) != 0) fail_in_child(p);
    }
    if (p.set_uid && syscall(SYS_setuid, p.uid) != 0) fail_in_child(p);
    (void)syscall(SYS_rt_sigprocmask, SIG_SETMASK, p.mask, nullptr, 8);
    syscall(SYS_execve, p.path, p.argv, p.envp);
    fail_in_child(p);
}

// Whether vfork shares memory here (-1: not known yet). Until a spawn has shown that it
// does, exec failures are reported through a pipe as well.
std::atomic<int> g_vfork_shares_memory{-1};

// The child runs on this function's stack frame until it execs or exits, so the frame
// holds nothing the parent needs afterwards (and the parent's locals cannot be clobbered).
[[gnu::noinline]] pid_t vfork_child(const ChildPlan& plan) noexcept {
    const pid_t pid = vfork();
    if (pid == 0) run_child(plan);
    return pid;
}

// Descriptors opened for one spawn; whatever is still here on return gets closed.
struct FdSet {
    std::vector<int> fds;
    ~FdSet() {
        for (int fd : fds)
            if (fd >= 0) ::close(fd);
    }
    int add(int fd) {
        fds.push_back(fd);
        return fd;
    }
    // Stops owning `fd` (handed to a Pipe).
    int take(int fd) {
        std::replace(fds.begin(), fds.end(), fd, -1);
        return fd;
    }
};

// Moves fd to a number >= 3 (keeping CLOEXEC), so that it cannot be one of the stdio
// numbers the child installs. -errno on failure.
int lift(int fd) noexcept {
    if (fd < 0) return -errno;
    if (fd >= 3) return fd;
    int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int e = errno;
    ::close(fd);
    return moved >= 0 ? moved : -e;
}

Result<std::string> resolve_program(const std::string& name) {
    if (name.empty()) return std::make_error_code(std::errc::no_such_file_or_directory);
    if (name.find('/') != std::string::npos) return name;
    const char* env_path = std::getenv("PATH");
    std::string path =
        env_path != nullptr && *env_path != '\0' ? env_path : "/usr/local/bin:/usr/bin:/bin";
    bool denied = false;
    std::size_t start = 0;
    for (;;) {
        std::size_t end = path.find(':', start);
        std::string dir =
            path.substr(start, end == std::string::npos ? std::string::npos : end - start);
        std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
        struct stat st {};
        if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
            if (::access(candidate.c_str(), X_OK) == 0) return candidate;
            denied = true;
        }
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return std::make_error_code(denied ? std::errc::permission_denied
                                       : std::errc::no_such_file_or_directory);
}

}  // namespace

// ---------------------------------------------------------------- Pipe

Pipe& Pipe::operator=(Pipe&& o) noexcept {
    if (this != &o) {
        close();
        m_fd = std::exchange(o.m_fd, -1);
    }
    return *this;
}

Pipe::~Pipe() { close(); }

void Pipe::close() noexcept {
    detail::close_fd(std::exchange(m_fd, -1));  // through dally: the epoll backend tracks fds
}

SizeAwaitable Pipe::read(std::span<std::byte> buf) noexcept {
    // Pipes have no position: "current".
    return detail::io_op(detail::OpCode::read, "Pipe::read", m_fd, buf.data(), buf.size(),
                         detail::current_position);
}

SizeAwaitable Pipe::write(std::span<const std::byte> data) noexcept {
    return detail::io_op(detail::OpCode::write, "Pipe::write", m_fd, data.data(), data.size(),
                         detail::current_position);
}

detail::TransferAllAwaitable Pipe::write_all(std::span<const std::byte> data,
                                             Clock::time_point deadline) noexcept {
    detail::TransferAllAwaitable a(detail::OpCode::write, "Pipe::write_all", m_fd, data,
                                   detail::current_position, std::errc::broken_pipe);
    if (deadline != Clock::time_point::max()) a.set_deadline(deadline);
    return a;
}

// ---------------------------------------------------------------- Child

Child::Child(Child&& o) noexcept
    : m_pid(std::exchange(o.m_pid, -1)),
      m_pidfd(std::exchange(o.m_pidfd, -1)),
      m_group(o.m_group),
      m_reaped(o.m_reaped),
      m_lost(o.m_lost),
      m_status(o.m_status),
      m_in(std::move(o.m_in)),
      m_out(std::move(o.m_out)),
      m_err(std::move(o.m_err)) {}

Child& Child::operator=(Child&& o) noexcept {
    if (this != &o) {
        reset();
        m_pid = std::exchange(o.m_pid, -1);
        m_pidfd = std::exchange(o.m_pidfd, -1);
        m_group = o.m_group;
        m_reaped = o.m_reaped;
        m_lost = o.m_lost;
        m_status = o.m_status;
        m_in = std::move(o.m_in);
        m_out = std::move(o.m_out);
        m_err = std::move(o.m_err);
    }
    return *this;
}

Child::~Child() { reset(); }

void Child::reset() noexcept {
    if (m_pid > 0 && !m_reaped) {
        // Never leave a zombie or an orphan: SIGKILL cannot be caught, so the blocking
        // reap below returns as soon as the kernel has torn the child down.
        (void)kill(SIGKILL);
        (void)reap(true);
    }
    detail::close_fd(std::exchange(m_pidfd, -1));
    m_pid = -1;
    m_in.close();
    m_out.close();
    m_err.close();
}

bool Child::reap(bool block) noexcept {
    if (m_reaped) return true;
    if (m_pidfd < 0) return false;
    siginfo_t info{};
    rusage ru{};
    long r;
    do {
        // The raw syscall, because it reports the child's rusage (glibc's waitid does not).
        r = syscall(SYS_waitid, P_PIDFD, m_pidfd, &info, WEXITED | (block ? 0 : WNOHANG), &ru);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        // ECHILD: reaped elsewhere (SIGCHLD ignored, or a waitpid(-1) in the process).
        if (errno == ECHILD) {
            m_reaped = true;
            m_lost = true;
        }
        return m_reaped;
    }
    if (info.si_pid == 0) return false;
    ExitStatus s;
    if (info.si_code == CLD_EXITED) {
        s.exited = true;
        s.code = info.si_status;
    } else {
        s.signal = info.si_status;
        s.core_dumped = info.si_code == CLD_DUMPED;
    }
    s.max_rss_kb = ru.ru_maxrss;
    s.user_cpu =
        std::chrono::seconds(ru.ru_utime.tv_sec) + std::chrono::microseconds(ru.ru_utime.tv_usec);
    s.sys_cpu =
        std::chrono::seconds(ru.ru_stime.tv_sec) + std::chrono::microseconds(ru.ru_stime.tv_usec);
    m_status = s;
    m_reaped = true;
    return true;
}

Result<void> Child::kill(int sig) noexcept {
    if (m_pid <= 0) return std::make_error_code(std::errc::no_such_process);
    if (m_reaped) return {};
    // While the child is unreaped its pid (and so its process group id) cannot be reused,
    // so the group we signal is ours.
    if (m_group && ::kill(-m_pid, sig) == 0) return {};
    if (syscall(SYS_pidfd_send_signal, m_pidfd, sig, nullptr, 0) == 0) return {};
    return errno_code(errno);
}

pid_t Child::detach() noexcept {
    if (m_pid <= 0 || m_reaped) return -1;
    const pid_t pid = m_pid;
    detail::close_fd(std::exchange(m_pidfd, -1));
    m_pid = -1;
    return pid;
}

ExitAwaitable::ExitAwaitable(ExitAwaitable&& o) noexcept
    : detail::OpAwaitable(o), open_error(o.open_error) {
    o.op.fd = -1;
}

ExitAwaitable::~ExitAwaitable() { detail::close_fd(std::exchange(op.fd, -1)); }

Result<void> ExitAwaitable::await_resume() const noexcept {
    if (open_error != 0) return errno_code(open_error);
    return detail::void_result(op);
}

ExitAwaitable wait_for_exit(pid_t pid) noexcept {
    ExitAwaitable a;
    a.what = "wait_for_exit";
    a.op.code = detail::OpCode::poll;
    a.op.op_flags = POLLIN;
    a.op.fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    if (a.op.fd < 0) a.open_error = errno;
    return a;
}

WaitAwaitable Child::wait() noexcept {
    WaitAwaitable a;
    a.what = "Child::wait";
    a.child = this;
    a.op.code = detail::OpCode::poll;
    a.op.fd = (m_pid > 0 && !m_reaped) ? m_pidfd : -1;
    a.op.op_flags = POLLIN;
    return a;
}

Result<ExitStatus> WaitAwaitable::await_resume() {
    if (child == nullptr || child->m_pid <= 0)
        return std::make_error_code(std::errc::no_child_process);
    if (child->m_reaped) {
        if (child->m_lost) return std::make_error_code(std::errc::no_child_process);
        return child->m_status;
    }
    if (op.res < 0) return detail::void_result(op).error();
    if (!reap) return ExitStatus{};
    // The pidfd is readable once the child has exited, so this does not block.
    if (!child->reap(true)) return std::make_error_code(std::errc::no_child_process);
    return await_resume();
}

Task<Result<ExitStatus>> Child::terminate(Clock::duration grace) {
    if (!m_reaped) {
        (void)kill(SIGTERM);
        auto exited = wait();
        exited.reap = false;
        auto r = co_await dally::timeout(grace, exited);
        if (r.timed_out()) {
            (void)kill(SIGKILL);
            auto killed = wait();
            killed.reap = false;
            r = co_await killed;
        }
        if (!r) co_return r.error();
        // The unreaped child still pins its process group id, so this reaches only our group.
        if (m_group) (void)::kill(-m_pid, SIGKILL);
    }
    co_return co_await wait();
}

// ---------------------------------------------------------------- spawn

Result<Child> spawn_process(const Command& cmd) {
    if (cmd.argv.empty()) return std::make_error_code(std::errc::invalid_argument);
    auto path = resolve_program(cmd.argv[0]);
    if (!path) return path.error();

    std::vector<char*> argv;
    argv.reserve(cmd.argv.size() + 1);
    for (const auto& a : cmd.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    if (cmd.env) {
        envp.reserve(cmd.env->size() + 1);
        for (const auto& e : *cmd.env) envp.push_back(const_cast<char*>(e.c_str()));
        envp.push_back(nullptr);
    }

    std::vector<std::string> procs_paths;
    std::vector<const char*> procs;
    procs_paths.reserve(cmd.cgroups.size());
    procs.reserve(cmd.cgroups.size());
    for (const auto& dir : cmd.cgroups) {
        procs_paths.push_back(dir + "/cgroup.procs");
        procs.push_back(procs_paths.back().c_str());
    }

    FdSet fds;
    auto fail = [](int e) -> Result<Child> { return errno_code(e); };
    ChildPlan plan;
    plan.path = path->c_str();
    plan.argv = argv.data();
    plan.envp = cmd.env ? envp.data() : environ;
    plan.cwd = cmd.cwd.empty() ? nullptr : cmd.cwd.c_str();
    plan.cgroup_procs = procs.data();
    plan.ncgroups = procs.size();
    plan.limits = cmd.rlimits.data();
    plan.nlimits = cmd.rlimits.size();
    plan.new_group = cmd.new_process_group;
    plan.set_gid = cmd.gid.has_value();
    plan.gid = cmd.gid.value_or(0);
    plan.set_uid = cmd.uid.has_value();
    plan.uid = cmd.uid.value_or(0);

    int devnull = -1;
    int parent_end[3] = {-1, -1, -1};
    const Stdio modes[3] = {cmd.in, cmd.out, cmd.err};
    for (int i = 0; i < 3; ++i) {
        if (modes[i] == Stdio::null) {
            if (devnull < 0) {
                devnull = lift(::open("/dev/null", O_RDWR | O_CLOEXEC));
                if (devnull < 0) return fail(devnull);
                fds.add(devnull);
            }
            plan.stdio[i] = devnull;
        } else if (modes[i] == Stdio::pipe) {
            int p[2];
            if (::pipe2(p, O_CLOEXEC) != 0) return fail(errno);
            int r = lift(p[0]), w = lift(p[1]);
            if (r >= 0) fds.add(r);
            if (w >= 0) fds.add(w);
            if (r < 0 || w < 0) return fail(r < 0 ? r : w);
            plan.stdio[i] = i == 0 ? r : w;
            parent_end[i] = i == 0 ? w : r;
        }
    }
    volatile int shared = 0, shared_errno = 0;
    plan.shared = &shared;
    plan.shared_errno = &shared_errno;
    int report[2] = {-1, -1};
    const bool use_pipe = g_vfork_shares_memory.load(std::memory_order_relaxed) != 1;
    if (use_pipe) {
        if (::pipe2(report, O_CLOEXEC) != 0) return fail(errno);
        fds.add(report[0]);
        fds.add(report[1]);
        plan.report_fd = report[1];
    }

    // No signal handler may run in the child between vfork and exec (it would run parent
    // code on the parent's stack); run_child resets the handlers, then restores this mask.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    plan.mask = &old;
    const pid_t pid = vfork_child(plan);
    const int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (pid < 0) return fail(fork_errno);

    // Also from this side, for builds where vfork is a fork (sanitizers): when spawn
    // returns, the group exists. EACCES once the child has exec'd is expected.
    if (cmd.new_process_group) (void)::setpgid(pid, pid);
    for (int i = 0; i < 3; ++i) {
        if (plan.stdio[i] >= 0 && plan.stdio[i] != devnull) ::close(fds.take(plan.stdio[i]));
    }
    int child_errno = 0;
    if (shared == 1) {
        g_vfork_shares_memory.store(1, std::memory_order_relaxed);
        child_errno = shared_errno;
    } else {
        g_vfork_shares_memory.store(0, std::memory_order_relaxed);
    }
    if (use_pipe) {
        ::close(fds.take(report[1]));
        ssize_t n;
        int piped = 0;
        do {
            n = ::read(report[0], &piped, sizeof piped);
        } while (n < 0 && errno == EINTR);
        if (n == static_cast<ssize_t>(sizeof piped)) child_errno = piped;
    }
    if (child_errno != 0) {
        int status;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        return fail(child_errno);
    }

    Child child;
    child.m_pid = pid;
    child.m_group = cmd.new_process_group;
    int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) {
        int e = errno;
        ::kill(pid, SIGKILL);
        int status;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        child.m_pid = -1;
        return fail(e);
    }
    child.m_pidfd = pidfd;
    if (parent_end[0] >= 0) child.m_in = Pipe(fds.take(parent_end[0]));
    if (parent_end[1] >= 0) child.m_out = Pipe(fds.take(parent_end[1]));
    if (parent_end[2] >= 0) child.m_err = Pipe(fds.take(parent_end[2]));
    return child;
}

}  // namespace dally
