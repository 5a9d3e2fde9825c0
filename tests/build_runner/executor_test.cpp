// Tests for the local executor (apps/build_runner/executor.hpp): real builds of real git
// repositories (made in temp dirs, fetched through file:// URLs) with real gcc and make, in
// the bubblewrap sandbox: pass, compile error, failing tests, streamed output; cancel and
// the wall-clock and no-output limits; adversarial packages (network, writes outside the
// workspace, a fork bomb, 8 GiB, an endless loop, 1 GiB of output); resolve_commit.
#include "executor.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <dally/runtime.hpp>
#include <dally/time.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "apps/temp_dir.hpp"
#include "cgroup.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using br::BuildState;
using dally_test::slowdown;

// Builds here run as 231000 + slot when root: apart from other tests' and the server's.
constexpr unsigned test_base_uid = 231'000;

void sh(const std::string& script) {
    ASSERT_EQ(std::system(("set -e; " + script).c_str()), 0) << script;
}

std::string sh_out(const std::string& cmd) {
    std::string out;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
        char buf[256];
        while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
        ::pclose(p);
    }
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

// Records what the executor reports; keeps at most `keep` bytes of output, counts all.
class Sink : public br::BuildSink {
  public:
    explicit Sink(std::size_t keep = 1 << 20) : m_keep(keep) {}
    void phase(BuildState s) override { phases.push_back(s); }
    void output(std::string_view bytes) override {
        bytes_seen += bytes.size();
        if (text.size() < m_keep) text.append(bytes.substr(0, m_keep - text.size()));
    }
    std::vector<BuildState> phases;
    std::string text;
    std::uint64_t bytes_seen = 0;

  private:
    std::size_t m_keep;
};

// Processes whose real uid is `uid` (the build's): none may outlive a build.
int processes_of(uid_t uid) {
    int n = 0;
    DIR* d = ::opendir("/proc");
    while (dirent* e = d ? ::readdir(d) : nullptr) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        std::ifstream f(std::string("/proc/") + e->d_name + "/status");
        std::string line;
        bool zombie = false;
        while (std::getline(f, line)) {
            if (line.starts_with("State:") && line.find('Z') != std::string::npos) zombie = true;
            if (line.starts_with("Uid:") && !zombie && std::stoul(line.substr(4)) == uid) ++n;
        }
    }
    if (d) ::closedir(d);
    return n;
}

const std::map<std::string, std::string> hello_package = {
    {"hello.c", "#include <stdio.h>\nint main(void) { puts(\"hello, world\"); return 0; }\n"},
    {"Makefile",
     "hello: hello.c\n\t$(CC) -O2 -o hello hello.c\n"
     "test: hello\n\t./hello | grep -q 'hello, world' && echo tests passed\n"},
};

// A temp dir holding git repositories and the workspaces' parent, both reachable by the
// build uids; a toolchain of two steps (build, test) with limits small enough for tests.
class LocalExecutor : public ::testing::Test {
  protected:
    void SetUp() override {
        if (::access("/usr/bin/bwrap", X_OK) != 0) GTEST_SKIP() << "bubblewrap is not installed";
        ::chmod((m_dir / "").c_str(), 0755);
        fs::create_directory(m_dir / "ws");
        m_tc.name = "gcc";
        m_tc.kind = "gcc";
        m_tc.env = {"CC=gcc"};
        m_tc.steps = {{"build", "make"}, {"test", "make test"}};
        m_tc.limits.wall = 60s * slowdown;
        m_tc.limits.no_output = 30s * slowdown;
        m_tc.limits.fetch_timeout = 30s * slowdown;
        m_tc.limits.memory_bytes = 1ull << 30;
        m_tc.limits.max_processes = 256;
    }

    // A repository of `files` with one commit: its file:// URL and the commit.
    std::pair<std::string, std::string> repo(const std::string& name,
                                             const std::map<std::string, std::string>& files) {
        const fs::path dir = m_dir / name;
        fs::create_directories(dir);
        for (const auto& [file, text] : files) std::ofstream(dir / file) << text;
        sh("cd " + dir.string() +
           " && git init -q && git add -A && git -c user.name=t -c user.email=t@t commit -qm 1");
        return {"file://" + dir.string(), sh_out("git -C " + dir.string() + " rev-parse HEAD")};
    }

    std::unique_ptr<br::BuildExecutor> executor(bool no_sandbox = false) {
        return br::make_local_executor({.base_uid = test_base_uid,
                                        .cgroup_name = cgroup_name(),
                                        .kill_grace = 2s,
                                        .no_sandbox = no_sandbox});
    }

