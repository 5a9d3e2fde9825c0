// slurm_job.hpp: what the coordinator and a Slurm node say to each other, as plain
// functions (no I/O): the job description `build_runner node-run` reads on its stdin, the
// marker lines it writes on stderr (its start, phases and outcome), the srun command line
// built from a toolchain's limits, and how Slurm's end states map onto build states.
#pragma once

#include "executor.hpp"
#include "model.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace br {

// One build as a node runs it (the JSON on node-run's stdin).
struct NodeJob {
    std::int64_t build_id = 0;
    std::string package;
    std::string repo_url;
    std::string commit;
    Toolchain toolchain;
    std::string workspace;  // absolute; node-local, or in the shared directory
    unsigned slot = 0;
    bool fetch = true;      // fetch on the node (else workspace/src is already there)
    std::string bwrap = "/usr/bin/bwrap";
    std::string git = "/usr/bin/git";
    unsigned base_uid = 200'000;
    std::int64_t kill_grace_ms = 1'000;
    bool require_sandbox = false;  // refuse to run without bubblewrap on the node
};

std::string node_job_json(const NodeJob& job);
// Throws std::runtime_error naming the field when `json` is not a valid job.
NodeJob parse_node_job(std::string_view json);

std::string outcome_json(const BuildOutcome& o);
std::optional<BuildOutcome> parse_outcome_json(std::string_view json);

// Lines node-run writes on stderr (srun forwards them), each "build_runner-node: ...":
//   started job <id> on <host>  |  phase fetching  |  phase running  |  outcome {json}
inline constexpr std::string_view node_marker = "build_runner-node: ";

// What one line of srun's stderr says, if it is one of ours or names the job.
struct ErrLine {
    enum Kind { other, started, phase_change, outcome_line, queued_job } kind = other;
    std::string job_id;            // started, queued_job
    BuildState phase = BuildState::queued;
    std::optional<BuildOutcome> outcome;
};
// "srun: job 7 queued and waiting for resources" and "srun: job 7 has been allocated
// resources" name the job before it starts (node-run names it once it runs).
ErrLine parse_err_line(std::string_view line);

// Slurm's time format for --time: "minutes:seconds", rounded up to whole seconds.
std::string slurm_time(std::chrono::seconds s);

struct SrunSettings {
    std::string srun = "/usr/bin/srun";
    std::string partition, account, qos;
    std::vector<std::string> extra_args;
    std::string node_command;  // build_runner's path on the nodes
    std::string job_name;      // "br-<build id>"
    bool fetch_on_node = true;
};
// srun --job-name=... --nodes=1 --ntasks=1 --cpus-per-task=ceil(cpus) --mem=<MiB>M
//      --time=wall (+ fetch timeout when the node fetches) --export=NONE --unbuffered
//      --chdir=/tmp [--partition --account --qos] [extra] <node_command> node-run
std::vector<std::string> srun_argv(const SrunSettings& s, const Limits& limits);

// The field `key` of `scontrol show job -o` output ("JobState", "ExitCode"), or "".
std::string scontrol_field(std::string_view text, std::string_view key);

// How the build ended, from Slurm's final job state ("COMPLETED", "FAILED", "TIMEOUT",
// "OUT_OF_MEMORY", "CANCELLED", "NODE_FAIL", ..., "" if Slurm no longer knows) and the
// outcome node-run reported (none if it was killed first). `cancel_requested`: we asked
// for the cancellation. `last_error`: the last line srun wrote, for errors.
BuildOutcome slurm_outcome(std::string_view job_state, const std::optional<BuildOutcome>& node,
                           bool cancel_requested, std::string_view last_error);

// True for the states a job leaves (PENDING, RUNNING, COMPLETING, ...): not final yet.
bool slurm_state_pending(std::string_view job_state);

// The handle kept in SQLite: "srun=<pid>@<start ticks> job=<id>" (job= only when known).
struct SrunRef {
    int pid = 0;
    std::uint64_t start_ticks = 0;  // /proc/<pid>/stat field 22: tells a reused pid apart
    std::string job_id;
};
std::string format_ref(const SrunRef& r);
std::optional<SrunRef> parse_ref(std::string_view text);

}  // namespace br
