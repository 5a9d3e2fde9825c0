// executor.hpp: where a build runs. The runner (queue, cache, store, events) is the same
// for every executor; an executor only fetches the source, runs the toolchain's steps,
// streams their output and reports how they ended. LocalExecutor runs them on this
// machine in a bubblewrap sandbox with rlimits and, where the machine allows, a cgroup;
// SlurmExecutor (slurm_executor.hpp) runs them as Slurm jobs, whose builds outlive a
// restart of the server and are re-attached.
#pragma once

#include "model.hpp"

#include <dally/sync.hpp>
#include <dally/task.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <utility>
#include <string>
#include <string_view>
#include <vector>

namespace br {

// One build to run. The executor owns `workspace` for the duration of run(): it creates it,
// clones into workspace/src and removes it when done.
struct BuildJob {
    std::int64_t build_id = 0;
    std::string package;
    std::string repo_url;
    std::string commit;  // resolved full sha (resolve_commit)
    const Toolchain* toolchain = nullptr;
    std::filesystem::path workspace;
    unsigned slot = 0;   // 0 .. concurrency-1: selects the build's unprivileged uid
};

// What the executor tells the runner while a build runs. Called on the executor's runtime.
class BuildSink {
public:
    virtual ~BuildSink() = default;
    // The build moved to `state` (fetching, running).
    virtual void phase(BuildState state) = 0;
    // Output of the fetch and of the steps, stdout and stderr merged, as it arrives; also the
    // executor's own "== step build: make" headers and notices. The runner caps, stores and
    // broadcasts it.
    virtual void output(std::string_view bytes) = 0;
    // The build now runs elsewhere: `job_id` is what to show (a Slurm job id, "" while not
    // known) and `ref` what reattach() needs. The runner commits both at once, so that a
    // restart finds the build instead of starting it twice. (Local builds never call it.)
    virtual void handle(const std::string& job_id, const std::string& ref) { (void)job_id, (void)ref; }
};

struct BuildOutcome {
    BuildState state = BuildState::error;  // passed, failed, timed_out, cancelled or error
    std::optional<int> exit_code;
    int signal = 0;
    std::string reason;       // see BuildRecord::reason
    std::string failed_step;  // "" for passed, or for errors before the steps
    std::int64_t peak_memory_kb = 0;
    // The executor stopped following the build, which goes on (detach()): nothing else here
    // is meaningful; the build is re-attached at the next start.
    bool detached = false;
};

// How limits are enforced here, for GET /api/toolchains.
struct Enforcement {
    std::string executor;     // "local" or "slurm"
    bool sandbox = false;     // bubblewrap available and working
    std::string cgroup;       // "v2", "v1" or "" (none: rlimits only)
    std::vector<std::string> enforced;  // e.g. {"memory:cgroup", "processes:cgroup+rlimit", "cpu:cgroup", ...}
    std::string note;         // why something is missing ("no writable cgroup hierarchy")
    std::vector<std::pair<std::string, std::string>> settings;  // e.g. {"partition", "debug"}
};

class BuildExecutor {
public:
    virtual ~BuildExecutor() = default;
    // Runs `job` to the end on the calling runtime. Setting `cancel` (any thread) stops it:
    // SIGTERM to the sandbox, SIGKILL after the grace period, outcome cancelled. Never
    // throws for a build's own failure; infrastructure trouble is BuildState::error.
    virtual dally::Task<BuildOutcome> run(const BuildJob& job, BuildSink& sink, dally::Event& cancel) = 0;
    virtual Enforcement enforcement() const = 0;

    // Executors whose builds outlive this process (Slurm jobs) return true: at shutdown the
    // runner calls detach() instead of cancelling them, and at the next start it calls
    // reattach() for each build that recorded a handle.
    virtual bool detachable() const { return false; }
    // Every run()/reattach() in progress returns at once with `detached`; the builds go on.
    virtual void detach() {}
    // Follows a build an earlier process started (`ref` from BuildSink::handle) to its end,
    // as run() would have: its output from the start (the runner restarts the log), then
    // how it ended. The workspace is the one run() was given.
    virtual dally::Task<BuildOutcome> reattach(const BuildJob& job, const std::string& ref, BuildSink& sink,
                                               dally::Event& cancel);
};

struct LocalExecutorOptions {
    std::filesystem::path bwrap = "/usr/bin/bwrap";
    std::filesystem::path git = "/usr/bin/git";
    // Builds run as base_uid + slot (and gid the same) when the server runs as root, so a
    // fork bomb's RLIMIT_NPROC hits only its own build. Ignored when not root.
    unsigned base_uid = 200'000;
    // Parent of the per-build cgroups: "/sys/fs/cgroup/dally-build" (v2) or that name under
    // each v1 controller (memory, pids, cpu). Created when missing; none if not writable.
    std::string cgroup_name = "dally-build";
    // Cancel: SIGTERM, then SIGKILL after this.
    std::chrono::milliseconds kill_grace{5'000};
    // Where resolve_commit makes its short-lived git home (br-resolve-*). The server uses
    // data_dir/work, which it empties at start, so a kill -9 leaves nothing behind for long.
    std::filesystem::path scratch_dir = "/tmp";
    // Run without bubblewrap (tests of the code around it, and the sandbox-overhead
    // benchmark's baseline; on a Slurm node without bubblewrap). Never the default.
    bool no_sandbox = false;
    // On a Slurm node (build_runner node-run): memory, CPUs and wall-clock time are Slurm's
    // (its job cgroup and --time). No cgroup of our own (it would take the build out of
    // Slurm's), no RLIMIT_AS or RLIMIT_CPU, and the wall-clock timer is only a backstop at
    // the limit + 2 min. The no-output timer, the sandbox and the other rlimits stay.
    bool external_limits = false;
    // What run() does: fetch the source into the workspace, run the steps, or both. Fetch
    // only keeps the workspace (the outcome is passed once fetched); steps only expects
    // workspace/src to be there and removes the workspace at the end.
    bool fetch = true;
    bool steps = true;
};

// Checks bubblewrap and the cgroup hierarchy once at construction (throws
// std::runtime_error naming the problem when bubblewrap is missing or cannot create its
// namespaces, unless no_sandbox).
std::unique_ptr<BuildExecutor> make_local_executor(LocalExecutorOptions options);

// `git ls-remote` of `ref` ("" = HEAD) at `repo_url`, time-limited: the full commit sha.
// A ref that is already a full 40-hex sha is returned as is. Runs with network allowed,
// as the unprivileged uid when root, with git's dangerous transports disabled (ext::, fd::)
// and no prompts. On failure `commit` is "" and `error` names the problem ("ref 'v9' not
// found at <url>", "git ls-remote timed out after 300 s").
struct Resolved {
    std::string commit;
    std::string error;
};
dally::Task<Resolved> resolve_commit(const LocalExecutorOptions& options, std::string repo_url, std::string ref,
                                     std::chrono::seconds timeout, unsigned slot);

}  // namespace br