    // Runs one build to its end on a fresh runtime; `cancel_after` > 0 sets the cancel event
    // that long after the first step started.
    br::BuildOutcome build(const std::string& url, const std::string& commit, Sink& sink,
                           unsigned slot, bool no_sandbox = false,
                           std::chrono::milliseconds cancel_after = 0ms) {
        auto ex = executor(no_sandbox);
        br::BuildJob job{.build_id = 9000 + slot,
                         .package = "pkg",
                         .repo_url = url,
                         .commit = commit,
                         .toolchain = &m_tc,
                         .workspace = m_dir / "ws" / std::to_string(slot),
                         .slot = slot};
        dally::Event cancel;
        dally::Runtime rt;
        auto outcome = rt.block_on(
            [](br::BuildExecutor& ex, br::BuildJob& job, Sink& sink, dally::Event& cancel,
               std::chrono::milliseconds after) -> dally::Task<br::BuildOutcome> {
                if (after > 0ms) {
                    dally::spawn([](Sink& sink, dally::Event& cancel,
                                    std::chrono::milliseconds after) -> dally::Task<void> {
                        while (sink.text.find("== step") == std::string::npos)
                            co_await dally::sleep_for(10ms);
                        co_await dally::sleep_for(after);
                        cancel.set();
                    }(sink, cancel, after))
                        .reset();
                }
                co_return co_await ex.run(job, sink, cancel);
            }(*ex, job, sink, cancel, cancel_after));
        EXPECT_FALSE(fs::exists(job.workspace)) << "the workspace was left behind";
        if (::geteuid() == 0) {
            EXPECT_EQ(processes_of(test_base_uid + slot), 0) << "processes left behind";
        }
        const std::string leaf = "/" + br::Cgroups::leaf_name(job.build_id, slot);
        for (const auto& parent : br::Cgroups::detect(cgroup_name()).parents()) {
            EXPECT_FALSE(fs::exists(parent + leaf)) << "the build's cgroup was left behind";
        }
        return outcome;
    }

    void TearDown() override {
        for (const auto& parent : br::Cgroups::detect(cgroup_name()).parents()) {
            EXPECT_EQ(::rmdir(parent.c_str()), 0) << parent << " is not empty";
        }
    }

    // This process's own parent group: parallel tests must not remove one another's.
    static std::string cgroup_name() { return "dally-executor-test-" + std::to_string(::getpid()); }

    TempDir m_dir{"br-executor-test"};
    br::Toolchain m_tc;
};

TEST_F(LocalExecutor, PassingPackagePassesWithItsOutputInOrder) {
    auto [url, commit] = repo("hello", hello_package);
    Sink sink;
    const auto o = build(url, commit, sink, 1);
    EXPECT_EQ(o.state, BuildState::passed) << o.reason << "\n" << sink.text;
    EXPECT_EQ(sink.phases, (std::vector{BuildState::fetching, BuildState::running}));
    const auto fetch = sink.text.find("== fetch " + url);
    const auto b = sink.text.find("== step build: make\n");
    const auto t = sink.text.find("== step test: make test\n");
    const auto passed = sink.text.find("tests passed");
    EXPECT_LT(fetch, b);
    EXPECT_LT(b, t);
    EXPECT_LT(t, passed);
    EXPECT_NE(passed, std::string::npos) << sink.text;
    EXPECT_GT(o.peak_memory_kb, 0);
}

TEST_F(LocalExecutor, CompileErrorFailsTheBuildStepWithMakesExitCode) {
    auto files = hello_package;
    files["hello.c"] = "int main(void) { return }\n";
    auto [url, commit] = repo("broken", files);
    Sink sink;
    const auto o = build(url, commit, sink, 2);
    EXPECT_EQ(o.state, BuildState::failed) << sink.text;
    EXPECT_EQ(o.failed_step, "build");
    EXPECT_EQ(o.exit_code, 2);
    EXPECT_EQ(o.reason, "step build exited 2");
    EXPECT_NE(sink.text.find("error"), std::string::npos)
        << sink.text;  // gcc's message, from stderr
    EXPECT_EQ(sink.text.find("== step test"), std::string::npos);
}

TEST_F(LocalExecutor, FailingTestsFailTheTestStep) {
    auto files = hello_package;
    files["hello.c"] = "#include <stdio.h>\nint main(void) { puts(\"goodbye\"); return 0; }\n";
    auto [url, commit] = repo("failing", files);
    Sink sink;
    const auto o = build(url, commit, sink, 3);
    EXPECT_EQ(o.state, BuildState::failed) << sink.text;
    EXPECT_EQ(o.failed_step, "test");
    EXPECT_EQ(o.exit_code, 2);
}

