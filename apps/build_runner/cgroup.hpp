// cgroup.hpp: one control group per build, so that its memory, CPU and process count are
// limited as a whole, an OOM kill is known, its peak memory is measured, and nothing it
// started outlives it. Works with cgroup v2 (memory and pids controllers available) and with
// v1 (memory, pids and cpu hierarchies, e.g. a hybrid layout); with neither writable,
// Cgroups::detect() says why and builds fall back to rlimits only.
//
// Where the groups go: v2: /sys/fs/cgroup/<name>/<leaf> (the root may enable controllers for
// its children; a non-root group with processes may not). v1: <hierarchy>/<own>/<name>/<leaf>,
// <own> being the server's own group in that hierarchy (/proc/self/cgroup), so builds stay
// accounted to whatever contains the server.
//
// Not thread-safe: a BuildCgroup belongs to its build. The file operations are small writes
// and reads of cgroupfs (no disk I/O), done synchronously.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace br {

struct CgroupLimits {
    std::uint64_t memory_bytes = 0;   // 0: no limit (swap is always off when limited)
    double cpus = 0;                  // CPU quota in CPUs; 0: none
    std::uint32_t max_processes = 0;  // pids.max; 0: none
};

// One build's group: one directory (v2) or one per hierarchy (v1). Move-only; the
// destructor kills whatever is left in it and removes it (blocking up to ~2 s, for a group
// whose processes are still dying; the executor drains it first, on the ring's timers).
class BuildCgroup {
  public:
    BuildCgroup() = default;
    BuildCgroup(BuildCgroup&& o) noexcept;
    BuildCgroup& operator=(BuildCgroup&& o) noexcept;
    BuildCgroup(const BuildCgroup&) = delete;
    BuildCgroup& operator=(const BuildCgroup&) = delete;
    ~BuildCgroup();

    bool valid() const noexcept { return !m_dirs.empty(); }
    // The directories a process joins (dally::Command::cgroups).
    const std::vector<std::string>& dirs() const noexcept { return m_dirs; }
    // Whether the kernel's OOM killer killed something in the group (v1 memory.oom_control,
    // v2 memory.events "oom_kill").
    bool oom_killed() const;
    // Peak memory use of the group in KiB (v1 memory.max_usage_in_bytes, v2 memory.peak);
    // 0 where the kernel does not record it.
    std::int64_t peak_memory_kb() const;
    // The processes in the group now.
    std::vector<pid_t> pids() const;
    bool empty() const { return pids().empty(); }
    // Signals everything in the group once: v2's cgroup.kill where present, else SIGKILL to
    // each pid in cgroup.procs (call again until empty(): a forking process may add one).
    void kill_all() const;
    // Removes the directories; false while processes (even dying ones) remain.
    bool try_remove();
    // kill_all() and try_remove() until removed or `timeout_ms` passed (blocking).
    bool kill_and_remove(int timeout_ms = 2000);

  private:
    friend class Cgroups;
    int m_version = 0;
    std::vector<std::string> m_dirs;
    std::string m_memory;  // the directory with the memory controller, if any
    std::string m_pids;    // the directory whose cgroup.procs lists every process
};

// The machine's cgroup setup, detected once.
class Cgroups {
  public:
    // Looks for a writable hierarchy under `root` and creates the parent group `name` in it
    // (and enables the controllers for its children, in v2). Never throws: without one,
    // version() is 0 and note() says why.
    static Cgroups detect(const std::string& name, const std::string& root = "/sys/fs/cgroup");

    int version() const noexcept { return m_version; }  // 2, 1 or 0 (none)
    bool memory() const noexcept { return !m_memory.empty(); }
    bool pids() const noexcept { return !m_pids.empty(); }
    bool cpu() const noexcept { return !m_cpu.empty(); }
    const std::string& note() const noexcept { return m_note; }
    // The parent groups, one per hierarchy in use (for diagnostics and tests' clean-up).
    std::vector<std::string> parents() const;

    // The name of a build's group: "build-<id>-slot-<slot>-pid-<this process>". Servers on
    // one machine (tests, benchmarks) share the parents; the pid keeps their groups apart.
    static std::string leaf_name(std::int64_t build_id, unsigned slot);
    // Removes the empty groups that servers no longer running left (named by leaf_name()
    // with a pid that is gone). Groups with processes are left alone.
    void remove_orphans() const;

    // Creates the group `leaf` under the parent with `limits` (a stale group of that name
    // is emptied and replaced). On failure: an invalid group and `error`.
    BuildCgroup create(const std::string& leaf, const CgroupLimits& limits,
                       std::string& error) const;

  private:
    int m_version = 0;
    std::string m_memory, m_pids, m_cpu;  // parent directories per controller ("" = none)
    std::string m_note;
};

}  // namespace br
