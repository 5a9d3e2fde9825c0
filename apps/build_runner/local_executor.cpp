// local_executor.cpp: LocalExecutor runs builds on this machine: each process in a
// bubblewrap sandbox (sandbox.hpp) as the slot's unprivileged uid, limited by rlimits and,
// where the machine allows, a per-build cgroup (cgroup.hpp). Its output is read through the
// ring, its exit observed through its pidfd, and its limits are the ring's timers.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <dally/blocking.hpp>
#include <dally/process.hpp>
#include <dally/runtime.hpp>
#include <dally/time.hpp>
#include <dally/when.hpp>
#include <exception>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <thread>

#include "cgroup.hpp"
#include "executor.hpp"
#include "sandbox.hpp"

namespace br {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using dally::Clock;

// The fetch sandbox's view of the workspace (the steps see workspace/src at /work). Not
// /work: a file:// repository is bound at its own path, and this repository lives in /work.
constexpr const char* fetch_mount = "/workspace";

SandboxUser identity_for(const LocalExecutorOptions& o, unsigned slot) {
    if (::geteuid() != 0) return {};
    return {o.base_uid + slot, o.base_uid + slot};
}

// The sandboxed (or, with no_sandbox, direct) form of `inner` as `user`, stdin from
// /dev/null, stdout and stderr piped.
dally::Command make_command(const LocalExecutorOptions& o, const SystemLayout& layout,
                            std::vector<std::string> inner, SandboxSpec spec,
                            const fs::path& host_cwd, std::vector<std::string> host_env,
                            const SandboxUser& user) {
    dally::Command cmd;
    if (o.no_sandbox) {
        cmd = {.argv = std::move(inner), .env = std::move(host_env), .cwd = host_cwd};
    } else {
        spec.bwrap = o.bwrap;
        spec.system = layout;
        spec.command = std::move(inner);
        // bubblewrap clears the environment it passes on; its own gets nothing of the server's.
        cmd = {.argv = sandbox_argv(spec), .env = std::vector<std::string>{"PATH=/usr/bin:/bin"}};
    }
    cmd.uid = user.uid;
    cmd.gid = user.gid;
    cmd.in = dally::Stdio::null;
    cmd.out = cmd.err = dally::Stdio::pipe;
    return cmd;
}

// Why a file:// repository cannot be bound into the git sandbox, or "".
std::string repo_problem(const std::optional<std::string>& repo) {
    if (!repo) return {};
    if (*repo == fetch_mount || repo->starts_with(std::string(fetch_mount) + "/")) {
        return "the repository path collides with the sandbox's " + std::string(fetch_mount);
    }
    return fs::exists(*repo) ? std::string() : *repo + " does not exist";
}

// ---------------------------------------------------------------- one supervised process

enum class Ending { exited, wall_clock, no_output, cancelled };

// Where a process's output goes, and what is remembered of it.
struct Tap {
    std::function<void(std::string_view)> output{};  // every chunk of both streams
    std::string* capture = nullptr;                  // stdout also kept here (bounded)
    bool keep_tail = false;
    Clock::time_point last_output = Clock::now();
    std::string stderr_head{};  // bubblewrap's own errors come first on stderr
    std::string tail{};         // the last bytes of both streams, for error messages

