// Tests for dally/process.hpp: spawning with pipes, env, cwd, cgroups, rlimits and
// credentials; exit status and rusage; terminate-then-kill of a process group; 100 MiB
// through a pipe; 1,000 concurrent children; no zombie or orphan after a cancelled owner.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <dally/process.hpp>
#include <dally/runtime.hpp>
#include <dally/time.hpp>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using dally::Child;
using dally::Command;
using dally::ExitStatus;
using dally::Runtime;
using dally::Stdio;
using dally::Task;
using dally_test::ms_since;
using dally_test::slowdown;

// Reads a pipe to its end (bounded: 10 s without data ends it).
Task<std::string> read_all(dally::Pipe& p) {
    std::string out;
    char buf[4096];
    for (;;) {
        auto r = co_await dally::timeout(10s, p.read(std::span<char>(buf)));
        if (!r || *r == 0) break;
        out.append(buf, *r);
    }
    co_return out;
}

// Spawns, reads stdout to its end, waits: {stdout, status}.
Task<std::pair<std::string, dally::Result<ExitStatus>>> run(Command cmd) {
    cmd.out = Stdio::pipe;
    auto child = dally::spawn_process(cmd);
    if (!child) co_return std::pair{std::string(), dally::Result<ExitStatus>(child.error())};
    std::string out = co_await read_all(child->stdout_pipe());
    auto st = co_await dally::timeout(10s, child->wait());
    co_return std::pair{std::move(out), std::move(st)};
}

// "S" state letter of /proc/<pid>/stat, or 0 if the process does not exist.
char proc_state(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(f, line)) return 0;
    auto close = line.rfind(')');
    if (close == std::string::npos || close + 2 >= line.size()) return 0;
    return line[close + 2];
}

// Children of this process (any state), and how many of them are zombies.
std::pair<int, int> count_children() {
    int children = 0, zombies = 0;
    const pid_t self = ::getpid();
    DIR* d = ::opendir("/proc");
    if (d == nullptr) return {-1, -1};
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
        std::string line;
        if (!std::getline(f, line)) continue;
        auto close = line.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream rest(line.substr(close + 2));
        char state = 0;
        long ppid = 0;
        rest >> state >> ppid;
        if (ppid == self) {
            ++children;
            if (state == 'Z') ++zombies;
        }
    }
    ::closedir(d);
    return {children, zombies};
}

TEST(Process, EchoIsReadThroughTheStdoutPipe) {
    Runtime rt;
    auto [out, st] = rt.block_on(run({.argv = {"echo", "hello", "world"}}));
    ASSERT_TRUE(st.ok()) << st.error().message();
    EXPECT_EQ(out, "hello world\n");
    EXPECT_TRUE(st->success());
}

TEST(Process, StdinPipeRoundTripsThroughCat) {
    Runtime rt;
    auto r = rt.block_on([]() -> Task<std::string> {
        auto child =
            dally::spawn_process({.argv = {"cat"}, .in = Stdio::pipe, .out = Stdio::pipe}).value();
        std::string text;
        for (int i = 0; i < 1000; ++i) text += "line " + std::to_string(i) + "\n";
        // Write while reading: cat's output pipe fills up before its input is consumed.
        auto writer = [](dally::Pipe in, const std::string& data) -> Task<void> {
            auto w = co_await in.write_all(std::span<const char>(data), dally::Clock::now() + 10s);
            EXPECT_TRUE(w.ok()) << w.error().message();
            in.close();  // end of input for cat (the frame, and `in`, lives until joined)
        };
        auto h = dally::spawn(writer(std::move(child.stdin_pipe()), text));
        std::string out = co_await read_all(child.stdout_pipe());
        co_await h;
        auto st = co_await dally::timeout(10s, child.wait());
        EXPECT_TRUE(st.ok() && st->success());
        EXPECT_EQ(out, text);
        co_return out;
    }());
    EXPECT_FALSE(r.empty());
}

