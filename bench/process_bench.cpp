// process_bench: spawn-to-exit round trip of a child process, dally vs posix_spawn + waitpid.
//
// Runs PROGRAM (default /bin/true) N times one after another, each side best of 5 runs:
//   - posix_spawn:  posix_spawn + waitpid in a plain loop (glibc: clone(CLONE_VM|CLONE_VFORK));
//   - dally:        spawn_process (vfork + exec, own process group, pidfd) then
//                   co_await child.wait() (pidfd poll on the ring, waitid with rusage).
// Prints microseconds per spawn for both and the ratio dally / posix_spawn (target <= 1.1).
//
//     bench_process [n] [program]        (default 2000 /bin/true)
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dally/dally.hpp>
#include <string>

extern char** environ;

namespace {

using Seconds = std::chrono::duration<double>;

double posix_spawn_loop(int n, const char* program) {
    char* argv[] = {const_cast<char*>(program), nullptr};
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
        pid_t pid;
        if (posix_spawn(&pid, program, nullptr, nullptr, argv, environ) != 0) {
            std::perror("posix_spawn");
            std::exit(1);
        }
        int status;
        if (waitpid(pid, &status, 0) != pid) std::exit(1);
    }
    return Seconds(std::chrono::steady_clock::now() - t0).count();
}

dally::Task<double> dally_loop(int n, std::string program) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
        auto child = dally::spawn_process({.argv = {program}});
        if (!child) {
            std::fprintf(stderr, "spawn_process: %s\n", child.error().message().c_str());
            std::exit(1);
        }
        auto st = co_await child->wait();
        if (!st) std::exit(1);
    }
    co_return Seconds(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    const int n = argc > 1 ? std::atoi(argv[1]) : 2000;
    const std::string program = argc > 2 ? argv[2] : "/bin/true";
    dally::Runtime rt;
    double best_posix = 1e9, best_dally = 1e9;
    posix_spawn_loop(n / 10 + 1, program.c_str());  // warm up the page cache and the allocator
    (void)rt.block_on(dally_loop(n / 10 + 1, program));
    for (int round = 0; round < 5; ++round) {  // alternating, so drift hits both
        best_posix = std::min(best_posix, posix_spawn_loop(n, program.c_str()));
        best_dally = std::min(best_dally, rt.block_on(dally_loop(n, program)));
    }
    const double us_posix = best_posix / n * 1e6, us_dally = best_dally / n * 1e6;
    std::printf("program                 %s, %d spawns, best of 5\n", program.c_str(), n);
    std::printf("posix_spawn + waitpid   %8.1f us/spawn\n", us_posix);
    std::printf("dally spawn + wait      %8.1f us/spawn\n", us_dally);
    std::printf("ratio dally/posix_spawn %8.3f  (target <= 1.1)\n", us_dally / us_posix);
    return 0;
}