TEST_F(LocalExecutor, OutputLinesArriveInOrder) {
    m_tc.steps = {{"count", "i=0; while [ $i -lt 20000 ]; do echo line $i; i=$((i+1)); done"}};
    auto [url, commit] = repo("count", {{"README", "x\n"}});
    Sink sink;
    const auto o = build(url, commit, sink, 4);
    ASSERT_EQ(o.state, BuildState::passed) << o.reason;
    std::string expected;
    for (int i = 0; i < 20000; ++i) expected += "line " + std::to_string(i) + "\n";
    EXPECT_NE(sink.text.find("== step count: " + m_tc.steps[0].run + "\n" + expected),
              std::string::npos);
}

TEST_F(LocalExecutor, WithoutTheSandboxThePackageBuildsToo) {
    auto [url, commit] = repo("direct", hello_package);
    Sink sink;
    const auto o = build(url, commit, sink, 5, true);
    EXPECT_EQ(o.state, BuildState::passed) << o.reason << "\n" << sink.text;
}

TEST_F(LocalExecutor, CancelEndsARunningBuildWithinTheGracePeriod) {
    m_tc.steps = {{"sleep", "sleep 100 & sleep 100"}};
    auto [url, commit] = repo("sleepy", {{"README", "x\n"}});
    Sink sink;
    const auto t0 = dally::Clock::now();
    const auto o = build(url, commit, sink, 6, false, 300ms);
    EXPECT_EQ(o.state, BuildState::cancelled) << o.reason << sink.text;
    EXPECT_EQ(o.reason, "cancelled");
    EXPECT_LT(dally_test::ms_since(t0), 5000 * slowdown);
}

TEST_F(LocalExecutor, WallClockLimitTimesOut) {
    m_tc.limits.wall = 2s;
    m_tc.steps = {{"sleep", "echo sleeping; sleep 100"}};
    auto [url, commit] = repo("wall", {{"README", "x\n"}});
    Sink sink;
    const auto t0 = dally::Clock::now();
    const auto o = build(url, commit, sink, 7);
    EXPECT_EQ(o.state, BuildState::timed_out);
    EXPECT_EQ(o.reason, "wall_clock");
    EXPECT_EQ(o.failed_step, "sleep");
    EXPECT_LT(dally_test::ms_since(t0), 2000 + 8000 * slowdown);
}

TEST_F(LocalExecutor, SilenceTimesOutOnTheNoOutputLimit) {
    m_tc.limits.no_output = 2s;
    m_tc.steps = {{"chatty", "for i in 1 2 3; do echo tick; sleep 1; done; sleep 100"}};
    auto [url, commit] = repo("silent", {{"README", "x\n"}});
    Sink sink;
    const auto t0 = dally::Clock::now();
    const auto o = build(url, commit, sink, 8);
    EXPECT_EQ(o.state, BuildState::timed_out);
    EXPECT_EQ(o.reason, "no_output");
    EXPECT_GE(dally_test::ms_since(t0), 4000);  // three ticks kept it alive first
}

TEST_F(LocalExecutor, EndlessLoopTimesOut) {
    m_tc.limits.wall = 3s;
    m_tc.steps = {{"spin", "while :; do :; done"}};
    auto [url, commit] = repo("spin", {{"README", "x\n"}});
    Sink sink;
    const auto o = build(url, commit, sink, 9);
    EXPECT_EQ(o.state, BuildState::timed_out);
    EXPECT_EQ(o.reason, "wall_clock");
}

TEST_F(LocalExecutor, SandboxHasNoNetworkToTheHostsLoopback) {
    // A listener on the host's loopback (never anything outside 127.0.0.0/8).
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ASSERT_GE(listener, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(listener, 8), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    const std::string port = std::to_string(ntohs(addr.sin_port));
    m_tc.steps = {
        {"connect", "bash -c 'echo hi > /dev/tcp/127.0.0.1/" + port + "' && echo CONN''ECTED"}};
    auto [url, commit] = repo("net", {{"README", "x\n"}});
    Sink sink;
    const auto o = build(url, commit, sink, 10);
    EXPECT_EQ(o.state, BuildState::failed) << sink.text;
    EXPECT_EQ(sink.text.find("CONNECTED"), std::string::npos);
    EXPECT_LT(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC), 0)
        << "the sandbox reached the listener";

    // The same step without the sandbox does connect: the check above is not vacuous.
    Sink direct;
    const auto d = build(url, commit, direct, 11, true);
    EXPECT_EQ(d.state, BuildState::passed) << direct.text;
    const int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    EXPECT_GE(conn, 0);
    if (conn >= 0) ::close(conn);
    ::close(listener);
}