TEST(Process, ExitCodeAndSignalAreReported) {
    Runtime rt;
    auto [o1, code] = rt.block_on(run({.argv = {"sh", "-c", "exit 42"}}));
    ASSERT_TRUE(code.ok());
    EXPECT_TRUE(code->exited);
    EXPECT_EQ(code->code, 42);
    EXPECT_FALSE(code->success());
    auto [o2, sig] = rt.block_on(run({.argv = {"sh", "-c", "kill -USR1 $$"}}));
    ASSERT_TRUE(sig.ok());
    EXPECT_FALSE(sig->exited);
    EXPECT_EQ(sig->signal, SIGUSR1);
}

TEST(Process, RusageReportsPeakRssAndCpu) {
    Runtime rt;
    // A busy loop in the shell uses measurable CPU and, like any process, some memory.
    auto [out, st] = rt.block_on(
        run({.argv = {"sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"}}));
    ASSERT_TRUE(st.ok());
    EXPECT_TRUE(st->success());
    EXPECT_GT(st->max_rss_kb, 0);
    EXPECT_GT((st->user_cpu + st->sys_cpu).count(), 0);
}

TEST(Process, MissingBinaryIsAnEnoentValue) {
    auto r = dally::spawn_process({.argv = {"/nonexistent/dally-no-such-binary"}});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), std::errc::no_such_file_or_directory);
    auto p = dally::spawn_process({.argv = {"dally-no-such-binary-on-path"}});
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.error(), std::errc::no_such_file_or_directory);
    auto c = dally::spawn_process({.argv = {"true"}, .cwd = "/nonexistent-dir"});
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error(), std::errc::no_such_file_or_directory);
    EXPECT_EQ(count_children().first, 0);
}

TEST(Process, CwdAndEnvAreRespected) {
    Runtime rt;
    auto [out, st] = rt.block_on(
        run({.argv = {"/bin/sh", "-c", "pwd; echo \"$DALLY_X\"; echo \"${HOME:-unset}\""},
             .env = std::vector<std::string>{"DALLY_X=42"},
             .cwd = "/tmp"}));
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(out, "/tmp\n42\nunset\n");
}

TEST(Process, RlimitIsAppliedInTheChild) {
    Runtime rt;
    auto [out, st] =
        rt.block_on(run({.argv = {"sh", "-c", "ulimit -n"},
                         .rlimits = {{.resource = RLIMIT_NOFILE, .soft = 77, .hard = 77}}}));
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(out, "77\n");
}

TEST(Process, DropsToAnotherUidAndGid) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to change credentials";
    Runtime rt;
    auto [out, st] =
        rt.block_on(run({.argv = {"sh", "-c", "id -u; id -g; id -G"}, .gid = 65534, .uid = 65534}));
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(out, "65534\n65534\n65534\n");
}

// A fresh cgroup for one test, in the first writable hierarchy: cgroup v2 at
// /sys/fs/cgroup, else v1's pids (or memory) hierarchy, else the v2 mount of a hybrid
// system. Removed (once empty) on destruction; empty dir() when none is writable.
class TestCgroup {
  public:
    TestCgroup() {
        const std::string name = "dally-process-test-" + std::to_string(::getpid());
        for (const char* root : {"/sys/fs/cgroup", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/memory",
                                 "/sys/fs/cgroup/unified"}) {
            // Only cgroup roots: a plain directory (the tmpfs of a v1 layout) is not one.
            if (::access((std::string(root) + "/cgroup.procs").c_str(), W_OK) != 0) continue;
            const std::string dir = std::string(root) + "/" + name;
            if (::mkdir(dir.c_str(), 0755) == 0) {
                m_dir = dir;
                m_name = name;
                return;
            }
        }
    }
    ~TestCgroup() {
        if (!m_dir.empty()) ::rmdir(m_dir.c_str());
    }
    const std::string& dir() const { return m_dir; }
    const std::string& name() const { return m_name; }

  private:
    std::string m_dir, m_name;
};

