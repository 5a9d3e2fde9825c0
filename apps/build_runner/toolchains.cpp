// toolchains.cpp: finding the toolchains installed on this machine (gcc and clang on PATH,
// configured zig binaries) and their default steps. Runs once at start-up, before any
// runtime: it blocks while each compiler prints its version.
#include "config.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <set>
#include <system_error>

extern char** environ;

namespace br {

namespace fs = std::filesystem;

bool plausible_version(std::string_view v) {
    if (v.empty() || v.size() > 48 || v.front() < '0' || v.front() > '9') return false;
    return std::all_of(v.begin(), v.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+';
    });
}

namespace {
// ---- running a compiler for its version ----

// Runs `argv` (no shell) and returns its stdout without trailing whitespace if it exits 0
// within 10 s; std::nullopt otherwise. Start-up only: it blocks.
std::optional<std::string> run_for_output(const std::vector<std::string>& argv) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;
    posix_spawn_file_actions_t actions;
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc == 0) {
        rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
        if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
        if (rc == 0) rc = posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
        if (rc == 0) rc = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
    }
    ::close(fds[1]);
    if (rc != 0) {
        ::close(fds[0]);
        return std::nullopt;
    }
    std::string out;
    bool timed_out = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (true) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd p{.fd = fds[0], .events = POLLIN, .revents = 0};
        const int ready = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) {
            timed_out = true;
            break;
        }
        char buf[512];
        const ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (out.size() < 4096) out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    if (timed_out) ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
    while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
    return out;
}

// A version goes into a toolchain name and from there into URLs and file names.
// Numeric comparison of dotted versions, so that 9.5 sorts before 12.2.
bool version_less(const std::string& a, const std::string& b) {
    std::size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        unsigned long x = 0, y = 0;
        auto ra = std::from_chars(a.data() + i, a.data() + a.size(), x);
        auto rb = std::from_chars(b.data() + j, b.data() + b.size(), y);
        if (ra.ec != std::errc() || rb.ec != std::errc()) return a < b;
        if (x != y) return x < y;
        i = static_cast<std::size_t>(ra.ptr - a.data()) + 1;
        j = static_cast<std::size_t>(rb.ptr - b.data()) + 1;
    }
    return a.size() < b.size();
}