TEST_F(LocalExecutor, WritesOutsideTheWorkspaceFailAndLeaveNoTrace) {
    const std::string id = std::to_string(::getpid());
    const std::vector<std::string> targets = {"/usr/x" + id,    "/etc/x" + id,
                                              "/tmp/../x" + id, "$HOME/../x" + id,
                                              "/x" + id,        (m_dir / "outside").string()};
    std::string script = "wrote=0; ";
    for (const auto& t : targets)
        script += "if touch " + t + "; then echo WRO''TE " + t + "; wrote=1; fi; ";
    script += "test $wrote = 0 && touch inside";
    m_tc.steps = {{"escape", script}};
    auto [url, commit] = repo("escape", {{"README", "x\n"}});
    Sink sink;
    const auto o = build(url, commit, sink, 12);
    EXPECT_EQ(o.state, BuildState::passed) << sink.text;  // every touch was refused
    EXPECT_EQ(sink.text.find("WROTE"), std::string::npos) << sink.text;
    for (const auto& p : {"/usr/x" + id, "/etc/x" + id, "/x" + id, "/tmp/x" + id})
        EXPECT_FALSE(fs::exists(p)) << p;
    EXPECT_FALSE(fs::exists(m_dir / "outside"));
}

TEST_F(LocalExecutor, ForkBombIsContained) {
    m_tc.limits.wall = 5s;
    m_tc.limits.max_processes = 64;
    m_tc.steps = {{"bomb", "bomb() { bomb | bomb & }; bomb; sleep 100"}};
    auto [url, commit] = repo("bomb", {{"README", "x\n"}});
    Sink sink(64 << 10);
    const auto t0 = dally::Clock::now();
    const auto o = build(url, commit, sink, 13);
    EXPECT_TRUE(o.state == BuildState::timed_out || o.state == BuildState::failed)
        << br::to_string(o.state);
    EXPECT_LT(dally_test::ms_since(t0), 5000 + 10000 * slowdown);
    sh("true");  // the machine can still start processes
}

TEST_F(LocalExecutor, EightGibibytesAreKilledAsOutOfMemory) {
    auto ex = executor();
    if (ex->enforcement().cgroup.empty()) {
        GTEST_SKIP() << "no cgroup, so no OOM kill to observe: " << ex->enforcement().note;
    }
    m_tc.limits.memory_bytes = 256ull << 20;
    m_tc.steps = {{"build", "make"}, {"run", "./hog"}};
    auto [url, commit] =
        repo("hog", {{"Makefile", "hog: hog.c\n\t$(CC) -O1 -o hog hog.c\n"},
                     {"hog.c",
                      "#include <stdlib.h>\n#include <string.h>\n"
                      "int main(void) { size_t n = 8ull << 30; char* p = malloc(n);\n"
                      "  if (!p) return 3;\n"
                      "  for (size_t i = 0; i < n; i += 4096) p[i] = 1;\n"
                      "  return p[n - 4096]; }\n"}});
    Sink sink;
    const auto o = build(url, commit, sink, 14);
    EXPECT_EQ(o.state, BuildState::failed) << sink.text;
    EXPECT_EQ(o.reason, "out_of_memory") << sink.text;
    EXPECT_EQ(o.failed_step, "run");
    EXPECT_LE(o.peak_memory_kb, (256 << 10) + 1024);
}

TEST_F(LocalExecutor, OneGibibyteOfOutputReachesTheSinkByteForByte) {
    m_tc.steps = {{"flood", "head -c 1073741824 /dev/zero"}};
    auto [url, commit] = repo("flood", {{"README", "x\n"}});
    Sink sink(4096);  // counts, keeps almost nothing
    const auto t0 = dally::Clock::now();
    const auto o = build(url, commit, sink, 15);
    EXPECT_EQ(o.state, BuildState::passed) << o.reason;
    const std::string header = "== step flood: " + m_tc.steps[0].run + "\n";
    const std::uint64_t fetch_text = sink.text.find(header);
    ASSERT_NE(fetch_text, std::string::npos);
    EXPECT_EQ(sink.bytes_seen, fetch_text + header.size() + (1ull << 30));
    EXPECT_LT(dally_test::ms_since(t0), 20000 * slowdown);
}

