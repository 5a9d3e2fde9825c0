#include "dally/signal.hpp"

#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <mutex>

#include "dally/detail/io.hpp"
#include "dally/runtime.hpp"

namespace dally {
namespace {

std::mutex g_install_mutex;
std::atomic<bool> g_installed[NSIG] = {};

// Runs on a thread that does not block `sig`: block it there for good (by editing the mask
// that sigreturn restores) and raise it again for the process, so it ends up pending on a
// thread that blocks it, where the signalfd reads it.
void forward(int sig, siginfo_t*, void* context) {
    const int saved = errno;
    // Both: the mask sigreturn restores (a kernel-delivered handler), and the thread's mask
    // itself (a handler run later by an interceptor such as TSan, whose context is a copy).
    auto* uc = static_cast<ucontext_t*>(context);
    sigaddset(&uc->uc_sigmask, sig);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    pthread_sigmask(SIG_BLOCK, &one, nullptr);
    kill(getpid(), sig);
    errno = saved;
}

void install(int sig) {
    if (sig <= 0 || sig >= NSIG || g_installed[sig].load(std::memory_order_acquire)) return;
    std::lock_guard lock(g_install_mutex);
    if (g_installed[sig].load(std::memory_order_relaxed)) return;
    struct sigaction sa {};
    sa.sa_sigaction = &forward;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, nullptr);
    g_installed[sig].store(true, std::memory_order_release);
}

struct ReadAwaitable : detail::OpAwaitable {
    Result<std::size_t> await_resume() const noexcept { return detail::size_result(op); }
};

}  // namespace

Task<Result<int>> wait_signal(SignalSet signals) {
    if (!signals.valid() || signals.empty() || signals.contains(SIGKILL) ||
        signals.contains(SIGSTOP)) {
        co_return std::make_error_code(std::errc::invalid_argument);
    }
    sigset_t set;
    sigemptyset(&set);
    for (int sig = 1; sig < NSIG && sig <= 64; ++sig) {
        if (signals.contains(sig)) sigaddset(&set, sig);
    }
    // Block before installing the handler: a signal arriving in between then stays pending.
    // Every runtime thread blocks them too (now, by a post, and any runtime bound later), so
    // they stay pending for the signalfd; the forwarding handler covers all other threads.
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::uint64_t bits = 0;
    for (int sig = 1; sig <= 64; ++sig) {
        if (signals.contains(sig)) bits |= std::uint64_t{1} << (sig - 1);
    }
    if ((detail::g_managed_signals.fetch_or(bits, std::memory_order_acq_rel) & bits) != bits) {
        Runtime::for_each([](Runtime& rt, void*) { rt.post([] { detail::block_managed_signals(); }); },
                          nullptr);
    }
    for (int sig = 1; sig < NSIG && sig <= 64; ++sig) {
        if (signals.contains(sig)) install(sig);
    }
    const int fd = signalfd(-1, &set, SFD_CLOEXEC);
    if (fd < 0) co_return errno_code(errno);
    signalfd_siginfo info{};
    ReadAwaitable read;
    read.what = "wait_signal";
    read.op.code = detail::OpCode::read;
    read.op.fd = fd;
    read.op.buf = &info;
    read.op.len = sizeof info;
    read.op.offset = static_cast<std::uint64_t>(-1);
    auto r = co_await read;
    detail::close_fd(fd);
    if (!r) co_return r.error();
    co_return static_cast<int>(info.ssi_signo);
}

}  // namespace dally
