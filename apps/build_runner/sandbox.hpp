// sandbox.hpp: what runs in a build's sandbox and how, as pure functions: the bubblewrap
// command line of a step or of the git fetch, their environments, the fetch script, and the
// reading of `git ls-remote` output; so the sandbox's rules can be read, and unit-tested, as
// argv. Only detect_system_layout() and the workspace functions at the end touch the system.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model.hpp"

namespace br {

// The host's system directories as the sandbox sees them: bound read-only at the same
// path, and the top-level symlinks of a merged /usr (Debian 12: /bin -> usr/bin) recreated.
struct SystemLayout {
    std::vector<std::string> ro_dirs{"/usr", "/etc"};
    std::vector<std::pair<std::string, std::string>>
        symlinks{};  // {target, link}: {"usr/bin", "/bin"}
};

// Reads the host under `root`: /usr and /etc, and /bin, /sbin, /lib, /lib32, /lib64,
// /libx32 each as a symlink (recreated) or a directory (bound read-only) or absent.
SystemLayout detect_system_layout(const std::filesystem::path& root = "/");

// One sandboxed command.
struct SandboxSpec {
    std::string bwrap = "/usr/bin/bwrap";
    SystemLayout system{};
    // Keep the host's network (the fetch only). Off: a new network namespace with only a
    // loopback of its own, so nothing on the host or beyond is reachable.
    bool network = false;
    std::string workspace{};              // host directory bound read-write at `mount` (required)
    std::string mount = "/work";          // where the workspace appears; also the working directory
    std::vector<std::string> ro_paths{};  // more host paths bound read-only at the same path
    std::uint64_t tmp_bytes = 0;     // size of the tmpfs /tmp and /dev/shm; 0: the kernel's default
    std::vector<std::string> env{};  // "NAME=value": the whole environment (it is cleared)
    std::vector<std::string> command{};  // argv inside the sandbox
    std::string hostname = "sandbox";
};

// The full argv: bubblewrap, its options, "--", then spec.command. New user, PID, IPC, UTS,
// cgroup and (without `network`) network namespaces; no nested user namespaces; a new
// session (no terminal injection); killed with its parent; a fresh /proc and /dev; the
// workspace, /tmp and /dev/shm (tmpfs of tmp_bytes each) the only writable places.
// Throws std::invalid_argument for a spec it cannot express safely (a relative or empty
// path, an env entry without a name, an empty command).
std::vector<std::string> sandbox_argv(const SandboxSpec& spec);

// The environment of a step: PATH, HOME=<home>, TMPDIR=/tmp, JOBS=<jobs>, LANG=C.UTF-8,
// then the toolchain's entries (which may override them).
std::vector<std::string> step_environment(const Toolchain& toolchain, unsigned jobs,
                                          const std::string& home = "/work");

// The environment of git (fetch and ls-remote): no prompts, only the file, git, http(s) and
// ssh transports, no system config, HOME=<home> (whose .gitconfig git_config() writes).
std::vector<std::string> git_environment(const std::string& home);

// The host path a file:// URL reads from (bound read-only into the fetch sandbox); nullopt
// for other URLs.
std::optional<std::string> file_url_path(std::string_view url);

// The .gitconfig of a fetch: file:// repositories belong to another uid than the build's,
// and git refuses those unless they are listed as safe (in a config it trusts: global).
std::string git_config(std::string_view url);

// True for a full commit id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
bool is_full_sha(std::string_view s) noexcept;

// `sh -c <script> fetch <url> <commit> <dir> <git>`: <git> init <dir>, a shallow fetch of
// the commit (a full fetch of branches and tags when the server refuses one by id), a
// detached checkout, and a check that HEAD is the commit (exit 3 with a message if not).
std::vector<std::string> fetch_command(const std::string& git, const std::string& url,
                                       const std::string& commit, const std::string& dir);

// `<git> ls-remote -- <url> <ref> <ref>^{}` ("" = HEAD): the ref and, for an annotated
// tag, the commit it points to.
std::vector<std::string> ls_remote_command(const std::string& git, const std::string& url,
                                           const std::string& ref);

// The commit `ref` names in ls-remote output ("<sha>\t<name>" lines), the way git resolves
// a name: exact ("HEAD", "refs/heads/x"), then refs/tags/<ref> (peeled: an annotated tag's
// commit, not the tag object), then refs/heads/<ref>. nullopt if none matches.
std::optional<std::string> pick_ls_remote(std::string_view output, std::string_view ref);

// ---------------------------------------------------------------- the workspace on the host
// These touch the file system and block: run them on the blocking pool.

// Who a build's processes run as: the slot's own uid and gid when the server is root, else
// (both empty) the server's.
struct SandboxUser {
    std::optional<uid_t> uid{};
    std::optional<gid_t> gid{};
};

// "" if `user` may search every ancestor of `path`, else what stops it: bubblewrap runs as
// that user and must reach the directories it binds.
std::string reachable_problem(const std::filesystem::path& path, const SandboxUser& user);

// Creates the directory `ws` (replacing a stale one) with `ws`/.gitconfig holding
// `gitconfig`, both owned by `user`. "" or what failed.
std::string prepare_workspace(const std::filesystem::path& ws, const SandboxUser& user,
                              const std::string& gitconfig);

// Removes `root` and everything under it whatever modes the build left on them (a build
// may chmod its directories read-only); never follows a symlink.
void remove_tree(const std::filesystem::path& root);

// Bytes of the regular files under `root` (symlinks not followed).
std::uint64_t tree_bytes(const std::filesystem::path& root);

}  // namespace br
