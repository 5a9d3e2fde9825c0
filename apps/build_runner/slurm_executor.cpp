// slurm_executor.cpp: SlurmExecutor (slurm_executor.hpp). Per build:
//
//   <state_dir>/<id>/job.json   what node-run runs (srun's stdin)
//   <state_dir>/<id>/out        the build's output (srun's stdout)
//   <state_dir>/<id>/err        srun's messages and node-run's markers (srun's stderr)
//
// srun runs as `setsid srun ...` with those files as its streams, so neither a restart of
// the server nor a closed pipe ends it. The server follows the files through inotify and
// srun's exit through its pidfd: nothing polls while a build runs. When srun has exited,
// one `scontrol show job` (repeated only while the job is still COMPLETING) tells how the
// job ended: TIMEOUT, OUT_OF_MEMORY, CANCELLED and NODE_FAIL are Slurm's to say.
#include "slurm_executor.hpp"

#include "config.hpp"
#include "slurm_job.hpp"

#include <dally/blocking.hpp>
#include <dally/fs.hpp>
#include <dally/process.hpp>
#include <dally/sync.hpp>
#include <dally/time.hpp>
#include <dally/when.hpp>

#include <fmt/format.h>

#include <sys/inotify.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace br {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// ---- running Slurm's commands ----

struct ToolResult {
    bool ok = false;  // exited 0
    std::string out;
    std::string err;  // stderr, or why it did not run
};

dally::Task<void> read_into(dally::Pipe& pipe, std::string& into) {
    char buf[16384];
    for (;;) {
        auto n = co_await pipe.read(std::span<char>(buf));
        if (!n || *n == 0) co_return;
        if (into.size() < (1u << 20)) into.append(buf, *n);
    }
}

dally::Task<ToolResult> run_tool(std::vector<std::string> argv, std::chrono::seconds limit) {
    ToolResult r;
    dally::Command cmd{.argv = std::move(argv), .in = dally::Stdio::null, .out = dally::Stdio::pipe,
                       .err = dally::Stdio::pipe};
    auto child = dally::spawn_process(cmd);
    if (!child) {
        r.err = fmt::format("cannot run {}: {}", cmd.argv[0], child.error().message());
        co_return r;
    }
    auto out = dally::spawn(read_into(child->stdout_pipe(), r.out));
    auto err = dally::spawn(read_into(child->stderr_pipe(), r.err));
    auto st = co_await dally::timeout(limit, child->wait());
    if (!st) {
        (void)co_await child->terminate(0s);
        r.err = fmt::format("{} did not answer in {} s", cmd.argv[0], limit.count());
    }
    co_await out;
    co_await err;
    r.ok = st && st->success();
    co_return r;
}

// {program, the words of `middle`, last}: argv built outside a coroutine (GCC 12 cannot
// keep a braced list of string literals in a coroutine frame).
std::vector<std::string> words(std::string program, std::string_view middle, std::string last) {
    std::vector<std::string> argv{std::move(program)};
    while (!middle.empty()) {
        const auto sp = middle.find(' ');
        argv.emplace_back(middle.substr(0, sp));
        middle = sp == std::string_view::npos ? std::string_view() : middle.substr(sp + 1);
    }
    argv.push_back(std::move(last));
    return argv;
}

std::string first_line(std::string_view s) {
    while (!s.empty() && (s.front() == '\n' || s.front() == ' ')) s.remove_prefix(1);
    return std::string(s.substr(0, s.find('\n')));
}

// /proc/<pid>/stat field 22 (start time in clock ticks), 0 if there is no such process.
std::uint64_t start_ticks(int pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(f, line)) return 0;
    const auto close = line.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    for (int i = 3; i <= 22 && rest >> field; ++i) {
        if (i == 22) return std::stoull(field);
    }
    return 0;
}