TEST(Process, JoinsTheCgroupsBeforeExec) {
    TestCgroup cg;
    if (cg.dir().empty()) GTEST_SKIP() << "no writable cgroup hierarchy (needs root and cgroupfs)";
    Runtime rt;
    auto [out, st] =
        rt.block_on(run({.argv = {"cat", "/proc/self/cgroup"}, .cgroups = {cg.dir()}}));
    ASSERT_TRUE(st.ok()) << st.error().message();
    // One line per hierarchy, "id:controllers:path": ours ends in the new group's path.
    EXPECT_NE(out.find(":/" + cg.name() + "\n"), std::string::npos) << out;
    // The child has been reaped: the group is empty again and can be removed.
    EXPECT_EQ(::rmdir(cg.dir().c_str()), 0) << std::strerror(errno);
}

TEST(Process, MissingCgroupFailsTheSpawnWithItsErrno) {
    auto child = dally::spawn_process(
        {.argv = {"true"}, .cgroups = {"/sys/fs/cgroup/dally-no-such-group-for-this-test"}});
    ASSERT_FALSE(child.ok());
    EXPECT_EQ(child.error(), std::errc::no_such_file_or_directory) << child.error().message();
}

TEST(Process, HundredMebibytesAreReadCompletelyWithoutDeadlock) {
    Runtime rt;
    constexpr std::size_t total = 100u << 20;
    auto got = rt.block_on([]() -> Task<std::size_t> {
        auto child =
            dally::spawn_process({.argv = {"head", "-c", std::to_string(total), "/dev/zero"},
                                  .out = Stdio::pipe,
                                  .err = Stdio::pipe})
                .value();
        std::vector<char> buf(1 << 16);
        std::size_t n = 0;
        for (;;) {
            auto r = co_await dally::timeout(10s, child.stdout_pipe().read(std::span<char>(buf)));
            if (!r || *r == 0) break;
            n += *r;
        }
        auto st = co_await dally::timeout(10s, child.wait());
        EXPECT_TRUE(st.ok() && st->success());
        co_return n;
    }());
    EXPECT_EQ(got, total);
}

TEST(Process, ChildIgnoringSigtermIsKilledAfterTheGracePeriod) {
    Runtime rt;
    rt.block_on([]() -> Task<void> {
        // The shell and its background sleep both ignore TERM; only the group SIGKILL ends
        // the sleep, which is not the direct child.
        auto child =
            dally::spawn_process({.argv = {"sh", "-c", "trap '' TERM; sleep 30 & echo $!; wait"},
                                  .out = Stdio::pipe})
                .value();
        char buf[64];
        auto n = co_await dally::timeout(5s, child.stdout_pipe().read(std::span<char>(buf)));
        EXPECT_TRUE(n.ok() && *n > 0);
        const pid_t sleeper =
            static_cast<pid_t>(std::atoi(std::string(buf, n.ok() ? *n : 0).c_str()));
        EXPECT_GT(sleeper, 0);
        auto t0 = dally::Clock::now();
        auto st = co_await child.terminate(300ms);
        auto elapsed = ms_since(t0);
        EXPECT_TRUE(st.ok()) << st.error().message();
        EXPECT_FALSE(st->exited);
        EXPECT_EQ(st->signal, SIGKILL);
        EXPECT_GE(elapsed, 290);
        EXPECT_LT(elapsed, 5000 * slowdown);
        // The sleep was reparented when the shell died; give init a moment to reap it.
        for (int i = 0; i < 100 && sleeper > 0; ++i) {
            char s = proc_state(sleeper);
            if (s == 0 || s == 'Z') break;
            co_await dally::sleep_for(10ms);
        }
        if (sleeper > 0) {
            char s = proc_state(sleeper);
            EXPECT_TRUE(s == 0 || s == 'Z') << "grandchild still running, state " << s;
        }
    }());
}

TEST(Process, TerminateOfACooperativeChildReturnsBeforeTheGracePeriod) {
    Runtime rt;
    auto st = rt.block_on([]() -> Task<dally::Result<ExitStatus>> {
        auto child = dally::spawn_process({.argv = {"sleep", "30"}}).value();
        co_return co_await child.terminate(10s);
    }());
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->signal, SIGTERM);
}

