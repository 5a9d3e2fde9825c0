// cgroup.cpp: per-build cgroups on v2 or v1 (see cgroup.hpp for where they go and why).
#include "cgroup.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>

namespace br {

namespace {

constexpr std::uint64_t cpu_period_us = 100'000;

std::optional<std::string> read_text(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::string out;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

// 0 or the errno of the failed open/write: cgroupfs reports a refused value on write.
int write_text(const std::string& path, const std::string& value) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    ssize_t n;
    do {
        n = ::write(fd, value.data(), value.size());
    } while (n < 0 && errno == EINTR);
    const int e = n < 0 ? errno : 0;
    ::close(fd);
    return e;
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

bool is_fs(const std::string& path, long magic) {
    struct statfs st {};
    return ::statfs(path.c_str(), &st) == 0 && static_cast<long>(st.f_type) == magic;
}

// "key N" in a flat-keyed cgroup file (memory.events, memory.oom_control); 0 if absent.
std::uint64_t keyed_value(const std::string& text, std::string_view key) {
    std::istringstream in(text);
    std::string k;
    std::uint64_t v = 0;
    while (in >> k >> v) {
        if (k == key) return v;
    }
    return 0;
}

std::string error_text(const std::string& what, const std::string& path, int e) {
    return what + " " + path + ": " + std::strerror(e);
}

// The server's own group in the v1 hierarchy of `controller`, from /proc/self/cgroup
// ("id:controllers:path" lines); "/" if not listed.
std::string own_v1_path(std::string_view controller) {
    std::istringstream in(read_text("/proc/self/cgroup").value_or(""));
    std::string line;
    while (std::getline(in, line)) {
        const auto a = line.find(':');
        const auto b = a == std::string::npos ? a : line.find(':', a + 1);
        if (b == std::string::npos) continue;
        std::istringstream controllers(line.substr(a + 1, b - a - 1));
        std::string c;
        while (std::getline(controllers, c, ',')) {
            if (c == controller) return line.substr(b + 1);
        }
    }
    return "/";
}

// mkdir that accepts an existing directory; 0 or errno.
int make_dir(const std::string& path) {
    if (::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) return 0;
    return errno;
}

}  // namespace

// ---------------------------------------------------------------- BuildCgroup

BuildCgroup::BuildCgroup(BuildCgroup&& o) noexcept
    : m_version(o.m_version),
      m_dirs(std::exchange(o.m_dirs, {})),
      m_memory(std::exchange(o.m_memory, {})),
      m_pids(std::exchange(o.m_pids, {})) {}

BuildCgroup& BuildCgroup::operator=(BuildCgroup&& o) noexcept {
    if (this != &o) {
        if (valid()) kill_and_remove();
        m_version = o.m_version;
        m_dirs = std::exchange(o.m_dirs, {});
        m_memory = std::exchange(o.m_memory, {});
        m_pids = std::exchange(o.m_pids, {});
    }
    return *this;
}

BuildCgroup::~BuildCgroup() {
    if (valid()) kill_and_remove();
}

bool BuildCgroup::oom_killed() const {
    if (m_memory.empty()) return false;
    if (m_version == 2) {
        return keyed_value(read_text(m_memory + "/memory.events").value_or(""), "oom_kill") > 0;
    }
    return keyed_value(read_text(m_memory + "/memory.oom_control").value_or(""), "oom_kill") > 0;
}

std::int64_t BuildCgroup::peak_memory_kb() const {
    if (m_memory.empty()) return 0;
    const auto text =
        read_text(m_memory + (m_version == 2 ? "/memory.peak" : "/memory.max_usage_in_bytes"));
    if (!text) return 0;
    try {
        return static_cast<std::int64_t>(std::stoull(*text) / 1024);
    } catch (const std::exception&) {
        return 0;
    }
}

std::vector<pid_t> BuildCgroup::pids() const {
    std::vector<pid_t> out;
    for (const auto& dir : m_dirs) {
        std::istringstream in(read_text(dir + "/cgroup.procs").value_or(""));
        pid_t pid;
        while (in >> pid) out.push_back(pid);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

void BuildCgroup::kill_all() const {
    // cgroup.kill kills the whole subtree atomically, forks in flight included (v2, 5.14+).
    if (m_version == 2 && !m_dirs.empty() && write_text(m_dirs.front() + "/cgroup.kill", "1") == 0)
        return;
    // A listed pid cannot be reused before its parent (in the group too, or the reaper of
    // its PID namespace) reaps it, so signalling by number is safe enough here.
    for (pid_t pid : pids()) ::kill(pid, SIGKILL);
}

bool BuildCgroup::try_remove() {
    std::erase_if(m_dirs, [](const std::string& dir) {
        return ::rmdir(dir.c_str()) == 0 || errno == ENOENT;
    });
    if (m_dirs.empty()) {
        m_memory.clear();
        m_pids.clear();
    }
    return m_dirs.empty();
}

bool BuildCgroup::kill_and_remove(int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        kill_all();
        if (try_remove()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        // Killed processes leave the group once torn down: a few milliseconds.
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

// ---------------------------------------------------------------- Cgroups

Cgroups Cgroups::detect(const std::string& name, const std::string& root) {
    Cgroups cg;
    std::vector<std::string> problems;

    // v2: one hierarchy with every controller, if it offers memory and pids.
    if (is_fs(root, CGROUP2_SUPER_MAGIC)) {
        const std::string controllers = read_text(root + "/cgroup.controllers").value_or("");
        std::istringstream in(controllers);
        bool memory = false, pids = false, cpu = false;
        for (std::string c; in >> c;) {
            memory |= c == "memory";
            pids |= c == "pids";
            cpu |= c == "cpu";
        }
        if (!memory || !pids) {
            problems.push_back("cgroup v2 at " + root + " lacks the memory or pids controller");
        } else {
            const std::string parent = root + "/" + name;
            std::string problem;
            if (int e = make_dir(parent)) problem = error_text("cannot create", parent, e);
            // Children of `parent` get the controllers only if both levels delegate them.
            for (const auto& dir : {root, parent}) {
                if (!problem.empty()) break;
                for (const char* c : {"+memory", "+pids"}) {
                    if (int e = write_text(dir + "/cgroup.subtree_control", c)) {
                        problem = error_text(std::string("cannot enable ") + (c + 1) + " in",
                                             dir + "/cgroup.subtree_control", e);
                        break;
                    }
                }
                if (cpu && write_text(dir + "/cgroup.subtree_control", "+cpu") != 0) cpu = false;
            }
            if (problem.empty()) {
                cg.m_version = 2;
                cg.m_memory = cg.m_pids = parent;
                if (cpu) cg.m_cpu = parent;
                return cg;
            }
            problems.push_back(problem);
        }
    }

    // v1: a hierarchy per controller; the parent goes under the server's own group.
    for (const char* controller : {"memory", "pids", "cpu"}) {
        const std::string mount = root + "/" + controller;
        if (!is_fs(mount, CGROUP_SUPER_MAGIC)) continue;
        std::string own = own_v1_path(controller);
        if (own == "/") own.clear();
        const std::string parent = mount + own + "/" + name;
        if (int e = make_dir(parent)) {
            problems.push_back(error_text("cannot create", parent, e));
            continue;
        }
        (std::string_view(controller) == "memory" ? cg.m_memory
         : std::string_view(controller) == "pids" ? cg.m_pids
                                                  : cg.m_cpu) = parent;
    }
    if (cg.memory() || cg.pids()) {
        cg.m_version = 1;
        if (!cg.memory())
            problems.push_back("no writable v1 memory hierarchy: memory is limited by rlimit only");
        if (!cg.pids()) problems.push_back("no writable v1 pids hierarchy");
    } else {
        cg.m_memory.clear();
        cg.m_pids.clear();
        cg.m_cpu.clear();
        problems.insert(problems.begin(), "no writable cgroup hierarchy: rlimits only");
    }
    for (std::size_t i = 0; i < problems.size(); ++i) cg.m_note += (i ? "; " : "") + problems[i];
    return cg;
}

std::string Cgroups::leaf_name(std::int64_t build_id, unsigned slot) {
    return "build-" + std::to_string(build_id) + "-slot-" + std::to_string(slot) + "-pid-" +
           std::to_string(::getpid());
}

void Cgroups::remove_orphans() const {
    for (const auto& parent : parents()) {
        std::error_code ec;
        for (std::filesystem::directory_iterator it(parent, ec), end; !ec && it != end;
             it.increment(ec)) {
            const std::string name = it->path().filename().string();
            const auto at = name.rfind("-pid-");
            if (!name.starts_with("build-") || at == std::string::npos) continue;
            const pid_t pid = static_cast<pid_t>(std::atol(name.c_str() + at + 5));
            // rmdir refuses a group with processes: only empty leftovers go.
            if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) ::rmdir(it->path().c_str());
        }
    }
}

std::vector<std::string> Cgroups::parents() const {
    std::vector<std::string> out;
    for (const auto* p : {&m_memory, &m_pids, &m_cpu}) {
        if (!p->empty() && std::find(out.begin(), out.end(), *p) == out.end()) out.push_back(*p);
    }
    return out;
}

BuildCgroup Cgroups::create(const std::string& leaf, const CgroupLimits& limits,
                            std::string& error) const {
    BuildCgroup group;
    if (m_version == 0) {
        error = "no cgroup hierarchy";
        return group;
    }
    group.m_version = m_version;
    for (const auto& parent : parents()) {
        const std::string dir = parent + "/" + leaf;
        if (exists(dir)) {
            BuildCgroup stale;
            stale.m_version = m_version;
            stale.m_dirs = {dir};
            if (!stale.kill_and_remove()) {
                error = "cannot remove the stale cgroup " + dir;
                return BuildCgroup{};  // `group` (partial) is removed by its destructor
            }
        }
        if (::mkdir(dir.c_str(), 0755) != 0) {
            error = error_text("cannot create", dir, errno);
            return BuildCgroup{};
        }
        group.m_dirs.push_back(dir);
        if (parent == m_memory) group.m_memory = dir;
        if (parent == m_pids) group.m_pids = dir;
    }

    // Each limit the kernel refuses fails the group: a build must not run with less
    // enforcement than enforcement() reports.
    auto set = [&](const std::string& file, const std::string& value) {
        if (!error.empty()) return;
        if (int e = write_text(file, value))
            error = error_text("cannot write " + value + " to", file, e);
    };
    const std::string mem = group.m_memory;
    const std::string cpu_dir = m_cpu.empty() ? std::string() : m_cpu + "/" + leaf;
    if (m_version == 2) {
        if (limits.memory_bytes) {
            set(mem + "/memory.max", std::to_string(limits.memory_bytes));
            if (exists(mem + "/memory.swap.max")) set(mem + "/memory.swap.max", "0");
        }
        if (limits.max_processes)
            set(group.m_pids + "/pids.max", std::to_string(limits.max_processes));
        if (limits.cpus > 0 && !cpu_dir.empty()) {
            const auto quota = static_cast<std::uint64_t>(std::ceil(limits.cpus * cpu_period_us));
            set(cpu_dir + "/cpu.max", std::to_string(quota) + " " + std::to_string(cpu_period_us));
        }
    } else {
        if (limits.memory_bytes && !mem.empty()) {
            set(mem + "/memory.limit_in_bytes", std::to_string(limits.memory_bytes));
            // With swap accounting, memory+swap gets the same limit: no swapping past it.
            if (exists(mem + "/memory.memsw.limit_in_bytes")) {
                set(mem + "/memory.memsw.limit_in_bytes", std::to_string(limits.memory_bytes));
            } else if (exists(mem + "/memory.swappiness")) {
                set(mem + "/memory.swappiness", "0");
            }
        }
        if (limits.max_processes && !group.m_pids.empty()) {
            set(group.m_pids + "/pids.max", std::to_string(limits.max_processes));
        }
        if (limits.cpus > 0 && !cpu_dir.empty()) {
            const auto quota = static_cast<std::uint64_t>(std::ceil(limits.cpus * cpu_period_us));
            set(cpu_dir + "/cpu.cfs_period_us", std::to_string(cpu_period_us));
            set(cpu_dir + "/cpu.cfs_quota_us", std::to_string(quota));
        }
    }
    if (!error.empty()) return BuildCgroup{};  // `group` removes what was created
    return group;
}

}  // namespace br