// This server's instance id: 8 hex digits, made once and kept in `file`.
std::string instance_id(const fs::path& file) {
    std::string id;
    std::ifstream(file) >> id;
    if (id.size() == 8 && id.find_first_not_of("0123456789abcdef") == std::string::npos) return id;
    id = random_hex(4);
    std::ofstream(file) << id << "\n";
    return id;
}

std::string self_path() {
    std::error_code ec;
    auto p = fs::read_symlink("/proc/self/exe", ec);
    return ec ? std::string() : p.string();
}

// ---- the executor ----

enum class Wake { data, exited, cancel, detach, timer };

class SlurmExecutor final : public BuildExecutor {
public:
    explicit SlurmExecutor(SlurmExecutorOptions options);
    dally::Task<BuildOutcome> run(const BuildJob& job, BuildSink& sink, dally::Event& cancel) override;
    dally::Task<BuildOutcome> reattach(const BuildJob& job, const std::string& ref, BuildSink& sink,
                                       dally::Event& cancel) override;
    Enforcement enforcement() const override { return m_enforcement; }
    bool detachable() const override { return true; }
    void detach() override { m_detach.set(); }

private:
    struct Follow;
    dally::Task<BuildOutcome> follow(Follow& f);
    dally::Task<void> drain(Follow& f);
    dally::Task<void> drain_file(Follow& f, bool is_err);
    void err_line(Follow& f, const std::string& line);
    dally::Task<std::optional<std::string>> final_state(Follow& f);
    dally::Task<void> send_cancel(Follow& f);
    dally::Task<BuildOutcome> fetch_to_shared(BuildJob job, fs::path workspace, BuildSink& sink, dally::Event& cancel);
    dally::Task<void> remove_shared(fs::path workspace);
    std::string tool(const char* name) const { return (m_options.slurm.bin_dir / name).string(); }
    fs::path dir_of(const BuildJob& job) const { return m_options.state_dir / std::to_string(job.build_id); }
    fs::path workspace_of(const BuildJob& job) const {
        return (m_coordinator_fetch ? m_options.slurm.shared_dir : m_options.slurm.node_work_dir) / job_name(job);
    }
    std::string job_name(const BuildJob& job) const {
        return fmt::format("{}-{}", m_options.slurm.job_prefix, job.build_id);
    }

    SlurmExecutorOptions m_options;
    bool m_coordinator_fetch = false;
    std::unique_ptr<BuildExecutor> m_fetcher;  // coordinator fetch: a LocalExecutor that only fetches
    Enforcement m_enforcement;
    dally::Event m_detach;
};

struct SlurmExecutor::Follow {
    Follow(const BuildJob& j, BuildSink& s, dally::Event& c, fs::path d)
        : job(j), sink(s), cancel(c), dir(std::move(d)) {}
    const BuildJob& job;
    BuildSink& sink;
    dally::Event& cancel;
    fs::path dir;
    SrunRef ref;
    dally::Child* child = nullptr;  // srun, when this process started it
    bool srun_gone = false;
    bool cancel_sent = false;
    std::optional<BuildOutcome> node;
    std::string last_error;
    std::uint64_t out_offset = 0, err_offset = 0;
    std::string err_partial;
    std::optional<dally::File> out, err;
};