    void take(std::string_view chunk, bool is_stderr) {
        last_output = Clock::now();
        if (is_stderr && stderr_head.size() < 1024) {
            stderr_head.append(chunk.substr(0, 1024 - stderr_head.size()));
        }
        if (!is_stderr && capture != nullptr && capture->size() < (4u << 20))
            capture->append(chunk);
        if (keep_tail) {
            tail.append(chunk.size() > 2048 ? chunk.substr(chunk.size() - 2048) : chunk);
            if (tail.size() > 4096) tail.erase(0, tail.size() - 2048);
        }
        if (output) output(chunk);
    }
};

dally::Task<void> pump(dally::Pipe& pipe, Tap& tap, bool is_stderr, Clock::time_point hard_stop) {
    std::vector<char> buf(64 * 1024);
    for (;;) {
        // The hard stop only matters for a no_sandbox build whose escaped daemon holds the pipe.
        auto n = co_await dally::deadline(hard_stop, pipe.read(std::span<char>(buf)));
        if (!n || *n == 0) co_return;
        tap.take(std::string_view(buf.data(), *n), is_stderr);
    }
}

dally::Task<Ending> wait_exit(dally::Child& child) {
    auto exited = child.wait();
    exited.reap = false;  // the zombie pins the process group id until the group is killed
    (void)co_await exited;
    co_return Ending::exited;
}

// Sleeps until the wall-clock deadline or `no_output` after the last chunk: one timer at a
// time, re-armed only when output moved the quiet deadline.
dally::Task<Ending> watchdog(const Tap& tap, Clock::time_point deadline,
                             Clock::duration no_output) {
    for (;;) {
        if (!co_await dally::sleep_until(std::min(deadline, tap.last_output + no_output))) {
            co_return Ending::exited;  // cancelled: another ending won
        }
        const auto now = Clock::now();
        if (now >= deadline) co_return Ending::wall_clock;
        if (now >= tap.last_output + no_output) co_return Ending::no_output;
    }
}

dally::Task<Ending> watch_cancel(dally::Event& cancel) {
    co_return (co_await cancel.wait()) ? Ending::cancelled : Ending::exited;
}

struct Finished {
    Ending ending = Ending::exited;
    dally::Result<dally::ExitStatus> status = dally::ExitStatus{};
};

// Runs `child` to its end: exit, a limit or `cancel`. Whatever ended it, its process group
// and `cgroup` are killed and the child is reaped before this returns.
dally::Task<Finished> supervise(dally::Child& child, Tap& tap, Clock::time_point deadline,
                                Clock::duration no_output, dally::Event& cancel,
                                Clock::duration grace, const BuildCgroup* cgroup) {
    tap.last_output = Clock::now();
    const auto hard_stop = deadline + grace + 2s;
    auto out = dally::spawn(pump(child.stdout_pipe(), tap, false, hard_stop));
    auto err = dally::spawn(pump(child.stderr_pipe(), tap, true, hard_stop));
    std::vector<dally::Task<Ending>> racers;
    racers.push_back(wait_exit(child));
    racers.push_back(watchdog(tap, deadline, no_output));
    racers.push_back(watch_cancel(cancel));
    Finished f{.ending = (co_await dally::when_any(std::move(racers))).value};
    if (f.ending == Ending::exited) {
        (void)child.kill(SIGKILL);  // what it left in its process group
    } else {
        (void)co_await child.terminate(grace);
    }
    if (cgroup != nullptr) cgroup->kill_all();
    co_await out;
    co_await err;
    f.status = co_await child.wait();
    co_return f;
}

// Runs `cmd` (from make_command) to its end or `limit`: {how it ended, why it did not start}.
dally::Task<std::pair<Finished, std::string>> run_captured(dally::Command cmd, Tap& tap,
                                                           Clock::duration limit) {
    auto child = dally::spawn_process(cmd);
    if (!child)
        co_return std::pair{Finished{},
                            "cannot start " + cmd.argv[0] + ": " + child.error().message()};
    dally::Event never;
    auto f = co_await supervise(*child, tap, Clock::now() + limit, limit, never, 0s, nullptr);
    co_return std::pair{std::move(f), std::string()};
}

// The first line of `text` (trimmed), or `fallback`.
std::string first_lines(std::string_view text, std::size_t lines, std::string fallback) {
    std::string out;
    while (!text.empty() && lines > 0) {
        const auto nl = text.find('\n');
        auto line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        if (line.empty()) continue;
        if (!out.empty()) out += "; ";
        out += line;
        --lines;
    }
    return out.empty() ? fallback : out;
}

std::string last_line(std::string_view text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
    const auto nl = text.rfind('\n');
    return std::string(nl == std::string_view::npos ? text : text.substr(nl + 1));
}

// bubblewrap reports its own setup failures as exit 1 with "bwrap: ..." first on stderr.
bool sandbox_failed(const dally::ExitStatus& st, const Tap& tap) {
    return st.exited && st.code == 1 && tap.stderr_head.starts_with("bwrap: ");
}

// ---------------------------------------------------------------- the executor

BuildOutcome ended(BuildState state, std::string reason, std::string step = {}) {
    BuildOutcome o;
    o.state = state;
    o.reason = std::move(reason);
    o.failed_step = std::move(step);
    return o;
}

class LocalExecutor final : public BuildExecutor {
  public:
    explicit LocalExecutor(LocalExecutorOptions options);
    dally::Task<BuildOutcome> run(const BuildJob& job, BuildSink& sink,
                                  dally::Event& cancel) override;
    Enforcement enforcement() const override { return m_enforcement; }

