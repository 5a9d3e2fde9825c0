// dally/process.hpp: child processes whose pipes and exit are awaited on the ring.
//
// spawn_process() starts a command (argv, env, cwd, stdio each inherited, /dev/null or a
// pipe; by default in its own process group; optional cgroups to join, rlimits and a
// uid/gid to drop to, applied between fork and exec). Pipe ends are read and written
// through io_uring; exit is observed by polling the child's pidfd on the ring and reaped
// with waitid, which also yields its resource usage. Nothing polls waitpid on a timer.
//
//     auto child = dally::spawn_process({.argv = {"make", "-j2"}, .out = dally::Stdio::pipe}).value();
//     char buf[65536];
//     while (auto n = co_await child.stdout_pipe().read(buf)) {
//         if (*n == 0) break;
//         log(buf, *n);
//     }
//     auto st = co_await dally::timeout(10min, child.wait());   // or child.terminate(5s)
//
// No zombies, no orphans: a Child that is destroyed before it was reaped (its owner task
// returned, threw or was cancelled) SIGKILLs the child's process group and reaps the child
// synchronously (it dies promptly after SIGKILL). A Child belongs to one runtime at a time.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "dally/detail/io.hpp"
#include "dally/result.hpp"
#include "dally/task.hpp"
#include "dally/time.hpp"

namespace dally {

// What one of the child's standard streams is connected to.
enum class Stdio {
    inherit,  // the parent's descriptor
    null,     // /dev/null
    pipe,     // a pipe whose other end is the Child's stdin_pipe()/stdout_pipe()/stderr_pipe()
};

// One resource limit applied in the child before exec (setrlimit semantics).
struct ResourceLimit {
    int resource = RLIMIT_NOFILE;  // RLIMIT_AS, RLIMIT_CPU, RLIMIT_NOFILE, RLIMIT_NPROC, ...
    rlim_t soft = RLIM_INFINITY;
    rlim_t hard = RLIM_INFINITY;
};

// What to run and how. Fill with designated initializers.
struct Command {
    // argv[0] is the program: a path if it contains '/', else searched in the parent's PATH.
    std::vector<std::string> argv{};
    // The child's environment ("NAME=value" each); nullopt inherits the parent's.
    std::optional<std::vector<std::string>> env{};
    // Working directory; empty keeps the parent's.
    std::string cwd{};
    Stdio in = Stdio::inherit;   // stdin
    Stdio out = Stdio::inherit;  // stdout
    Stdio err = Stdio::inherit;  // stderr
    // cgroup directories (v2: one; v1: one per hierarchy, e.g. memory, pids, cpu) the child
    // joins, by writing its pid to <dir>/cgroup.procs, before the rlimits and the credential
    // drop (so it needs write access to them only with its original credentials). Everything
    // it starts is born in them. A failure fails the spawn with that errno.
    std::vector<std::string> cgroups{};
    // Applied in order in the child; a failure fails the spawn with that errno.
    std::vector<ResourceLimit> rlimits{};
    // Credentials to drop to, after the rlimits and cwd: gid sets setgroups({gid}) and
    // setgid; uid alone clears the supplementary groups and keeps the gid. Needs privilege.
    // For a real drop set both.
    std::optional<gid_t> gid{};
    std::optional<uid_t> uid{};
    // Put the child in a new process group (pgid = pid), so kill()/terminate() and the
    // destructor reach everything it started. Off: signals go to the child only.
    bool new_process_group = true;
};

// How a reaped child ended, and what it used (its own usage plus that of descendants it
// waited for).
struct ExitStatus {
    bool exited = false;  // true: exit(code); false: killed by `signal`
    int code = 0;         // exit code when `exited`
    int signal = 0;       // terminating signal when !exited
    bool core_dumped = false;
    long max_rss_kb = 0;  // peak resident set size, KiB
    std::chrono::microseconds user_cpu{0};
    std::chrono::microseconds sys_cpu{0};
    bool success() const noexcept { return exited && code == 0; }
};

// One end of a pipe to a child, read or written through the ring. Owns its descriptor.
// Dropping it closes it (synchronously): closing the write end of stdin is how the child
// sees end of input.
class Pipe {
  public:
    Pipe() noexcept = default;
    explicit Pipe(int fd) noexcept : m_fd(fd) {}
    Pipe(Pipe&& o) noexcept : m_fd(std::exchange(o.m_fd, -1)) {}
    Pipe& operator=(Pipe&& o) noexcept;
    ~Pipe();

    bool is_open() const noexcept { return m_fd >= 0; }
    int fd() const noexcept { return m_fd; }

