// slurm_executor.hpp: builds as Slurm jobs. Each build is one `srun` (which learns the
// job's end from slurmstepd directly, with no polling) running `build_runner node-run` on
// a node: the same sandboxed steps as locally, with the toolchain's limits as --mem,
// --cpus-per-task and --time. srun runs in its own session with its input and output in
// files under the data directory, so it outlives a restart of the server, which then
// re-attaches to it (see docs/build_runner.md, "Running on a cluster").
#pragma once

#include "executor.hpp"

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace br {

struct SlurmOptions {
    std::string partition, account, qos;  // "" = the cluster's default
    std::vector<std::string> extra_args;  // more srun options, e.g. "--constraint=avx2"
    std::filesystem::path bin_dir = "/usr/bin";  // srun, scancel, scontrol, sacct, squeue
    // build_runner on the nodes (same path everywhere); "" = this program's own path.
    std::filesystem::path node_command;
    // Where the source is fetched: "node" (by node-run, into node_work_dir on the node) or
    // "coordinator" (by this server, into shared_dir, which every node mounts at that path).
    std::string fetch = "node";
    std::filesystem::path node_work_dir = "/tmp/build_runner-work";
    std::filesystem::path shared_dir;
    bool require_sandbox = false;  // fail builds on nodes without bubblewrap
    // Jobs are named <prefix>-<build id>, and a node-fetched workspace is
    // node_work_dir/<that name>. "" = "br-" + this server's instance id (8 hex digits kept in
    // <state_dir>/instance), so that servers sharing a cluster never touch each other's.
    std::string job_prefix;
};

struct SlurmExecutorOptions {
    SlurmOptions slurm;
    LocalExecutorOptions local;       // the fetch (coordinator mode) and what nodes get
    std::filesystem::path state_dir;  // srun's files per build: <state_dir>/<build id>/
};

// Checks that Slurm answers (scontrol ping) and that the partition exists; throws
// std::runtime_error naming the problem otherwise.
std::unique_ptr<BuildExecutor> make_slurm_executor(SlurmExecutorOptions options);

}  // namespace br
