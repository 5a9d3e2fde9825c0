// Tests for apps/build_runner/sandbox.hpp (the bubblewrap argv, environments, git commands
// and ls-remote parsing, as pure functions, then one real run of the argv under bubblewrap)
// and cgroup.hpp (per-build groups on this machine's hierarchy: limits, joining, killing,
// OOM detection; skipped where no hierarchy is writable).
#include "sandbox.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <dally/process.hpp>
#include <dally/runtime.hpp>
#include <dally/time.hpp>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "apps/temp_dir.hpp"
#include "cgroup.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using br::SandboxSpec;
using Argv = std::vector<std::string>;

// Position of the option sequence `seq` in `argv` (npos if absent).
std::size_t find_seq(const Argv& argv, const Argv& seq) {
    auto it = std::search(argv.begin(), argv.end(), seq.begin(), seq.end());
    return it == argv.end() ? std::string::npos : static_cast<std::size_t>(it - argv.begin());
}

std::string slurp_file(const std::string& path) {
    std::ifstream f(path);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

SandboxSpec basic_spec() {
    return {.system = {.ro_dirs = {"/usr", "/etc"}, .symlinks = {{"usr/bin", "/bin"}}},
            .workspace = "/srv/ws/src",
            .tmp_bytes = 1 << 20,
            .env = {"PATH=/usr/bin", "CFLAGS=-O2 -DX=1"},
            .command = {"/bin/sh", "-c", "make"}};
}

TEST(SandboxArgv, HasNoNetworkUnlessAskedAndEveryNamespace) {
    auto spec = basic_spec();
    const auto argv = br::sandbox_argv(spec);
    EXPECT_EQ(argv.front(), "/usr/bin/bwrap");
    EXPECT_NE(find_seq(argv, {"--unshare-all"}), std::string::npos);
    EXPECT_NE(find_seq(argv, {"--disable-userns"}), std::string::npos);
    EXPECT_EQ(find_seq(argv, {"--share-net"}), std::string::npos);
    spec.network = true;
    EXPECT_NE(find_seq(br::sandbox_argv(spec), {"--share-net"}), std::string::npos);
}

TEST(SandboxArgv, DiesWithItsParentInANewSession) {
    const auto argv = br::sandbox_argv(basic_spec());
    EXPECT_NE(find_seq(argv, {"--die-with-parent"}), std::string::npos);
    EXPECT_NE(find_seq(argv, {"--new-session"}), std::string::npos);
}

TEST(SandboxArgv, SystemIsReadOnlyAndOnlyTheWorkspaceIsBoundWritable) {
    const auto argv = br::sandbox_argv(basic_spec());
    EXPECT_NE(find_seq(argv, {"--ro-bind", "/usr", "/usr"}), std::string::npos);
    EXPECT_NE(find_seq(argv, {"--ro-bind", "/etc", "/etc"}), std::string::npos);
    EXPECT_NE(find_seq(argv, {"--symlink", "usr/bin", "/bin"}), std::string::npos);
    EXPECT_NE(find_seq(argv, {"--bind", "/srv/ws/src", "/work"}), std::string::npos);
    EXPECT_EQ(std::count(argv.begin(), argv.end(), "--bind"), 1);
    // The root and /dev become read-only after everything is mounted.
    const auto ro_root = find_seq(argv, {"--remount-ro", "/"});
    ASSERT_NE(ro_root, std::string::npos);
    EXPECT_GT(ro_root, find_seq(argv, {"--bind", "/srv/ws/src", "/work"}));
    EXPECT_NE(find_seq(argv, {"--remount-ro", "/dev"}), std::string::npos);
}

TEST(SandboxArgv, TmpIsASizeCappedTmpfsMountedBeforeExtraPaths) {
    auto spec = basic_spec();
    spec.ro_paths = {"/tmp/zig-0.13"};
    const auto argv = br::sandbox_argv(spec);
    const auto tmp = find_seq(argv, {"--size", "1048576", "--tmpfs", "/tmp"});
    ASSERT_NE(tmp, std::string::npos);
    EXPECT_NE(find_seq(argv, {"--size", "1048576", "--tmpfs", "/dev/shm"}), std::string::npos);
    const auto zig = find_seq(argv, {"--ro-bind", "/tmp/zig-0.13", "/tmp/zig-0.13"});
    ASSERT_NE(zig, std::string::npos);
    EXPECT_GT(zig, tmp);  // else the tmpfs would hide it
}

TEST(SandboxArgv, EnvironmentIsClearedThenSetVerbatim) {
    const auto argv = br::sandbox_argv(basic_spec());
    const auto clear = find_seq(argv, {"--clearenv"});
    ASSERT_NE(clear, std::string::npos);
    const auto cflags = find_seq(argv, {"--setenv", "CFLAGS", "-O2 -DX=1"});
    ASSERT_NE(cflags, std::string::npos);
    EXPECT_GT(cflags, clear);
    EXPECT_NE(find_seq(argv, {"--chdir", "/work"}), std::string::npos);
}

TEST(SandboxArgv, CommandFollowsTheSeparatorUnchanged) {
    auto spec = basic_spec();
    spec.command = {"--help", "; rm -rf /", "$(x)"};
    const auto argv = br::sandbox_argv(spec);
    ASSERT_GE(argv.size(), 4u);
    EXPECT_EQ(Argv(argv.end() - 4, argv.end()), (Argv{"--", "--help", "; rm -rf /", "$(x)"}));
}

TEST(SandboxArgv, RejectsWhatItCannotExpressSafely) {
    auto relative = basic_spec();
    relative.workspace = "ws";
    EXPECT_THROW(br::sandbox_argv(relative), std::invalid_argument);
    auto no_name = basic_spec();
    no_name.env = {"=x"};
    EXPECT_THROW(br::sandbox_argv(no_name), std::invalid_argument);
    auto no_eq = basic_spec();
    no_eq.env = {"PATH"};
    EXPECT_THROW(br::sandbox_argv(no_eq), std::invalid_argument);
    auto empty = basic_spec();
    empty.command.clear();
    EXPECT_THROW(br::sandbox_argv(empty), std::invalid_argument);
    auto rel_ro = basic_spec();
    rel_ro.ro_paths = {"opt/zig"};
    EXPECT_THROW(br::sandbox_argv(rel_ro), std::invalid_argument);
}

TEST(SandboxLayout, RecreatesSymlinksAndBindsRealDirectories) {
    TempDir root("br-layout");
    std::filesystem::create_directories(root / "usr/bin");
    std::filesystem::create_directory_symlink("usr/bin", root / "bin");
    std::filesystem::create_directories(root / "lib64");
    const auto layout = br::detect_system_layout(root / "");
    EXPECT_NE(std::find(layout.symlinks.begin(), layout.symlinks.end(),
                        std::pair<std::string, std::string>{"usr/bin", "/bin"}),
              layout.symlinks.end());
    EXPECT_NE(std::find(layout.ro_dirs.begin(), layout.ro_dirs.end(), "/lib64"),
              layout.ro_dirs.end());
    EXPECT_EQ(std::find(layout.ro_dirs.begin(), layout.ro_dirs.end(), "/sbin"),
              layout.ro_dirs.end());
}

TEST(SandboxEnvironment, StepGetsTheDefaultsThenTheToolchainsEntries) {
    br::Toolchain tc;
    tc.env = {"CC=/usr/bin/gcc-12", "LANG=en_US.UTF-8"};
    const auto env = br::step_environment(tc, 3);
    EXPECT_EQ(env.front().rfind("PATH=", 0), 0u);
    EXPECT_NE(std::find(env.begin(), env.end(), "HOME=/work"), env.end());
    EXPECT_NE(std::find(env.begin(), env.end(), "TMPDIR=/tmp"), env.end());
    EXPECT_NE(std::find(env.begin(), env.end(), "JOBS=3"), env.end());
    // The toolchain's come last, so bubblewrap's later --setenv wins.
    EXPECT_EQ(env.back(), "LANG=en_US.UTF-8");
    EXPECT_EQ(env[env.size() - 2], "CC=/usr/bin/gcc-12");
}

TEST(SandboxEnvironment, GitHasNoPromptsAndNoExtTransport) {
    const auto env = br::git_environment("/workspace");
    EXPECT_NE(std::find(env.begin(), env.end(), "GIT_TERMINAL_PROMPT=0"), env.end());
    EXPECT_NE(std::find(env.begin(), env.end(), "HOME=/workspace"), env.end());
    const auto allow = std::find_if(env.begin(), env.end(), [](const std::string& e) {
        return e.starts_with("GIT_ALLOW_PROTOCOL=");
    });
    ASSERT_NE(allow, env.end());
    EXPECT_EQ(allow->find("ext"), std::string::npos);
    EXPECT_EQ(allow->find("fd"), std::string::npos);
}

TEST(SandboxGit, FileUrlsNameTheirPathAndOthersNone) {
    EXPECT_EQ(br::file_url_path("file:///srv/repos/a/"), "/srv/repos/a");
    EXPECT_EQ(br::file_url_path("/srv/repos/a"), "/srv/repos/a");
    EXPECT_EQ(br::file_url_path("https://example.invalid/a.git"), std::nullopt);
    EXPECT_EQ(br::file_url_path("file://host/a"), std::nullopt);
}

TEST(SandboxGit, ConfigQuotesTheSafeDirectory) {
    const auto config = br::git_config("file:///srv/we\"ird\\repo");
    EXPECT_NE(config.find("directory = \"/srv/we\\\"ird\\\\repo\"\n"), std::string::npos) << config;
    EXPECT_NE(config.find("directory = \"/srv/we\\\"ird\\\\repo/.git\"\n"), std::string::npos)
        << config;
    EXPECT_EQ(br::git_config("https://example.invalid/a.git").find("[safe]"), std::string::npos);
}

TEST(SandboxGit, FetchPassesTheUrlAsAPositionalParameterNeverInTheScript) {
    const std::string url = "file:///x'; touch /pwned; '";
    const auto cmd = br::fetch_command("/usr/bin/git", url, std::string(40, 'a'), "/workspace/src");
    ASSERT_EQ(cmd.size(), 8u);
    EXPECT_EQ(cmd[0], "/bin/sh");
    EXPECT_EQ(cmd[2].find("pwned"), std::string::npos);
    EXPECT_EQ(cmd[4], url);
    EXPECT_NE(cmd[2].find("fetch --depth 1 -- \"$1\" \"$2\""), std::string::npos);
    const auto ls = br::ls_remote_command("/usr/bin/git", "-oops", "");
    EXPECT_EQ(Argv(ls.end() - 4, ls.end()), (Argv{"--", "-oops", "HEAD", "HEAD^{}"}));
}

TEST(SandboxGit, FullShaIsFortyOrSixtyFourLowercaseHexDigits) {
    EXPECT_TRUE(br::is_full_sha(std::string(40, 'a')));
    EXPECT_TRUE(br::is_full_sha(std::string(64, '0')));
    EXPECT_FALSE(br::is_full_sha(std::string(39, 'a')));
    EXPECT_FALSE(br::is_full_sha(std::string(40, 'A')));
    EXPECT_FALSE(br::is_full_sha("v1.0"));
}

TEST(SandboxGit, LsRemotePicksLikeGitAndPrefersThePeeledTag) {
    const std::string a(40, 'a'), b(40, 'b'), c(40, 'c'), d(40, 'd'), e(40, 'e');
    const std::string out = a + "\tHEAD\n" + b + "\trefs/heads/main\n" + c +
                            "\trefs/heads/x/main\n" + d + "\trefs/tags/v1\n" + e +
                            "\trefs/tags/v1^{}\n" + a + "\trefs/heads/v1\n";
    EXPECT_EQ(br::pick_ls_remote(out, ""), a);
    EXPECT_EQ(br::pick_ls_remote(out, "main"), b);
    EXPECT_EQ(br::pick_ls_remote(out, "refs/heads/x/main"), c);
    EXPECT_EQ(br::pick_ls_remote(out, "v1"), e);  // the commit, not the tag object
    EXPECT_EQ(br::pick_ls_remote(out, "refs/tags/v1"), e);
    EXPECT_EQ(br::pick_ls_remote(out, "x"), std::nullopt);  // no partial matches
    EXPECT_EQ(br::pick_ls_remote("garbage\n" + std::string(40, 'z') + "\tHEAD\n", ""),
              std::nullopt);
}

// ---------------------------------------------------------------- the workspace on the host

TEST(SandboxWorkspace, RemoveTreeRemovesReadOnlyDirectoriesButNeverFollowsALink) {
    TempDir dir("br-remove-tree");
    const auto ws = dir / "ws";
    std::filesystem::create_directories(ws / "a/b");
    std::ofstream(ws / "a/b/f") << "x";
    std::ofstream(dir / "precious") << "keep";
    ::chmod((dir / "").c_str(), 0755);
    std::filesystem::create_directory_symlink(dir / "", ws / "a/link-to-outside");
    ::chmod((ws / "a/b").c_str(), 0500);
    ::chmod((ws / "a").c_str(), 0);
    br::remove_tree(ws);
    EXPECT_FALSE(std::filesystem::exists(ws));
    EXPECT_TRUE(std::filesystem::exists(dir / "precious"));
    struct stat st {};
    ASSERT_EQ(::stat((dir / "").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0755u);  // the link's target was not chmodded
}

TEST(SandboxWorkspace, TreeBytesCountsRegularFilesOnly) {
    TempDir dir("br-tree-bytes");
    std::filesystem::create_directories(dir / "d");
    std::ofstream(dir / "d/f") << std::string(1000, 'x');
    std::ofstream(dir / "g") << std::string(24, 'x');
    std::filesystem::create_symlink("/usr/bin/bash", dir / "link");
    EXPECT_EQ(br::tree_bytes(dir / ""), 1024u);
}

TEST(SandboxWorkspace, PreparedWorkspaceBelongsToTheBuildUserWithItsGitConfig) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the workspace away";
    TempDir dir("br-prepare");
    ::chmod((dir / "").c_str(), 0711);
    const br::SandboxUser user{.uid = 200'998, .gid = 200'998};
    std::ofstream(dir / "stale") << "old";  // a stale workspace is replaced
    ASSERT_EQ(br::prepare_workspace(dir / "stale", user, "[safe]\n"), "");
    struct stat st {};
    ASSERT_EQ(::stat((dir / "stale").c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_uid, 200'998u);
    EXPECT_EQ(slurp_file((dir / "stale/.gitconfig").string()), "[safe]\n");
    // A parent the user cannot search is named.
    ::chmod((dir / "").c_str(), 0700);
    const auto problem = br::reachable_problem(dir / "stale", user);
    EXPECT_NE(problem.find((dir / "").string().substr(0, (dir / "").string().size() - 1)),
              std::string::npos)
        << problem;
    EXPECT_EQ(br::reachable_problem(dir / "stale", {}), "");  // the server's own user
}

// ---------------------------------------------------------------- the argv under bubblewrap

// Runs `argv` (as uid 200999 when root), returning {exit code, stdout+stderr}.
std::pair<int, std::string> run(Argv argv, std::vector<std::string> cgroups = {}) {
    dally::Runtime rt;
    return rt.block_on(
        [](Argv argv,
           std::vector<std::string> cgroups) -> dally::Task<std::pair<int, std::string>> {
            dally::Command cmd{.argv = std::move(argv),
                               .out = dally::Stdio::pipe,
                               .err = dally::Stdio::pipe,
                               .cgroups = std::move(cgroups)};
            if (::geteuid() == 0) cmd.uid = cmd.gid = 200'999;
            auto child = dally::spawn_process(cmd);
            if (!child) co_return std::pair{-1, child.error().message()};
            std::string text;
            char buf[4096];
            for (dally::Pipe* p : {&child->stdout_pipe(), &child->stderr_pipe()}) {
                for (;;) {
                    auto n = co_await dally::timeout(20s, p->read(std::span<char>(buf)));
                    if (!n || *n == 0) break;
                    text.append(buf, *n);
                }
            }
            auto st = co_await dally::timeout(20s, child->wait());
            co_return std::pair{st && st->exited ? st->code : -1, text};
        }(std::move(argv), std::move(cgroups)));
}

TEST(SandboxRun, TheArgvRunsAndConfinesWrites) {
    if (::access("/usr/bin/bwrap", X_OK) != 0) GTEST_SKIP() << "bubblewrap is not installed";
    TempDir ws("br-sandbox-run");
    ::chmod((ws / "").c_str(), 0777);
    const std::string id = std::to_string(::getpid());
    SandboxSpec spec{.system = br::detect_system_layout(),
                     .workspace = (ws / "").string(),
                     .tmp_bytes = 1 << 20};
    spec.env = {"PATH=/usr/bin:/bin", "HOME=/work"};
    spec.command = {"/bin/sh", "-c",
                    "for f in /usr/x /etc/x /tmp/../x$1 $HOME/../x$1 /x$1; do touch \"$f\" "
                    "2>/dev/null && echo \"wrote "
                    "$f\"; done; touch /work/inside /tmp/t && echo ok; hostname",
                    "sh", id};
    const auto [code, out] = run(br::sandbox_argv(spec));
    ASSERT_EQ(code, 0) << out;
    EXPECT_EQ(out, "ok\nsandbox\n");
    EXPECT_TRUE(std::filesystem::exists(ws / "inside"));
    EXPECT_FALSE(std::filesystem::exists("/x" + id));
}

// ---------------------------------------------------------------- cgroups

// A Cgroups under a test-only parent name; skips the test without a writable hierarchy.
class SandboxCgroup : public ::testing::Test {
  protected:
    void SetUp() override {
        // A parent of this process's own: parallel tests must not remove one another's.
        m_cgroups = br::Cgroups::detect("dally-sandbox-test-" + std::to_string(::getpid()));
        if (m_cgroups.version() == 0)
            GTEST_SKIP() << "no writable cgroup hierarchy: " << m_cgroups.note();
    }
    void TearDown() override {
        for (const auto& p : m_cgroups.parents()) EXPECT_EQ(::rmdir(p.c_str()), 0) << p;
    }
    br::BuildCgroup create(const std::string& leaf, br::CgroupLimits limits) {
        std::string error;
        auto g = m_cgroups.create(leaf + "-" + std::to_string(::getpid()), limits, error);
        EXPECT_TRUE(g.valid()) << error;
        return g;
    }
    br::Cgroups m_cgroups;
};

// Whether `pid` runs (a zombie left to a slow reaper does not).
bool alive(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(f, line)) return false;
    const auto close = line.rfind(')');
    return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z' &&
           line[close + 2] != 'X';
}

TEST_F(SandboxCgroup, LimitsAreWrittenToTheGroup) {
    auto g = create("limits", {.memory_bytes = 64 << 20, .cpus = 1.5, .max_processes = 7});
    ASSERT_TRUE(g.valid());
    bool memory = false, pids = false;
    for (const auto& dir : g.dirs()) {
        if (m_cgroups.version() == 2) {
            EXPECT_EQ(slurp_file(dir + "/memory.max"), std::to_string(64 << 20) + "\n");
            EXPECT_EQ(slurp_file(dir + "/pids.max"), "7\n");
            if (m_cgroups.cpu()) {
                EXPECT_EQ(slurp_file(dir + "/cpu.max"), "150000 100000\n");
            }
            memory = pids = true;
        } else if (std::filesystem::exists(dir + "/memory.limit_in_bytes")) {
            EXPECT_EQ(slurp_file(dir + "/memory.limit_in_bytes"), std::to_string(64 << 20) + "\n");
            memory = true;
        } else if (std::filesystem::exists(dir + "/pids.max")) {
            EXPECT_EQ(slurp_file(dir + "/pids.max"), "7\n");
            pids = true;
        } else if (std::filesystem::exists(dir + "/cpu.cfs_quota_us")) {
            EXPECT_EQ(slurp_file(dir + "/cpu.cfs_quota_us"), "150000\n");
        }
    }
    EXPECT_EQ(memory, m_cgroups.memory());
    EXPECT_EQ(pids, m_cgroups.pids());
    EXPECT_TRUE(g.kill_and_remove());
    for (const auto& p : m_cgroups.parents()) {
        EXPECT_FALSE(std::filesystem::exists(p + "/limits-" + std::to_string(::getpid())));
    }
}

TEST_F(SandboxCgroup, ProcessesJoinAndKillAllEmptiesTheGroup) {
    auto g = create("kill", {.max_processes = 50});
    ASSERT_TRUE(g.valid());
    // A child that forks and leaves its children behind: the group still holds them.
    std::thread spawner([&] {
        auto [code, out] = run(
            {"/bin/sh", "-c",
             "(setsid sleep 100 >/dev/null 2>&1 &); (sleep 100 >/dev/null 2>&1 &); echo started"},
            g.dirs());
        EXPECT_EQ(code, 0) << out;
    });
    spawner.join();
    const auto left = g.pids();
    EXPECT_EQ(left.size(), 2u);
    EXPECT_TRUE(g.kill_and_remove());
    for (pid_t pid : left) EXPECT_FALSE(alive(pid)) << "pid " << pid << " survived";
}

TEST_F(SandboxCgroup, PidsMaxStopsForks) {
    if (!m_cgroups.pids()) GTEST_SKIP() << "no pids controller: " << m_cgroups.note();
    auto g = create("pids", {.max_processes = 5});
    ASSERT_TRUE(g.valid());
    auto [code, out] = run({"/bin/sh", "-c",
                            "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 5 >/dev/null 2>&1 & done; "
                            "kill $(jobs -p); echo done"},
                           g.dirs());
    EXPECT_NE(out.find("fork"), std::string::npos) << out;  // "Cannot fork"
    EXPECT_TRUE(g.kill_and_remove());
}

TEST_F(SandboxCgroup, OomKillAndPeakMemoryAreReported) {
    if (!m_cgroups.memory()) GTEST_SKIP() << "no memory controller: " << m_cgroups.note();
    auto g = create("oom", {.memory_bytes = 32 << 20});
    ASSERT_TRUE(g.valid());
    EXPECT_FALSE(g.oom_killed());
    // tail keeps a "line" without a newline in memory: 256 MiB of it.
    auto [code, out] =
        run({"/bin/sh", "-c", "head -c 268435456 /dev/zero | tail -n 1 >/dev/null"}, g.dirs());
    EXPECT_NE(code, 0) << out;
    EXPECT_TRUE(g.oom_killed());
    if (m_cgroups.version() == 1 || std::filesystem::exists(g.dirs().front() + "/memory.peak")) {
        EXPECT_GT(g.peak_memory_kb(), 16 << 10);
        EXPECT_LE(g.peak_memory_kb(), 33 << 10);
    }
    EXPECT_TRUE(g.kill_and_remove());
}

TEST_F(SandboxCgroup, AStaleGroupOfTheSameNameIsReplaced) {
    auto first = create("stale", {.max_processes = 9});
    ASSERT_TRUE(first.valid());
    std::thread([&] {
        (void)run({"/bin/sh", "-c", "(sleep 100 >/dev/null 2>&1 &)"}, first.dirs());
    }).join();
    ASSERT_EQ(first.pids().size(), 1u);
    auto second = create("stale", {.max_processes = 9});  // as after a crash: empties and recreates
    ASSERT_TRUE(second.valid());
    EXPECT_TRUE(second.empty());
    EXPECT_TRUE(second.kill_and_remove());
}

TEST_F(SandboxCgroup, OrphansOfAGoneServerAreRemovedAndOursKept) {
    const pid_t gone = ::fork();  // a pid that was a process and is no more
    if (gone == 0) ::_exit(0);
    ASSERT_GT(gone, 0);
    ::waitpid(gone, nullptr, 0);
    const std::string orphan = "build-7-slot-0-pid-" + std::to_string(gone);
    const std::string ours = br::Cgroups::leaf_name(7, 0);
    for (const auto& p : m_cgroups.parents()) {
        ASSERT_EQ(::mkdir((p + "/" + orphan).c_str(), 0755), 0);
        ASSERT_EQ(::mkdir((p + "/" + ours).c_str(), 0755), 0);
    }
    m_cgroups.remove_orphans();
    for (const auto& p : m_cgroups.parents()) {
        EXPECT_FALSE(std::filesystem::exists(p + "/" + orphan));
        EXPECT_TRUE(std::filesystem::exists(p + "/" + ours));
        ::rmdir((p + "/" + ours).c_str());
    }
}

}  // namespace