SlurmExecutor::SlurmExecutor(SlurmExecutorOptions options) : m_options(std::move(options)) {
    auto& s = m_options.slurm;
    if (s.fetch != "node" && s.fetch != "coordinator")
        throw std::runtime_error("slurm.fetch must be \"node\" or \"coordinator\", not \"" + s.fetch + "\"");
    m_coordinator_fetch = s.fetch == "coordinator";
    if (m_coordinator_fetch && (s.shared_dir.empty() || !s.shared_dir.is_absolute()))
        throw std::runtime_error("slurm.fetch \"coordinator\" needs slurm.shared_dir: an absolute path every node mounts");
    if (!s.node_work_dir.is_absolute()) throw std::runtime_error("slurm.node_work_dir must be an absolute path");
    if (s.node_command.empty()) s.node_command = self_path();
    if (m_options.state_dir.empty()) throw std::runtime_error("the Slurm executor needs a state directory");
    fs::create_directories(m_options.state_dir);
    if (s.job_prefix.empty()) s.job_prefix = "br-" + instance_id(m_options.state_dir / "instance");
    if (m_coordinator_fetch) {
        fs::create_directories(s.shared_dir);
        LocalExecutorOptions fetch_only = m_options.local;
        fetch_only.steps = false;
        m_fetcher = make_local_executor(fetch_only);
    }

    // Does Slurm answer? (a private runtime: this may run on a runtime's thread or none)
    std::string problem;
    std::thread([&] {
        try {
            dally::Runtime rt;
            auto ping = rt.block_on(run_tool({tool("scontrol"), "ping"}, 30s));
            if (!ping.ok || ping.out.find("is UP") == std::string::npos) {
                problem = "Slurm does not answer (scontrol ping: " +
                          first_line(ping.err.empty() ? ping.out : ping.err) + ")";
                return;
            }
            if (!s.partition.empty()) {
                auto p = rt.block_on(run_tool({tool("sinfo"), "-h", "-o", "%P", "-p", s.partition}, 30s));
                if (!p.ok || first_line(p.out).empty()) problem = "no Slurm partition \"" + s.partition + "\"";
            }
        } catch (const std::exception& e) {
            problem = e.what();
        }
    }).join();
    if (!problem.empty()) throw std::runtime_error(problem);

    auto& e = m_enforcement;
    e.executor = "slurm";
    e.sandbox = true;
    e.cgroup = "slurm";
    e.enforced = {"memory:slurm --mem",       "cpu:slurm --cpus-per-task",
                  "wall_clock:slurm --time",  "no_output:timer on the node",
                  "file_size:rlimit",         s.require_sandbox ? "sandbox:bubblewrap on the node"
                                                                : "sandbox:bubblewrap on the node when installed"};
    if (::geteuid() == 0) e.enforced.emplace_back("user:unprivileged");
    if (!s.require_sandbox)
        e.note = "a node without bubblewrap runs the steps without a sandbox (set slurm.require_sandbox)";
    e.settings = {{"partition", s.partition.empty() ? "(default)" : s.partition},
                  {"account", s.account},
                  {"qos", s.qos},
                  {"fetch", s.fetch},
                  {"node_command", s.node_command.string()},
                  {"job_prefix", s.job_prefix},
                  {"work_dir", m_coordinator_fetch ? s.shared_dir.string() : s.node_work_dir.string()}};
}