TEST(Process, TerminateKillsGroupMembersThatOutliveTheChild) {
    Runtime rt;
    rt.block_on([]() -> Task<void> {
        // The shell dies of SIGTERM at once; its background job ignores TERM and would
        // live on in the group if terminate() stopped at the child.
        // The inner shell prints its pid once its trap is set, then execs the sleep.
        auto child =
            dally::spawn_process(
                {.argv = {"sh", "-c", "sh -c 'trap \"\" TERM; echo $$; exec sleep 30' & wait"},
                 .out = Stdio::pipe})
                .value();
        char buf[64];
        auto n = co_await dally::timeout(5s, child.stdout_pipe().read(std::span<char>(buf)));
        EXPECT_TRUE(n.ok() && *n > 0);
        const pid_t straggler =
            static_cast<pid_t>(std::atoi(std::string(buf, n.ok() ? *n : 0).c_str()));
        EXPECT_GT(straggler, 0);
        auto t0 = dally::Clock::now();
        auto st = co_await child.terminate(10s);
        EXPECT_LT(ms_since(t0), 5000 * slowdown);
        EXPECT_TRUE(st.ok() && st->signal == SIGTERM);
        for (int i = 0; i < 100 && straggler > 0; ++i) {
            char s = proc_state(straggler);
            if (s == 0 || s == 'Z') break;
            co_await dally::sleep_for(10ms);
        }
        if (straggler > 0) {
            char s = proc_state(straggler);
            EXPECT_TRUE(s == 0 || s == 'Z') << "group member still running, state " << s;
        }
    }());
}

TEST(Process, WaitHonoursTimeoutAndTheChildStaysAlive) {
    Runtime rt;
    rt.block_on([]() -> Task<void> {
        auto child = dally::spawn_process({.argv = {"sleep", "30"}}).value();
        auto r = co_await dally::timeout(50ms, child.wait());
        EXPECT_TRUE(r.timed_out());
        EXPECT_NE(proc_state(child.pid()), 0);
        EXPECT_TRUE(child.kill(SIGKILL).ok());
        auto st = co_await dally::timeout(5s, child.wait());
        EXPECT_TRUE(st.ok());
        EXPECT_EQ(st->signal, SIGKILL);
        auto again = co_await child.wait();  // reaped: the same status at once
        EXPECT_TRUE(again.ok() && again->signal == SIGKILL);
    }());
    EXPECT_EQ(count_children().first, 0);
}

TEST(Process, ThousandChildrenAreSpawnedAndReapedConcurrentlyWithNoZombie) {
    Runtime rt;
    constexpr int total = 1000;
    auto ok = rt.block_on([]() -> Task<int> {
        auto one = [](int i) -> Task<bool> {
            auto child = dally::spawn_process(
                {.argv = {"/bin/sh", "-c", "exit $0", std::to_string(i % 100)}});
            if (!child) co_return false;
            auto st = co_await dally::timeout(30s, child->wait());
            co_return st.ok() && st->exited && st->code == i % 100;
        };
        std::vector<dally::JoinHandle<bool>> hs;
        hs.reserve(total);
        for (int i = 0; i < total; ++i) hs.push_back(dally::spawn(one(i)));
        int good = 0;
        for (auto& h : hs) good += (co_await h) ? 1 : 0;
        co_return good;
    }());
    EXPECT_EQ(ok, total);
    auto [children, zombies] = count_children();
    EXPECT_EQ(children, 0);
    EXPECT_EQ(zombies, 0);
}