  private:
    dally::Task<void> fetch(const BuildJob& job, const SandboxUser& id, BuildSink& sink,
                            dally::Event& cancel, BuildOutcome& outcome) const;
    dally::Task<void> run_steps(const BuildJob& job, const SandboxUser& id, BuildSink& sink,
                                dally::Event& cancel, BuildOutcome& outcome) const;
    void check_sandbox() const;

    LocalExecutorOptions m_options;
    SystemLayout m_layout;
    Cgroups m_cgroups;
    Enforcement m_enforcement;
};

LocalExecutor::LocalExecutor(LocalExecutorOptions options)
    : m_options(std::move(options)),
      m_layout(detect_system_layout()),
      m_cgroups(m_options.external_limits ? Cgroups() : Cgroups::detect(m_options.cgroup_name)) {
    if (!m_options.no_sandbox) check_sandbox();
    if (!m_options.external_limits) m_cgroups.remove_orphans();
    const bool root = ::geteuid() == 0;
    auto& e = m_enforcement;
    e.executor = "local";
    e.sandbox = !m_options.no_sandbox;
    e.cgroup = m_cgroups.version() == 2 ? "v2" : m_cgroups.version() == 1 ? "v1" : "";
    if (e.sandbox) {
        e.enforced.insert(e.enforced.end(), {"network:none", "filesystem:read-only system",
                                             "namespaces:pid+ipc+uts+user", "tmp:tmpfs"});
    }
    if (m_options.external_limits) {
        e.enforced.insert(e.enforced.end(), {"memory:external", "cpu:external"});
    } else {
        e.enforced.push_back(m_cgroups.memory() ? "memory:cgroup" : "memory:rlimit");
        e.enforced.push_back(m_cgroups.cpu() ? "cpu:cgroup" : "cpu:rlimit");
    }
    if (m_cgroups.pids() || root) {
        e.enforced.push_back(std::string("processes:") + (m_cgroups.pids() ? "cgroup" : "") +
                             (m_cgroups.pids() && root ? "+" : "") + (root ? "rlimit" : ""));
    }
    e.enforced.insert(e.enforced.end(),
                      {"file_size:rlimit", "wall_clock:timer", "no_output:timer"});
    if (root) e.enforced.push_back("user:unprivileged");
    std::vector<std::string> notes;
    if (!m_cgroups.note().empty()) notes.push_back(m_cgroups.note());
    if (!root) notes.push_back("not root: builds run as the server's uid, without RLIMIT_NPROC");
    if (m_options.no_sandbox) notes.push_back("no sandbox (no_sandbox option)");
    for (std::size_t i = 0; i < notes.size(); ++i) e.note += (i ? "; " : "") + notes[i];
}

void LocalExecutor::check_sandbox() const {
    if (::access(m_options.bwrap.c_str(), X_OK) != 0) {
        throw std::runtime_error("bubblewrap not found at " + m_options.bwrap.string() +
                                 " (install the bubblewrap package)");
    }
    char tmpl[] = "/tmp/br-sandbox-check-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed in /tmp");
    const SandboxUser id = identity_for(m_options, 0);
    if (id.uid) (void)::chown(tmpl, *id.uid, *id.gid);
    const auto cmd = make_command(m_options, m_layout, {"/bin/true"},
                                  {.workspace = tmpl, .tmp_bytes = 1 << 20}, {}, {}, id);
    Tap tap;
    std::string problem;
    // A private runtime on its own thread: the constructor may run on a runtime's thread or
    // on none, and this check runs once.
    std::thread([&] {
        try {
            dally::Runtime rt;
            auto [f, error] = rt.block_on(run_captured(cmd, tap, 30s));
            if (!error.empty())
                problem = error;
            else if (!f.status)
                problem = f.status.error().message();
            else if (!f.status->success())
                problem = first_lines(tap.stderr_head, 3, "exit " + std::to_string(f.status->code));
        } catch (const std::exception& ex) {
            problem = ex.what();
        }
    }).join();
    ::rmdir(tmpl);
    if (!problem.empty())
        throw std::runtime_error("bubblewrap cannot create its namespaces: " + problem);
}