TEST_F(LocalExecutor, UnknownCommitIsAnInfrastructureError) {
    auto [url, commit] = repo("badcommit", hello_package);
    Sink sink;
    const auto o = build(url, std::string(40, '0'), sink, 16);
    EXPECT_EQ(o.state, BuildState::error);
    EXPECT_TRUE(o.reason.starts_with("fetch failed: ")) << o.reason;
    EXPECT_EQ(std::count(sink.phases.begin(), sink.phases.end(), BuildState::running), 0);
}

TEST_F(LocalExecutor, UnreachableRepositoryIsAnInfrastructureError) {
    Sink sink;
    const auto o = build("file://" + (m_dir / "nope").string(), std::string(40, 'a'), sink, 17);
    EXPECT_EQ(o.state, BuildState::error);
    EXPECT_EQ(o.reason, "fetch failed: " + (m_dir / "nope").string() + " does not exist");
}

TEST_F(LocalExecutor, AJobItCannotRunIsAnErrorAndTouchesNothing) {
    auto ex = executor();
    Sink sink;
    dally::Event cancel;
    dally::Runtime rt;
    br::BuildJob job{.build_id = 9100,
                     .package = "pkg",
                     .repo_url = "file:///nowhere",
                     .commit = "main",
                     .toolchain = &m_tc,
                     .workspace = m_dir / "ws" / "x",
                     .slot = 18};
    EXPECT_EQ(rt.block_on(ex->run(job, sink, cancel)).state, BuildState::error);  // not a sha
    job.commit = std::string(40, 'a');
    job.workspace = "relative/ws";
    const auto o = rt.block_on(ex->run(job, sink, cancel));
    EXPECT_EQ(o.state, BuildState::error);
    EXPECT_NE(o.reason.find("absolute"), std::string::npos) << o.reason;
    EXPECT_TRUE(sink.phases.empty());
}

TEST_F(LocalExecutor, EnforcementSaysWhatIsInForce) {
    const auto e = executor()->enforcement();
    EXPECT_EQ(e.executor, "local");
    EXPECT_TRUE(e.sandbox);
    auto has = [&](const std::string& s) {
        return std::find(e.enforced.begin(), e.enforced.end(), s) != e.enforced.end();
    };
    EXPECT_TRUE(has("network:none"));
    EXPECT_TRUE(has(e.cgroup.empty() ? "memory:rlimit" : "memory:cgroup"));
    EXPECT_TRUE(has("wall_clock:timer"));
    if (e.cgroup.empty()) {
        EXPECT_FALSE(e.note.empty());
    }
}

// ---------------------------------------------------------------- resolve_commit

class ResolveCommit : public LocalExecutor {
  protected:
    br::Resolved resolve(const std::string& url, const std::string& ref, bool no_sandbox = false) {
        dally::Runtime rt;
        br::LocalExecutorOptions options{.base_uid = test_base_uid, .no_sandbox = no_sandbox};
        return rt.block_on(br::resolve_commit(options, url, ref, 20s, 20));
    }
};

TEST_F(ResolveCommit, HeadBranchesAndAnnotatedTagsResolveToCommits) {
    auto [url, first] = repo("refs", {{"a", "1\n"}});
    const std::string dir = url.substr(7);
    sh("cd " + dir +
       " && git -c user.name=t -c user.email=t@t tag -a v1 -m v1 && git branch feature && "
       "echo 2 > a && git -c user.name=t -c user.email=t@t commit -qam 2");
    const std::string second = sh_out("git -C " + dir + " rev-parse HEAD");
    EXPECT_EQ(resolve(url, "").commit, second);
    EXPECT_EQ(resolve(url, "feature").commit, first);
    EXPECT_EQ(resolve(url, "v1").commit, first);  // the commit, not the tag object
    EXPECT_EQ(resolve(url, "v1", true).commit, first);
    EXPECT_EQ(resolve(url, std::string(40, 'f')).commit, std::string(40, 'f'));
}

TEST_F(ResolveCommit, MissingRefAndMissingRepositoryAreNamedErrors) {
    auto [url, first] = repo("refs2", {{"a", "1\n"}});
    const auto missing = resolve(url, "v9");
    EXPECT_TRUE(missing.commit.empty());
    EXPECT_EQ(missing.error, "ref 'v9' not found at " + url);
    const auto nowhere = resolve("file://" + (m_dir / "nowhere").string(), "");
    EXPECT_TRUE(nowhere.commit.empty());
    EXPECT_FALSE(nowhere.error.empty());
}

}  // namespace