TEST(Process, CancelledOwnerLeavesNoOrphanOrZombie) {
    Runtime rt;
    pid_t pid = -1, sleeper = -1;
    rt.block_on([](pid_t& pid, pid_t& sleeper) -> Task<void> {
        auto owner = [](pid_t& pid, pid_t& sleeper) -> Task<void> {
            auto child = dally::spawn_process(
                             {.argv = {"sh", "-c", "sleep 30 & echo $!; wait"}, .out = Stdio::pipe})
                             .value();
            pid = child.pid();
            char buf[64];
            auto n = co_await dally::timeout(5s, child.stdout_pipe().read(std::span<char>(buf)));
            if (n.ok()) sleeper = static_cast<pid_t>(std::atoi(std::string(buf, *n).c_str()));
            auto st = co_await child.wait();  // cancelled here
            EXPECT_TRUE(st.cancelled()) << st.error().message();
        };
        auto h = dally::spawn(owner(pid, sleeper));
        while (sleeper <= 0 && !h.done()) co_await dally::sleep_for(5ms);
        h.cancel();
        co_await h;
    }(pid, sleeper));
    ASSERT_GT(pid, 0);
    EXPECT_EQ(proc_state(pid), 0) << "the child outlived its owner";
    ASSERT_GT(sleeper, 0);
    for (int i = 0; i < 100; ++i) {
        char s = proc_state(sleeper);
        if (s == 0 || s == 'Z') break;
        ::usleep(10000);
    }
    char s = proc_state(sleeper);
    EXPECT_TRUE(s == 0 || s == 'Z') << "grandchild still running, state " << s;
    EXPECT_EQ(count_children().first, 0);
}

TEST(Process, DroppingAnUnwaitedChildKillsAndReapsIt) {
    pid_t pid;
    {
        auto child = dally::spawn_process({.argv = {"sleep", "30"}}).value();
        pid = child.pid();
        EXPECT_NE(proc_state(pid), 0);
    }
    EXPECT_EQ(proc_state(pid), 0);
}

// Awaits wait_for_exit(pid), at most `limit`.
Task<dally::Result<void>> exit_of(pid_t pid, std::chrono::milliseconds limit) {
    co_return co_await dally::timeout(limit, dally::wait_for_exit(pid));
}

TEST(Process, ADetachedChildOutlivesItsObjectAndWaitForExitSeesItEnd) {
    Runtime rt;
    pid_t pid = -1;
    {
        auto child = dally::spawn_process({.argv = {"sleep", "0.3"}}).value();
        pid = child.detach();
        EXPECT_EQ(child.detach(), -1) << "a second detach has nothing to give up";
    }
    ASSERT_GT(pid, 0);
    EXPECT_NE(proc_state(pid), 0) << "the destructor killed a detached child";
    const auto start = std::chrono::steady_clock::now();
    auto r = rt.block_on(exit_of(pid, 10s));
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_GE(ms_since(start), 150) << "returned before the child ended";
    EXPECT_EQ(proc_state(pid), 'Z') << "wait_for_exit must not reap";
    int status = 0;
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
}

TEST(Process, WaitForExitOfAProcessThatIsNotAChild) {
    Runtime rt;
    // A grandchild: the shell prints the pid of a background sleep and exits.
    auto [out, st] = rt.block_on(run({.argv = {"sh", "-c", "sleep 0.5 >/dev/null & echo $!"}}));
    ASSERT_TRUE(st.ok());
    const pid_t pid = std::stoi(out);
    EXPECT_NE(proc_state(pid), 0);
    auto r = rt.block_on(exit_of(pid, 10s));
    ASSERT_TRUE(r.ok()) << r.error().message();
    const char s = proc_state(pid);
    EXPECT_TRUE(s == 0 || s == 'Z') << "still running, state " << s;
}

TEST(Process, WaitForExitOfAReapedProcessIsNoSuchProcess) {
    Runtime rt;
    pid_t pid = -1;
    {
        auto child = dally::spawn_process({.argv = {"true"}}).value();
        pid = child.pid();
        ASSERT_TRUE(rt.block_on([](Child& c) -> Task<bool> { co_return (co_await c.wait()).ok(); }(child)));
    }
    EXPECT_EQ(rt.block_on(exit_of(pid, 10s)).error(), std::errc::no_such_process);
}

TEST(Process, WaitForExitTimesOutWhileTheProcessRuns) {
    Runtime rt;
    auto child = dally::spawn_process({.argv = {"sleep", "30"}}).value();
    auto r = rt.block_on(exit_of(child.pid(), 50ms));
    EXPECT_TRUE(r.timed_out());
}

}  // namespace