dally::Task<BuildOutcome> SlurmExecutor::run(const BuildJob& job, BuildSink& sink, dally::Event& cancel) {
    BuildOutcome failed;
    if (job.toolchain == nullptr) {
        failed.reason = "no toolchain";
        co_return failed;
    }
    const fs::path dir = dir_of(job);
    const fs::path workspace = workspace_of(job);
    sink.phase(BuildState::fetching);
    std::error_code ec;
    fs::remove_all(dir, ec);
    fs::create_directories(dir, ec);
    if (ec) {
        failed.reason = "cannot create " + dir.string() + ": " + ec.message();
        co_return failed;
    }
    // (No block-scoped locals live across a co_await in this function: GCC 12 destroys
    // some of them twice.)
    BuildOutcome fetched;
    fetched.state = BuildState::passed;
    if (m_coordinator_fetch) fetched = co_await fetch_to_shared(job, workspace, sink, cancel);
    if (fetched.state != BuildState::passed) {
        fs::remove_all(dir, ec);
        co_return fetched;
    }
    NodeJob nj;
    nj.build_id = job.build_id;
    nj.package = job.package;
    nj.repo_url = job.repo_url;
    nj.commit = job.commit;
    nj.toolchain = *job.toolchain;
    nj.workspace = workspace.string();
    nj.slot = job.slot;
    nj.fetch = !m_coordinator_fetch;
    nj.bwrap = m_options.local.bwrap.string();
    nj.git = m_options.local.git.string();
    nj.base_uid = m_options.local.base_uid;
    nj.require_sandbox = m_options.slurm.require_sandbox;
    {
        std::ofstream(dir / "job.json") << node_job_json(nj);
        std::ofstream(dir / "out");
        std::ofstream(dir / "err");
    }
    if (m_detach.is_set()) {
        // The server is stopping: nothing was submitted yet, so the build goes back to the queue.
        fs::remove_all(dir, ec);
        failed.reason = "the server is stopping";
        co_return failed;
    }
    const auto& s = m_options.slurm;
    std::vector<std::string> argv = {"/bin/sh", "-c", "exec setsid \"$0\" \"$@\" <job.json >out 2>err"};
    for (auto& a : srun_argv({.srun = tool("srun"),
                              .partition = s.partition,
                              .account = s.account,
                              .qos = s.qos,
                              .extra_args = s.extra_args,
                              .node_command = s.node_command.string(),
                              .job_name = job_name(job),
                              .fetch_on_node = !m_coordinator_fetch},
                             job.toolchain->limits)) {
        argv.push_back(std::move(a));
    }
    // Not in our process group, and later its own session: a signal to the server (or its
    // terminal) does not reach it. srun inherits the server's environment (SLURM_CONF, ...);
    // the job gets none of it (--export=NONE).
    dally::Command cmd{.argv = std::move(argv), .cwd = dir.string(), .in = dally::Stdio::null,
                       .out = dally::Stdio::null, .err = dally::Stdio::null, .new_process_group = false};
    auto child = dally::spawn_process(cmd);
    if (!child) {
        failed.reason = "cannot start srun: " + child.error().message();
        fs::remove_all(dir, ec);
        co_return failed;
    }
    Follow f{job, sink, cancel, dir};
    f.ref.pid = child->pid();
    f.ref.start_ticks = start_ticks(f.ref.pid);
    f.child = &*child;
    sink.handle("", format_ref(f.ref));
    BuildOutcome out = co_await follow(f);
    if (out.detached) {
        (void)child->detach();
        co_return out;
    }
    fs::remove_all(dir, ec);
    if (m_coordinator_fetch) co_await remove_shared(workspace);
    co_return out;
}

dally::Task<BuildOutcome> SlurmExecutor::fetch_to_shared(BuildJob job, fs::path workspace, BuildSink& sink,
                                                         dally::Event& cancel) {
    job.workspace = std::move(workspace);
    co_return co_await m_fetcher->run(job, sink, cancel);
}

dally::Task<void> SlurmExecutor::remove_shared(fs::path workspace) {
    co_await dally::spawn_blocking([&workspace] {
        std::error_code e;
        fs::remove_all(workspace, e);
    });
}

dally::Task<BuildOutcome> SlurmExecutor::reattach(const BuildJob& job, const std::string& ref_text, BuildSink& sink,
                                                  dally::Event& cancel) {
    BuildOutcome failed;
    const auto ref = parse_ref(ref_text);
    const fs::path dir = dir_of(job);
    if (!ref) {
        failed.reason = "cannot re-attach: the recorded handle \"" + ref_text + "\" is not one of ours";
        co_return failed;
    }
    if (!fs::is_directory(dir)) {
        failed.reason = "cannot re-attach: " + dir.string() + " is gone";
        co_return failed;
    }
    Follow f{job, sink, cancel, dir};
    f.ref = *ref;
    f.srun_gone = ref->start_ticks == 0 || start_ticks(ref->pid) != ref->start_ticks;
    sink.output(fmt::format("== build_runner restarted: following {} again{}\n",
                            ref->job_id.empty() ? "the Slurm job" : "Slurm job " + ref->job_id,
                            f.srun_gone ? " (its srun has ended)" : ""));
    BuildOutcome out = co_await follow(f);
    if (!out.detached) {
        std::error_code ec;
        fs::remove_all(dir, ec);
        if (m_coordinator_fetch) fs::remove_all(workspace_of(job), ec);
    }
    co_return out;
}