dally::Task<void> LocalExecutor::fetch(const BuildJob& job, const SandboxUser& id, BuildSink& sink,
                                       dally::Event& cancel, BuildOutcome& outcome) const {
    const Limits& limits = job.toolchain->limits;
    const auto repo = file_url_path(job.repo_url);
    if (auto problem = repo_problem(repo); !problem.empty()) {
        outcome.reason = "fetch failed: " + problem;
        co_return;
    }
    sink.output("== fetch " + job.repo_url + " " + job.commit + "\n");
    const fs::path ws = job.workspace;
    auto cmd = make_command(
        m_options, m_layout,
        fetch_command(
            m_options.git, job.repo_url, job.commit,
            m_options.no_sandbox ? (ws / "src").string() : std::string(fetch_mount) + "/src"),
        {.network = true,
         .workspace = ws.string(),
         .mount = fetch_mount,
         .ro_paths = repo ? std::vector<std::string>{*repo} : std::vector<std::string>{},
         .tmp_bytes = limits.tmp_bytes,
         .env = git_environment(fetch_mount)},
        ws, git_environment(ws.string()), id);
    cmd.rlimits = {{RLIMIT_FSIZE, limits.fetch_max_bytes, limits.fetch_max_bytes},
                   {RLIMIT_CORE, 0, 0}};
    auto child = dally::spawn_process(cmd);
    if (!child) {
        outcome.reason = "cannot start the fetch: " + child.error().message();
        co_return;
    }
    Tap tap{.output = [&sink](std::string_view s) { sink.output(s); }, .keep_tail = true};
    const auto f = co_await supervise(*child, tap, Clock::now() + limits.fetch_timeout,
                                      limits.fetch_timeout, cancel, m_options.kill_grace, nullptr);
    const auto secs = std::to_string(limits.fetch_timeout.count());
    if (f.ending == Ending::cancelled) {
        outcome.state = BuildState::cancelled;
        outcome.reason = "cancelled";
    } else if (f.ending != Ending::exited) {
        outcome.reason = "fetch timed out after " + secs + " s";
    } else if (!f.status) {
        outcome.reason = "fetch: " + f.status.error().message();
    } else if (!f.status->success()) {
        outcome.reason =
            sandbox_failed(*f.status, tap)
                ? "sandbox: " + first_lines(tap.stderr_head, 1, "")
                : "fetch failed: " + first_lines(last_line(tap.tail), 1,
                                                 "git exited " + std::to_string(f.status->code));
    } else {
        const auto bytes = co_await dally::spawn_blocking([&ws] { return tree_bytes(ws / "src"); });
        if (bytes > limits.fetch_max_bytes) {
            outcome.reason = "fetch failed: the source is " + std::to_string(bytes) +
                             " bytes, over the limit of " + std::to_string(limits.fetch_max_bytes);
        } else {
            outcome.reason.clear();
            outcome.state = BuildState::running;  // fetched: go on
        }
    }
}

