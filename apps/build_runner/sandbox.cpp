// sandbox.cpp: bubblewrap command lines and the git commands run inside them.
#include "sandbox.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace br {

namespace {

void require_absolute(const std::string& path, const char* what) {
    if (path.empty() || path.front() != '/') {
        throw std::invalid_argument(std::string("sandbox: ") + what +
                                    " must be an absolute path: '" + path + "'");
    }
}

// A git config value in double quotes: the path may hold anything a file name can.
std::string quote_config_value(std::string_view v) {
    std::string out = "\"";
    for (char c : v) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '"':
                out += "\\\"";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                out += c;
        }
    }
    out += '"';
    return out;
}

bool is_hex(char c) noexcept { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

}  // namespace

SystemLayout detect_system_layout(const std::filesystem::path& root) {
    namespace fs = std::filesystem;
    SystemLayout layout;
    layout.ro_dirs = {"/usr", "/etc"};
    for (const char* name : {"bin", "sbin", "lib", "lib32", "lib64", "libx32"}) {
        const fs::path host = root / name;
        std::error_code ec;
        const auto st = fs::symlink_status(host, ec);
        if (ec || !fs::exists(st)) continue;
        if (fs::is_symlink(st)) {
            const auto target = fs::read_symlink(host, ec);
            if (!ec) layout.symlinks.emplace_back(target.string(), std::string("/") + name);
        } else if (fs::is_directory(st)) {
            layout.ro_dirs.push_back(std::string("/") + name);
        }
    }
    return layout;
}

std::vector<std::string> sandbox_argv(const SandboxSpec& spec) {
    require_absolute(spec.bwrap, "bwrap");
    require_absolute(spec.workspace, "workspace");
    require_absolute(spec.mount, "workspace mount point");
    if (spec.command.empty()) throw std::invalid_argument("sandbox: empty command");

    std::vector<std::string> a{spec.bwrap};
    auto add = [&a](std::initializer_list<std::string_view> args) {
        for (auto s : args) a.emplace_back(s);
    };
    // Every namespace, and an explicit user namespace so that nested ones can be refused:
    // user namespaces are where most unprivileged kernel attack surface starts.
    add({"--unshare-all", "--unshare-user", "--disable-userns"});
    if (spec.network) add({"--share-net"});
    add({"--die-with-parent", "--new-session"});
    if (!spec.hostname.empty()) add({"--hostname", spec.hostname});

    for (const auto& dir : spec.system.ro_dirs) {
        require_absolute(dir, "system directory");
        add({"--ro-bind", dir, dir});
    }
    for (const auto& [target, link] : spec.system.symlinks) {
        require_absolute(link, "symlink");
        add({"--symlink", target, link});
    }
    if (spec.network) {
        // /etc/resolv.conf may point into systemd-resolved's runtime directory.
        add({"--ro-bind-try", "/run/systemd/resolve", "/run/systemd/resolve"});
    }
    add({"--proc", "/proc", "--dev", "/dev"});
    // Size-capped, like /tmp: POSIX shared memory (shm_open, sem_open) lives here.
    if (spec.tmp_bytes != 0) add({"--size", std::to_string(spec.tmp_bytes)});
    add({"--tmpfs", "/dev/shm"});
    if (spec.tmp_bytes != 0) add({"--size", std::to_string(spec.tmp_bytes)});
    add({"--tmpfs", "/tmp"});
    add({"--bind", spec.workspace, spec.mount});
    // After /tmp and the workspace, so that a path under either is mounted over them rather
    // than hidden by them.
    for (const auto& p : spec.ro_paths) {
        require_absolute(p, "read-only path");
        add({"--ro-bind", p, p});
    }
    // bubblewrap's root and /dev are tmpfs without a size limit, writable by the sandbox's
    // user: read-only, the only writable places are the workspace and the capped tmpfs.
    add({"--remount-ro", "/dev", "--remount-ro", "/"});
    add({"--chdir", spec.mount, "--clearenv"});
    for (const auto& e : spec.env) {
        const auto eq = e.find('=');
        if (eq == 0 || eq == std::string::npos) {
            throw std::invalid_argument("sandbox: environment entry is not NAME=value: '" + e +
                                        "'");
        }
        add({"--setenv", std::string_view(e).substr(0, eq), std::string_view(e).substr(eq + 1)});
    }
    a.emplace_back("--");
    a.insert(a.end(), spec.command.begin(), spec.command.end());
    return a;
}

