// node.cpp: `build_runner node-run`, what a Slurm job runs on its node. It reads the job
// description (slurm_job.hpp) on stdin, runs it with the same LocalExecutor the server uses
// locally (bubblewrap when it is installed here; memory, CPUs and time are Slurm's), writes
// the build's output on stdout and its start, phases and outcome as marker lines on stderr,
// which srun carries back to the coordinator. SIGTERM (scancel, Slurm's time limit) stops
// the build the way a cancel does, so the workspace is removed before Slurm's SIGKILL.
#include "node.hpp"

#include "executor.hpp"
#include "slurm_job.hpp"

#include <dally/runtime.hpp>
#include <dally/signal.hpp>
#include <dally/sync.hpp>
#include <dally/when.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

namespace br {

namespace {

void write_all(int fd, std::string_view s) {
    while (!s.empty()) {
        const ssize_t n = ::write(fd, s.data(), s.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return;  // srun is gone: the coordinator reads Slurm's account instead
        }
        s.remove_prefix(static_cast<std::size_t>(n));
    }
}

void marker(std::string_view what) {
    std::string line(node_marker);
    line += what;
    line += '\n';
    write_all(2, line);
}

class StdoutSink final : public BuildSink {
public:
    void phase(BuildState s) override { marker("phase " + std::string(to_string(s))); }
    void output(std::string_view bytes) override { write_all(1, bytes); }
    void handle(const std::string&, const std::string&) override {}
};

dally::Task<void> cancel_on_signal(dally::Event& cancel) {
    if (auto sig = co_await dally::wait_signal({SIGTERM, SIGINT})) cancel.set();
}

}  // namespace

int node_main() {
    std::string input;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(0, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        input.append(buf, static_cast<std::size_t>(n));
        if (input.size() > (16u << 20)) break;
    }
    BuildOutcome outcome;
    outcome.state = BuildState::error;
    try {
        const NodeJob job = parse_node_job(input);
        char host[256] = "?";
        (void)::gethostname(host, sizeof host - 1);
        const char* job_id = std::getenv("SLURM_JOB_ID");
        marker(std::string("started job ") + (job_id ? job_id : "0") + " on " + host);

        LocalExecutorOptions options;
        options.bwrap = job.bwrap;
        options.git = job.git;
        options.base_uid = job.base_uid;
        options.kill_grace = std::chrono::milliseconds(job.kill_grace_ms);
        options.external_limits = true;
        options.fetch = job.fetch;
        options.steps = true;
        if (::access(job.bwrap.c_str(), X_OK) != 0) {
            if (job.require_sandbox) {
                throw std::runtime_error("bubblewrap is not installed on " + std::string(host) + " (" + job.bwrap +
                                         ") and the sandbox is required");
            }
            options.no_sandbox = true;
            write_all(1, "== note: no bubblewrap on " + std::string(host) +
                             ": the steps run without a sandbox (Slurm's limits still apply)\n");
        }
        // The workspace's parent (node_work_dir) is shared by the node's builds.
        std::filesystem::create_directories(std::filesystem::path(job.workspace).parent_path());
        {
            // dally names its I/O backend on stderr once per process; that is not build output.
            const int saved = ::dup(2);
            const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
            if (saved >= 0 && null >= 0) ::dup2(null, 2);
            { dally::Runtime quiet; }
            if (saved >= 0) ::dup2(saved, 2);
            if (saved >= 0) ::close(saved);
            if (null >= 0) ::close(null);
        }
        auto executor = make_local_executor(options);
        BuildJob build{job.build_id, job.package,    job.repo_url, job.commit,
                       &job.toolchain, job.workspace, job.slot};
        StdoutSink sink;
        dally::Event cancel;
        dally::Runtime rt;
        outcome = rt.block_on([&]() -> dally::Task<BuildOutcome> {
            auto watcher = dally::spawn(cancel_on_signal(cancel));
            BuildOutcome o = co_await executor->run(build, sink, cancel);
            watcher.cancel();
            co_await watcher;
            co_return o;
        }());
    } catch (const std::exception& e) {
        outcome.reason = std::string("on the node: ") + e.what();
    }
    marker("outcome " + outcome_json(outcome));
    return 0;
}

}  // namespace br