bool is_executable_file(const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

// "gcc" or "gcc-<digits and dots>" (not gcc-ar, gcc-nm, clang-format, clang-cpp-14, ...).
bool compiler_name(std::string_view file, std::string_view kind, bool& versioned) {
    if (file == kind) {
        versioned = false;
        return true;
    }
    if (!file.starts_with(kind) || file.size() < kind.size() + 2 || file[kind.size()] != '-')
        return false;
    const std::string_view suffix = file.substr(kind.size() + 1);
    versioned = true;
    return suffix.front() != '.' && std::all_of(suffix.begin(), suffix.end(), [](char c) {
               return (c >= '0' && c <= '9') || c == '.';
           });
}

struct Found {
    fs::path path;  // as found on PATH (gcc-12), not the resolved target, for readable env
    bool versioned = false;
    std::string version;
};

std::vector<Toolchain> detect_cc(const std::string& kind) {
    const char* env_path = std::getenv("PATH");
    std::string search =
        env_path != nullptr && *env_path != '\0' ? env_path : "/usr/local/bin:/usr/bin:/bin";
    std::set<fs::path> dirs_seen;                 // /bin and /usr/bin are often one directory
    std::map<std::string, std::string> versions;  // by resolved binary: run each once
    std::vector<Found> found;                     // one per version
    std::stringstream dirs(search);
    for (std::string dir; std::getline(dirs, dir, ':');) {
        std::error_code ec;
        const fs::path real_dir = fs::canonical(dir.empty() ? "." : dir, ec);
        if (ec || !dirs_seen.insert(real_dir).second) continue;
        std::vector<std::pair<std::string, bool>> names;
        // increment(ec): an unreadable entry ends this directory rather than throwing.
        for (auto it = fs::directory_iterator(real_dir, ec); !ec && it != fs::directory_iterator();
             it.increment(ec)) {
            bool versioned = false;
            const std::string file = it->path().filename().string();
            if (compiler_name(file, kind, versioned)) names.emplace_back(file, versioned);
        }
        std::sort(names.begin(), names.end());
        for (const auto& [name, versioned] : names) {
            const fs::path path = real_dir / name;
            if (!is_executable_file(path)) continue;
            // A wrapper (ccache) resolves to one binary for every compiler: key it by name.
            const fs::path real = fs::canonical(path, ec);
            const std::string key = !ec && real.filename().string().find(kind) != std::string::npos
                                        ? real.string()
                                        : path.string();
            auto it = versions.find(key);
            if (it == versions.end()) {
                const char* flag = kind == "gcc" ? "-dumpfullversion" : "-dumpversion";
                std::string v = run_for_output({path.string(), flag}).value_or("");
                it = versions.emplace(key, plausible_version(v) ? v : "").first;
            }
            if (it->second.empty()) continue;
            auto same = std::find_if(found.begin(), found.end(),
                                     [&](const Found& f) { return f.version == it->second; });
            if (same == found.end()) {
                found.push_back({path, versioned, it->second});
            } else if (versioned && !same->versioned) {
                *same = {path, versioned, it->second};  // CC=gcc-12 says more than CC=gcc
            }
        }
    }
    std::sort(found.begin(), found.end(),
              [](const Found& a, const Found& b) { return version_less(a.version, b.version); });
    std::vector<Toolchain> out;
    for (const Found& f : found) {
        Toolchain t;
        t.name = kind + "-" + f.version;
        t.kind = kind;
        t.version = f.version;
        t.env.push_back("CC=" + f.path.string());
        const std::string file = f.path.filename().string();
        const std::string cxx = (kind == "gcc" ? "g++" : "clang++") + file.substr(kind.size());
        if (is_executable_file(f.path.parent_path() / cxx))
            t.env.push_back("CXX=" + (f.path.parent_path() / cxx).string());
        t.steps = default_steps(kind);
        out.push_back(std::move(t));
    }
    return out;
}

std::vector<Toolchain> detect_zig(const std::vector<std::string>& paths) {
    std::vector<Toolchain> out;
    for (const std::string& p : paths) {
        std::error_code ec;
        const fs::path real = fs::canonical(p, ec);
        if (ec || !is_executable_file(real))
            throw ConfigError(fmt::format("{} is not an executable file", p));
        const std::string version = run_for_output({real.string(), "version"}).value_or("");
        if (!plausible_version(version)) throw ConfigError(fmt::format("\"{} version\" failed", p));
        if (std::any_of(out.begin(), out.end(),
                        [&](const Toolchain& t) { return t.version == version; }))
            continue;
        Toolchain t;
        t.name = "zig-" + version;
        t.kind = "zig";
        t.version = version;
        // Builds have a read-only home at most: zig's global cache goes to the sandbox's /tmp.
        t.env = {"ZIG=" + real.string(), "ZIG_GLOBAL_CACHE_DIR=/tmp/zig-cache"};
        t.steps = default_steps("zig");
        t.ro_paths = {real.parent_path().string()};  // zig finds lib/ next to its binary
        out.push_back(std::move(t));
    }
    return out;
}

}  // namespace

std::vector<Step> default_steps(const std::string& kind) {
    if (kind == "zig") return {{"build", "\"$ZIG\" build"}, {"test", "\"$ZIG\" build test"}};
    // ${JOBS:-1}: an empty -j would let make start unlimited jobs.
    return {{"build", "make -j\"${JOBS:-1}\" CC=\"$CC\" CXX=\"$CXX\""},
            {"test", "make test CC=\"$CC\" CXX=\"$CXX\""}};
}

std::vector<Toolchain> detect_toolchains(const std::string& kind,
                                         const std::vector<std::string>& zig_paths) {
    if (kind == "gcc" || kind == "clang") return detect_cc(kind);
    if (kind == "zig") return detect_zig(zig_paths);
    throw ConfigError(fmt::format("cannot detect \"{}\" toolchains (gcc, clang or zig)", kind));
}

}  // namespace br