void SlurmExecutor::err_line(Follow& f, const std::string& line) {
    const ErrLine e = parse_err_line(line);
    switch (e.kind) {
    case ErrLine::started:
    case ErrLine::queued_job:
        if (f.ref.job_id != e.job_id) {
            f.ref.job_id = e.job_id;
            f.sink.handle(e.job_id, format_ref(f.ref));
        }
        if (e.kind == ErrLine::started) {
            // "build_runner-node: started job 7 on vm" -> "== slurm job 7 on vm"
            f.sink.output(fmt::format("== slurm job {}{}\n", e.job_id,
                                      line.substr(line.find(e.job_id) + e.job_id.size())));
        } else {
            f.sink.output(line + "\n");
        }
        break;
    case ErrLine::phase_change:
        f.sink.phase(e.phase);
        break;
    case ErrLine::outcome_line:
        f.node = e.outcome;
        break;
    case ErrLine::other:
        if (!line.empty()) {
            f.sink.output(line + "\n");
            f.last_error = line;
        }
        break;
    }
}

dally::Task<void> SlurmExecutor::drain_file(Follow& f, bool is_err) {
    std::optional<dally::File>& file = is_err ? f.err : f.out;
    std::uint64_t& offset = is_err ? f.err_offset : f.out_offset;
    if (!file) co_return;
    std::vector<char> buf(64 * 1024);
    for (;;) {
        auto n = co_await file->read_at(std::span<char>(buf), offset);
        if (!n || *n == 0) co_return;
        offset += *n;
        const std::string_view chunk(buf.data(), *n);
        if (!is_err) {
            f.sink.output(chunk);
            continue;
        }
        f.err_partial.append(chunk);
        std::size_t start = 0, nl;
        while ((nl = f.err_partial.find('\n', start)) != std::string::npos) {
            err_line(f, f.err_partial.substr(start, nl - start));
            start = nl + 1;
        }
        f.err_partial.erase(0, start);
    }
}

// stderr first: its markers (the job's start, the phase) precede the output that follows
// them; the two files carry no common order beyond that.
dally::Task<void> SlurmExecutor::drain(Follow& f) {
    co_await drain_file(f, true);
    co_await drain_file(f, false);
}

dally::Task<void> SlurmExecutor::send_cancel(Follow& f) {
    f.cancel_sent = true;
    std::vector<std::string> argv = {tool("scancel")};
    if (!f.ref.job_id.empty()) {
        argv.push_back(f.ref.job_id);
    } else {
        argv.push_back("--jobname=" + job_name(f.job));
    }
    auto r = co_await run_tool(std::move(argv), 30s);
    f.sink.output(r.ok ? "== cancelling: scancel sent\n" : "== scancel failed: " + first_line(r.err) + "\n");
}