dally::Task<void> LocalExecutor::run_steps(const BuildJob& job, const SandboxUser& id,
                                           BuildSink& sink, dally::Event& cancel,
                                           BuildOutcome& outcome) const {
    const Toolchain& tc = *job.toolchain;
    const Limits& limits = tc.limits;
    for (const auto& p : tc.ro_paths) {
        if (!fs::exists(p)) {
            outcome = ended(BuildState::error, "toolchain path " + p + " does not exist");
            co_return;
        }
    }
    BuildCgroup cgroup;
    if (m_cgroups.version() != 0) {
        std::string error;
        cgroup = m_cgroups.create(Cgroups::leaf_name(job.build_id, job.slot),
                                  {.memory_bytes = limits.memory_bytes,
                                   .cpus = limits.cpus,
                                   .max_processes = limits.max_processes},
                                  error);
        if (!cgroup.valid()) {
            outcome = ended(BuildState::error, "cgroup: " + error);
            co_return;
        }
    }
    const auto jobs = static_cast<unsigned>(std::max(1.0, std::ceil(limits.cpus)));
    // Under Slurm its --time ends the build; this timer only catches a Slurm that did not.
    const auto deadline = Clock::now() + limits.wall + (m_options.external_limits ? 120s : 0s);
    const fs::path src = fs::path(job.workspace) / "src";
    std::int64_t max_rss_kb = 0;
    outcome = ended(BuildState::passed, {});
    for (const auto& step : tc.steps) {
        if (cancel.is_set()) {
            outcome = ended(BuildState::cancelled, "cancelled", step.name);
            break;
        }
        sink.output("== step " + step.name + ": " + step.run + "\n");
        auto cmd = make_command(m_options, m_layout, {"/bin/sh", "-c", step.run},
                                {.workspace = src.string(),
                                 .ro_paths = tc.ro_paths,
                                 .tmp_bytes = limits.tmp_bytes,
                                 .env = step_environment(tc, jobs)},
                                src, step_environment(tc, jobs, src.string()), id);
        if (cgroup.valid()) cmd.cgroups = cgroup.dirs();
        cmd.rlimits = {{RLIMIT_FSIZE, limits.max_file_bytes, limits.max_file_bytes},
                       {RLIMIT_CORE, 0, 0}};
        // RLIMIT_NPROC counts every process of the uid: only the slot's own uid is exclusive.
        if (id.uid)
            cmd.rlimits.push_back({RLIMIT_NPROC, limits.max_processes, limits.max_processes});
        if (!m_cgroups.memory() && !m_options.external_limits)
            cmd.rlimits.push_back({RLIMIT_AS, limits.memory_bytes, limits.memory_bytes});
        if (!m_cgroups.cpu() && !m_options.external_limits) {
            const auto cpu_s = static_cast<rlim_t>(
                std::ceil(limits.cpus * static_cast<double>(limits.wall.count())));
            cmd.rlimits.push_back({RLIMIT_CPU, cpu_s, cpu_s});
        }
        auto child = dally::spawn_process(cmd);
        if (!child) {
            outcome = ended(BuildState::error,
                            "cannot start the sandbox: " + child.error().message(), step.name);
            break;
        }
        Tap tap{.output = [&sink](std::string_view s) { sink.output(s); }};
        const auto f = co_await supervise(*child, tap, deadline, limits.no_output, cancel,
                                          m_options.kill_grace, cgroup.valid() ? &cgroup : nullptr);
        if (f.status) max_rss_kb = std::max(max_rss_kb, f.status->max_rss_kb);
        if (f.ending == Ending::cancelled) {
            outcome = ended(BuildState::cancelled, "cancelled", step.name);
        } else if (f.ending == Ending::wall_clock || f.ending == Ending::no_output) {
            const bool wall = f.ending == Ending::wall_clock;
            sink.output(wall ? "== wall-clock limit reached\n" : "== no output for too long\n");
            outcome = ended(BuildState::timed_out, wall ? "wall_clock" : "no_output", step.name);
        } else if (!f.status) {
            outcome = ended(BuildState::error,
                            "waiting for the step: " + f.status.error().message(), step.name);
        } else if (f.status->success()) {
            continue;
        } else if (sandbox_failed(*f.status, tap)) {
            outcome = ended(BuildState::error, "sandbox: " + first_lines(tap.stderr_head, 1, ""),
                            step.name);
        } else {
            const auto& st = *f.status;
            outcome = ended(BuildState::failed, {}, step.name);
            // A shell reports a child killed by signal n as exit 128 + n (bubblewrap too).
            const int sig =
                !st.exited ? st.signal : (st.code > 128 && st.code < 128 + 65 ? st.code - 128 : 0);
            if (st.exited) outcome.exit_code = st.code;
            outcome.signal = sig;
            if (cgroup.valid() && cgroup.oom_killed()) {
                sink.output("== killed: out of memory\n");
                outcome.reason = "out_of_memory";
            } else {
                outcome.reason = "step " + step.name +
                                 (sig ? " killed by signal " + std::to_string(sig)
                                      : " exited " + std::to_string(st.code));
            }
        }
        break;
    }
    outcome.peak_memory_kb =
        m_cgroups.memory() && cgroup.valid() ? cgroup.peak_memory_kb() : max_rss_kb;
    // Empty the group on the ring's timers (processes killed a moment ago are still dying).
    for (int i = 0; i < 400 && cgroup.valid(); ++i) {
        cgroup.kill_all();
        if (cgroup.try_remove()) break;
        co_await dally::sleep_for(5ms);
    }
}