    // Reads up to buf.size() bytes; 0 means every writer closed (end of output). `buf` is
    // borrowed until the co_await completes. Works with timeout().
    SizeAwaitable read(std::span<std::byte> buf) noexcept;
    SizeAwaitable read(std::span<char> buf) noexcept { return read(std::as_writable_bytes(buf)); }
    // Writes some of `data` (possibly fewer bytes). Works with timeout(). When the child
    // has closed its end the kernel raises SIGPIPE in this process: ignore SIGPIPE
    // (signal(SIGPIPE, SIG_IGN); children get it reset to default) to get EPIPE instead.
    SizeAwaitable write(std::span<const std::byte> data) noexcept;
    SizeAwaitable write(std::span<const char> data) noexcept { return write(std::as_bytes(data)); }
    // Writes all of `data`, or fails at `deadline` (timed_out); on error partial() says how
    // much went in. `data` is borrowed until the co_await completes.
    detail::TransferAllAwaitable write_all(std::span<const std::byte> data,
                                           Clock::time_point deadline = Clock::time_point::max()) noexcept;
    detail::TransferAllAwaitable write_all(std::span<const char> data,
                                           Clock::time_point deadline = Clock::time_point::max()) noexcept {
        return write_all(std::as_bytes(data), deadline);
    }
    // Closes now (synchronously; a pipe close does not block).
    void close() noexcept;

  private:
    int m_fd = -1;
};

class Child;

// child.wait(): polls the pidfd on the ring, then reaps with waitid.
struct WaitAwaitable : detail::OpAwaitable {
    Child* child = nullptr;
    // False: only wait until the child has exited, leaving it unreaped (a zombie that
    // still pins its pid and process group id); the status returned is then empty.
    bool reap = true;
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        if (op.fd < 0) return false;  // already reaped (or no child): await_resume answers
        return detail::OpAwaitable::await_suspend(h);
    }
    Result<ExitStatus> await_resume();
};

// A running (or reaped) child process. Move-only; the destructor kills and reaps a child
// that was not reaped (see the top of this file).
class Child {
  public:
    Child() noexcept = default;
    Child(Child&& o) noexcept;
    Child& operator=(Child&& o) noexcept;
    ~Child();

    pid_t pid() const noexcept { return m_pid; }
    int pidfd() const noexcept { return m_pidfd; }
    bool reaped() const noexcept { return m_reaped; }
    // The parent ends of Stdio::pipe streams (not open for other modes). Move them out to
    // hand them to other tasks; read stdout and stderr concurrently when both are pipes, or
    // a child that fills one while you wait on the other deadlocks.
    Pipe& stdin_pipe() noexcept { return m_in; }
    Pipe& stdout_pipe() noexcept { return m_out; }
    Pipe& stderr_pipe() noexcept { return m_err; }

    // Waits for the child to exit and reaps it. Works with timeout() (timed_out: the child
    // still runs); operation_canceled if the task is cancelled. After a successful wait,
    // later waits return the same status at once. The Child must not move while awaited.
    WaitAwaitable wait() noexcept;
    // Sends `sig` to the child's process group (or only the child without a group of its
    // own). A no-op returning ok once the child has been reaped.
    Result<void> kill(int sig = SIGKILL) noexcept;
    // SIGTERM to the group, wait up to `grace` for the child, then SIGKILL and wait: the
    // exit status either way. Before the child is reaped, whatever is left of its process
    // group (members that ignored SIGTERM) is SIGKILLed. Zero grace: SIGTERM then SIGKILL
    // at once. The Child must outlive the returned task.
    Task<Result<ExitStatus>> terminate(Clock::duration grace);
    // Gives the child up: it keeps running, and neither this object nor its destructor
    // signals or reaps it any more (its pipes stay with this object). It is still this
    // process's child: once it exits it stays a zombie until something reaps it or this
    // process ends. Returns its pid (-1 if there was no running child). For a helper meant
    // to outlive this process (a job launcher); await it with wait_for_exit().
    pid_t detach() noexcept;

  private:
    friend Result<Child> spawn_process(const Command& cmd);
    friend struct WaitAwaitable;
    // Reaps if the child has exited (blocking: wait until it has); true once reaped.
    bool reap(bool block) noexcept;
    void reset() noexcept;

    pid_t m_pid = -1;
    int m_pidfd = -1;
    bool m_group = false;
    bool m_reaped = false;
    bool m_lost = false;  // reaped by someone else: no status
    ExitStatus m_status{};
    Pipe m_in, m_out, m_err;
};

// wait_for_exit(pid): owns a pidfd of the process until it is destroyed.
struct ExitAwaitable : detail::OpAwaitable {
    ExitAwaitable() noexcept = default;
    ExitAwaitable(ExitAwaitable&& o) noexcept;
    ExitAwaitable& operator=(ExitAwaitable&&) = delete;
    ~ExitAwaitable();
    int open_error = 0;  // pidfd_open's errno
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        if (open_error != 0) return false;
        return detail::OpAwaitable::await_suspend(h);
    }
    Result<void> await_resume() const noexcept;
};

// Waits until process `pid` has exited: any process, not only a child (pidfd_open, then a
// poll on the ring). It does not reap; no_such_process if there is no such process (or
// it was reaped already). Works with timeout() and task cancellation.
ExitAwaitable wait_for_exit(pid_t pid) noexcept;

// Starts `cmd` (synchronously: vfork + exec, the cost of posix_spawn). Errors are values:
// ENOENT/EACCES for a program that cannot be executed, the errno of a failing cgroup join,
// chdir, setrlimit or credential change, EMFILE when out of descriptors. Callable from any
// thread; the Child is then used on one runtime. A process that sets SIGCHLD to SIG_IGN
// cannot wait for its children (the kernel reaps them).
Result<Child> spawn_process(const Command& cmd);

}  // namespace dally