std::vector<std::string> step_environment(const Toolchain& toolchain, unsigned jobs,
                                          const std::string& home) {
    std::vector<std::string> env{
        "PATH=/usr/local/bin:/usr/bin:/bin",          "HOME=" + home, "TMPDIR=/tmp",
        "JOBS=" + std::to_string(std::max(1u, jobs)), "LANG=C.UTF-8",
    };
    env.insert(env.end(), toolchain.env.begin(), toolchain.env.end());
    return env;
}

std::vector<std::string> git_environment(const std::string& home) {
    return {
        "PATH=/usr/local/bin:/usr/bin:/bin",
        "HOME=" + home,
        "LANG=C.UTF-8",
        "GIT_TERMINAL_PROMPT=0",
        // Only these transports, whatever the URL or a redirect asks for: ext:: runs commands.
        "GIT_ALLOW_PROTOCOL=file:git:http:https:ssh",
        "GIT_CONFIG_NOSYSTEM=1",
        "GIT_SSH_COMMAND=ssh -o BatchMode=yes",
    };
}

std::optional<std::string> file_url_path(std::string_view url) {
    std::string path;
    if (url.starts_with("file:///")) {
        path = url.substr(7);
    } else if (url.starts_with("/")) {
        path = url;  // a plain local path is the file transport too
    } else {
        return std::nullopt;
    }
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    return path;
}

std::string git_config(std::string_view url) {
    std::string out;
    if (auto path = file_url_path(url)) {
        // A bare repository is checked at its path, a work tree's at path/.git.
        out += "[safe]\n";
        out += "\tdirectory = " + quote_config_value(*path) + "\n";
        out += "\tdirectory = " + quote_config_value(*path + "/.git") + "\n";
    }
    out += "[protocol \"ext\"]\n\tallow = never\n";
    return out;
}

bool is_full_sha(std::string_view s) noexcept {
    return (s.size() == 40 || s.size() == 64) && std::all_of(s.begin(), s.end(), is_hex);
}

std::vector<std::string> fetch_command(const std::string& git, const std::string& url,
                                       const std::string& commit, const std::string& dir) {
    // Positional parameters, never spliced into the script: the URL is untrusted text.
    static const char* const script = R"(set -u
"$4" init -q -- "$3" || exit 1
cd -- "$3" || exit 1
if ! "$4" -c protocol.ext.allow=never fetch --depth 1 -- "$1" "$2"; then
    echo "== fetching the commit by id failed; fetching all branches and tags"
    "$4" -c protocol.ext.allow=never fetch -- "$1" '+refs/heads/*:refs/remotes/origin/*' \
        '+refs/tags/*:refs/tags/*' || exit 1
fi
"$4" -c advice.detachedHead=false checkout -q --detach "$2" || exit 1
head=$("$4" rev-parse HEAD) || exit 1
if [ "$head" != "$2" ]; then
    echo "fetch: HEAD is $head, not $2" >&2
    exit 3
fi
)";
    return {"/bin/sh", "-c", script, "fetch", url, commit, dir, git};
}

std::vector<std::string> ls_remote_command(const std::string& git, const std::string& url,
                                           const std::string& ref) {
    const std::string name = ref.empty() ? std::string("HEAD") : ref;
    // A pattern matches the tail of a ref name: "v1" would hide the peeled "v1^{}" line.
    return {git, "-c", "protocol.ext.allow=never", "ls-remote", "--", url, name, name + "^{}"};
}