dally::Task<BuildOutcome> LocalExecutor::run(const BuildJob& job, BuildSink& sink,
                                             dally::Event& cancel) {
    BuildOutcome outcome;
    // Checked before anything is created: the workspace is removed recursively at the end.
    const auto& ws = job.workspace;
    if (job.toolchain == nullptr) outcome.reason = "no toolchain";
    if (!is_full_sha(job.commit)) outcome.reason = "not a full commit id: '" + job.commit + "'";
    if (!ws.is_absolute() || !ws.has_filename() || ws.filename() == "." || ws.filename() == "..") {
        outcome.reason =
            "the workspace must be an absolute path below a directory: '" + ws.string() + "'";
    }
    if (!outcome.reason.empty()) co_return outcome;
    const SandboxUser id = identity_for(m_options, job.slot);
    try {
        if (m_options.fetch) {
            sink.phase(BuildState::fetching);
            const std::string config = git_config(job.repo_url);
            outcome.reason = co_await dally::spawn_blocking(
                [&] { return prepare_workspace(job.workspace, id, config); });
            if (outcome.reason.empty()) co_await fetch(job, id, sink, cancel, outcome);
        } else if (!fs::is_directory(job.workspace / "src")) {
            outcome.reason = "no source at " + (job.workspace / "src").string() +
                             " (is the shared directory mounted here?)";
        } else {
            outcome.state = BuildState::running;
        }
        if (outcome.state == BuildState::running && !m_options.steps) {
            outcome = ended(BuildState::passed, {});  // fetched; the steps run elsewhere
            co_return outcome;
        }
        if (outcome.state == BuildState::running) {
            sink.phase(BuildState::running);
            co_await run_steps(job, id, sink, cancel, outcome);
        }
    } catch (const std::exception& e) {
        // A job the sandbox cannot express (a relative path, a bad env entry) or an
        // exception from the sink: the build's processes are gone (Child and BuildCgroup
        // clean up as they unwind); report it as infrastructure.
        outcome = ended(BuildState::error, e.what());
    }
    co_await dally::spawn_blocking([&job] { remove_tree(job.workspace); });
    co_return outcome;
}

}  // namespace

dally::Task<BuildOutcome> BuildExecutor::reattach(const BuildJob&, const std::string&, BuildSink&,
                                                  dally::Event&) {
    co_return ended(BuildState::error, "this executor cannot re-attach to a running build");
}

std::unique_ptr<BuildExecutor> make_local_executor(LocalExecutorOptions options) {
    return std::make_unique<LocalExecutor>(std::move(options));
}

dally::Task<Resolved> resolve_commit(const LocalExecutorOptions& options, std::string repo_url,
                                     std::string ref, std::chrono::seconds timeout, unsigned slot) {
    if (is_full_sha(ref)) co_return Resolved{ref, {}};
    const LocalExecutorOptions opts = options;  // the caller's may not outlive the first suspension
    const SandboxUser id = identity_for(opts, slot);
    std::string tmpl = (opts.scratch_dir / "br-resolve-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
        co_return Resolved{{}, "cannot make a directory in " + opts.scratch_dir.string() + ": " + std::strerror(errno)};
    }
    const fs::path home = tmpl;
    std::string error = co_await dally::spawn_blocking([&] {
        remove_tree(home);
        return prepare_workspace(home, id, git_config(repo_url));
    });
    std::string out;
    Tap tap{.capture = &out};
    const auto repo = file_url_path(repo_url);
    if (error.empty()) error = repo_problem(repo);
    if (error.empty()) {
        auto cmd = make_command(
            opts, detect_system_layout(), ls_remote_command(opts.git, repo_url, ref),
            {.network = true,
             .workspace = home.string(),
             .mount = fetch_mount,
             .ro_paths = repo ? std::vector<std::string>{*repo} : std::vector<std::string>{},
             .tmp_bytes = 16 << 20,
             .env = git_environment(fetch_mount)},
            home, git_environment(home.string()), id);
        cmd.rlimits = {{RLIMIT_CORE, 0, 0}};
        auto [f, spawn_error] = co_await run_captured(std::move(cmd), tap, timeout);
        if (!spawn_error.empty()) {
            error = spawn_error;
        } else if (f.ending != Ending::exited) {
            error = "git ls-remote timed out after " + std::to_string(timeout.count()) + " s";
        } else if (!f.status) {
            error = "git ls-remote: " + f.status.error().message();
        } else if (!f.status->success()) {
            error = first_lines(tap.stderr_head, 3,
                                "git ls-remote exited " + std::to_string(f.status->code));
        }
    }
    co_await dally::spawn_blocking([&home] { remove_tree(home); });
    if (!error.empty()) co_return Resolved{{}, error};
    if (auto commit = pick_ls_remote(out, ref)) co_return Resolved{*commit, {}};
    co_return Resolved{
        {}, "ref '" + (ref.empty() ? std::string("HEAD") : ref) + "' not found at " + repo_url};
}

}  // namespace br