// The job's final state: "" when Slurm no longer knows it, nullopt when the server stops
// meanwhile (detach()). Asks again only while the
// job is still ending (COMPLETING), at a growing interval; a job whose srun died with the
// old server may still run for hours, so that wait is at Slurm's pace (every 10 s).
dally::Task<std::optional<std::string>> SlurmExecutor::final_state(Follow& f) {
    if (f.ref.job_id.empty()) co_return std::optional<std::string>(std::string());
    auto interval = 100ms;
    for (;;) {
        auto r = co_await run_tool(words(tool("scontrol"), "show job -o", f.ref.job_id), 30s);
        std::string state = r.ok ? scontrol_field(r.out, "JobState") : std::string();
        if (!r.ok) {
            // Gone from slurmctld's memory (MinJobAge): the accounting database may know.
            auto acct = co_await run_tool(words(tool("sacct"), "-n -X -P -o State -j", f.ref.job_id), 30s);
            state = acct.ok ? first_line(acct.out) : std::string();
            state = state.substr(0, state.find(' '));  // "CANCELLED by 0"
        }
        if (!slurm_state_pending(state)) co_return std::optional<std::string>(state);
        if (f.cancel.is_set() && !f.cancel_sent) co_await send_cancel(f);
        if (m_detach.is_set() && !f.cancel_sent) co_return std::nullopt;
        co_await dally::sleep_for(f.srun_gone && state != "COMPLETING" ? 10'000ms : interval);
        interval = std::min<std::chrono::milliseconds>(interval * 2, 2'000ms);
    }
}

namespace {

dally::Task<Wake> wake_on_data(dally::Pipe& inotify) {
    char buf[4096];
    (void)co_await inotify.read(std::span<char>(buf));
    co_return Wake::data;
}

dally::Task<Wake> wake_on_child(dally::Child& child, bool cancel_sent) {
    if (cancel_sent) {
        // scancel was sent: srun ends once the step is down. A wedged srun is not waited
        // for forever.
        auto r = co_await dally::timeout(120s, child.wait());
        if (r.timed_out()) (void)child.kill(SIGKILL);
        co_return Wake::exited;
    }
    (void)co_await child.wait();
    co_return Wake::exited;
}

dally::Task<Wake> wake_on_pid(int pid) {
    (void)co_await dally::wait_for_exit(pid);
    co_return Wake::exited;
}

dally::Task<Wake> wake_on(dally::Event& e, Wake w) {
    (void)co_await e.wait();
    co_return w;
}

}  // namespace

dally::Task<BuildOutcome> SlurmExecutor::follow(Follow& f) {
    BuildOutcome detached;
    detached.detached = true;
    const int in = ::inotify_init1(IN_CLOEXEC);
    if (in < 0) {
        BuildOutcome o;
        o.reason = std::string("inotify: ") + std::strerror(errno);
        co_return o;
    }
    dally::Pipe inotify(in);
    // IN_MODIFY on the directory: a write to either file.
    if (::inotify_add_watch(in, f.dir.c_str(), IN_MODIFY) < 0) {
        BuildOutcome o;
        o.reason = "inotify " + f.dir.string() + ": " + std::strerror(errno);
        co_return o;
    }
    if (auto o = co_await dally::File::open((f.dir / "out").string())) f.out.emplace(std::move(*o));
    if (auto e = co_await dally::File::open((f.dir / "err").string())) f.err.emplace(std::move(*e));

    // A build being cancelled is followed to its end even when the server stops meanwhile
    // (bounded by Slurm's kill wait): detaching would lose the cancellation.
    while (!f.srun_gone) {
        co_await drain(f);
        if (m_detach.is_set() && !f.cancel_sent) co_return detached;
        std::vector<dally::Task<Wake>> racers;
        racers.push_back(wake_on_data(inotify));
        racers.push_back(f.child ? wake_on_child(*f.child, f.cancel_sent) : wake_on_pid(f.ref.pid));
        if (!f.cancel_sent) racers.push_back(wake_on(m_detach, Wake::detach));
        if (!f.cancel_sent) racers.push_back(wake_on(f.cancel, Wake::cancel));
        const Wake w = (co_await dally::when_any(std::move(racers))).value;
        if (w == Wake::detach) co_return detached;
        if (w == Wake::cancel) co_await send_cancel(f);
        if (w == Wake::exited) f.srun_gone = true;
    }
    co_await drain(f);
    if (!f.err_partial.empty()) err_line(f, std::exchange(f.err_partial, std::string()));
    if (f.cancel.is_set() && !f.cancel_sent && !f.node) co_await send_cancel(f);
    const std::optional<std::string> final = co_await final_state(f);
    if (!final) co_return detached;
    const std::string& state = *final;
    if (!state.empty()) f.sink.output(fmt::format("== slurm job {} ended {}\n", f.ref.job_id, state));
    co_return slurm_outcome(state, f.node, f.cancel.is_set(), f.last_error);
}

}  // namespace

std::unique_ptr<BuildExecutor> make_slurm_executor(SlurmExecutorOptions options) {
    return std::make_unique<SlurmExecutor>(std::move(options));
}

}  // namespace br