std::optional<std::string> pick_ls_remote(std::string_view output, std::string_view ref) {
    const std::string name = ref.empty() ? std::string("HEAD") : std::string(ref);
    // Best first; a peeled "^{}" line is an annotated tag's commit.
    const std::string wanted[] = {
        name + "^{}", name, "refs/tags/" + name + "^{}", "refs/tags/" + name, "refs/heads/" + name,
    };
    std::optional<std::string> found[std::size(wanted)];
    while (!output.empty()) {
        const auto nl = output.find('\n');
        std::string_view line = output.substr(0, nl);
        output = nl == std::string_view::npos ? std::string_view() : output.substr(nl + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        const auto tab = line.find('\t');
        if (tab == std::string_view::npos) continue;
        const auto sha = line.substr(0, tab);
        const auto ref_name = line.substr(tab + 1);
        if (!is_full_sha(sha)) continue;
        for (std::size_t i = 0; i < std::size(wanted); ++i) {
            if (ref_name == wanted[i] && !found[i]) found[i] = std::string(sha);
        }
    }
    for (auto& f : found) {
        if (f) return f;
    }
    return std::nullopt;
}

// ---------------------------------------------------------------- the workspace on the host

std::string reachable_problem(const std::filesystem::path& path, const SandboxUser& id) {
    if (!id.uid) return {};
    for (std::filesystem::path p = path.parent_path(); !p.empty(); p = p.parent_path()) {
        struct stat st {};
        if (::stat(p.c_str(), &st) != 0) return "cannot stat " + p.string();
        const bool ok = st.st_uid == *id.uid   ? (st.st_mode & S_IXUSR) != 0
                        : st.st_gid == *id.gid ? (st.st_mode & S_IXGRP) != 0
                                               : (st.st_mode & S_IXOTH) != 0;
        if (!ok) {
            return "uid " + std::to_string(*id.uid) + " cannot reach " + path.string() + ": " +
                   p.string() + " is not searchable by it (chmod o+x)";
        }
        if (p == p.root_path()) break;
    }
    return {};
}

void remove_tree(const std::filesystem::path& root) {
    std::error_code ec;
    std::vector<std::filesystem::path> dirs{root};
    while (!dirs.empty()) {
        const std::filesystem::path dir = std::move(dirs.back());
        dirs.pop_back();
        if (!std::filesystem::is_directory(std::filesystem::symlink_status(dir, ec))) continue;
        ::chmod(dir.c_str(), 0700);  // lstat said directory, so this is not a link's target
        for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end;
             it.increment(ec)) {
            if (it->is_directory(ec) && !it->is_symlink(ec)) dirs.push_back(it->path());
        }
    }
    std::filesystem::remove_all(root, ec);
}

std::uint64_t tree_bytes(const std::filesystem::path& root) {
    std::uint64_t total = 0;
    std::error_code ec;
    for (std::filesystem::recursive_directory_iterator it(root, ec), end; !ec && it != end;
         it.increment(ec)) {
        if (it->is_regular_file(ec) && !it->is_symlink(ec)) total += it->file_size(ec);
    }
    return total;
}

std::string prepare_workspace(const std::filesystem::path& ws, const SandboxUser& id,
                              const std::string& gitconfig) {
    std::error_code ec;
    if (std::filesystem::exists(std::filesystem::symlink_status(ws, ec))) remove_tree(ws);
    if (::mkdir(ws.c_str(), 0700) != 0) {
        return "cannot create the workspace " + ws.string() + ": " + std::strerror(errno);
    }
    const std::filesystem::path config = ws / ".gitconfig";
    const int fd = ::open(config.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    const bool written = fd >= 0 && ::write(fd, gitconfig.data(), gitconfig.size()) ==
                                        static_cast<ssize_t>(gitconfig.size());
    if (fd >= 0) ::close(fd);
    if (!written) return "cannot write " + config.string();
    if (id.uid && (::chown(ws.c_str(), *id.uid, *id.gid) != 0 ||
                   ::chown(config.c_str(), *id.uid, *id.gid) != 0)) {
        return "cannot give the workspace to uid " + std::to_string(*id.uid) + ": " +
               std::strerror(errno);
    }
    return reachable_problem(ws, id);
}

}  // namespace br
