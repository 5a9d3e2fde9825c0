#include "config.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/rand.h>
#include <poll.h>
#include <signal.h>
#include <simdjson.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <vector>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <system_error>

extern char** environ;

namespace br {

namespace fs = std::filesystem;

namespace {

// ---- the config file ----

using simdjson::dom::element;

// Where values come from, for errors: "<file>: <field>: <problem>".
struct Source {
    const std::string& origin;
    [[noreturn]] void fail(std::string_view field, std::string_view problem) const {
        throw ConfigError(fmt::format("{}: {}: {}", origin, field, problem));
    }
};

// Calls f(key, value, field) for each member. Duplicate keys are refused: simdjson keeps
// both, and whichever one won would surprise whoever wrote the other.
template <class F>
void for_each_member(const Source& src, element value, const std::string& field, F&& f) {
    simdjson::dom::object obj;
    if (value.get(obj) != simdjson::SUCCESS) src.fail(field, "expected an object");
    std::set<std::string_view> seen;
    for (auto [key, v] : obj) {
        const std::string sub = field.empty() ? std::string(key) : field + "." + std::string(key);
        if (!seen.insert(key).second) src.fail(sub, "duplicate field");
        f(key, v, sub);
    }
}

template <class F>
void for_each_item(const Source& src, element value, const std::string& field, F&& f) {
    simdjson::dom::array arr;
    if (value.get(arr) != simdjson::SUCCESS) src.fail(field, "expected an array");
    std::size_t i = 0;
    for (element item : arr) f(item, fmt::format("{}[{}]", field, i++));
}

std::string get_string(const Source& src, element v, const std::string& field) {
    std::string_view s;
    if (v.get(s) != simdjson::SUCCESS) src.fail(field, "expected a string");
    if (s.find('\0') != std::string_view::npos) src.fail(field, "NUL characters are not allowed");
    return std::string(s);
}

bool get_bool(const Source& src, element v, const std::string& field) {
    bool b = false;
    if (v.get(b) != simdjson::SUCCESS) src.fail(field, "expected true or false");
    return b;
}

std::int64_t get_int(const Source& src, element v, const std::string& field, std::int64_t lo,
                     std::int64_t hi) {
    std::int64_t n = 0;
    if (v.get(n) != simdjson::SUCCESS || n < lo || n > hi)
        src.fail(field, fmt::format("expected an integer from {} to {}", lo, hi));
    return n;
}

double get_number(const Source& src, element v, const std::string& field, double lo, double hi) {
    double d = 0;
    if (v.get(d) != simdjson::SUCCESS || !(d >= lo && d <= hi))
        src.fail(field, fmt::format("expected a number from {} to {}", lo, hi));
    return d;
}

bool is_ascii_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// 1-64 characters: a letter or digit, then letters, digits and `extra`.
bool is_name(std::string_view s, std::string_view extra) {
    if (s.empty() || s.size() > 64 || !is_ascii_alnum(s.front())) return false;
    return std::all_of(s.begin(), s.end(), [&](char c) {
        return is_ascii_alnum(c) || extra.find(c) != std::string_view::npos;
    });
}

// POSIX: letters, digits and '_', not starting with a digit.
bool is_env_name(std::string_view s) {
    if (s.empty() || s.size() > 128 || (s.front() >= '0' && s.front() <= '9')) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return is_ascii_alnum(c) || c == '_'; });
}

// The token goes into an HTTP header: printable ASCII without spaces.
std::string check_token(std::string_view token) {
    if (token.size() > 256) return "at most 256 characters";
    for (char c : token) {
        if (c <= 0x20 || c >= 0x7f) return "only printable ASCII characters without spaces";
    }
    return {};
}

// "host:port" or "[v6]:port".
bool split_listen(std::string_view listen, std::string& host, std::uint16_t& port) {
    const std::size_t colon = listen.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    std::string_view h = listen.substr(0, colon);
    if (h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    const std::string_view p = listen.substr(colon + 1);
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
    if (h.empty() || p.empty() || ec != std::errc() || ptr != p.data() + p.size() || value > 65535)
        return false;
    host = h;
    port = static_cast<std::uint16_t>(value);
    return true;
}

Limits parse_limits(const Source& src, element v, const std::string& field, Limits l) {
    constexpr std::uint64_t mib = 1ull << 20;
    for_each_member(src, v, field, [&](std::string_view key, element x, const std::string& f) {
        auto mb = [&](std::int64_t lo, std::int64_t hi) {
            return static_cast<std::uint64_t>(get_int(src, x, f, lo, hi)) * mib;
        };
        auto secs = [&](std::int64_t hi) {
            return std::chrono::seconds(get_int(src, x, f, 1, hi));
        };
        if (key == "memory_mb")
            l.memory_bytes = mb(16, 1 << 20);
        else if (key == "cpus")
            l.cpus = get_number(src, x, f, 0.01, 1024);
        else if (key == "wall_s")
            l.wall = secs(7 * 86400);
        else if (key == "no_output_s")
            l.no_output = secs(7 * 86400);
        else if (key == "max_processes")
            l.max_processes = static_cast<std::uint32_t>(get_int(src, x, f, 1, 1'000'000));
        else if (key == "max_file_mb")
            l.max_file_bytes = mb(1, 1 << 20);
        else if (key == "tmp_mb")
            l.tmp_bytes = mb(1, 1 << 20);
        else if (key == "log_mb")
            l.log_bytes = mb(1, 1 << 16);
        else if (key == "fetch_timeout_s")
            l.fetch_timeout = secs(86400);
        else if (key == "fetch_max_mb")
            l.fetch_max_bytes = mb(1, 1 << 20);
        else
            src.fail(
                f,
                "unknown field (limits are memory_mb, cpus, wall_s, no_output_s, max_processes, "
                "max_file_mb, tmp_mb, log_mb, fetch_timeout_s and fetch_max_mb)");
    });
    return l;
}

// A Slurm name (partition, account, qos, job prefix): letters, digits, '_', '-', '.'.
bool is_slurm_name(std::string_view s) { return s.empty() || is_name(s, "._-"); }

SlurmOptions parse_slurm(const Source& src, element v, const std::string& field, SlurmOptions s) {
    auto absolute = [&](element x, const std::string& f, bool may_be_empty) {
        std::string p = get_string(src, x, f);
        if (p.empty() ? !may_be_empty : p.front() != '/') src.fail(f, "expected an absolute path");
        return p;
    };
    for_each_member(src, v, field, [&](std::string_view key, element x, const std::string& f) {
        auto name = [&] {
            std::string n = get_string(src, x, f);
            if (!is_slurm_name(n)) src.fail(f, "1-64 letters, digits, '.', '_' or '-'");
            return n;
        };
        if (key == "partition") {
            s.partition = name();
        } else if (key == "account") {
            s.account = name();
        } else if (key == "qos") {
            s.qos = name();
        } else if (key == "job_prefix") {
            s.job_prefix = name();  // "" = br-<instance id>
        } else if (key == "extra_args") {
            s.extra_args.clear();
            for_each_item(src, x, f, [&](element item, const std::string& ff) {
                std::string a = get_string(src, item, ff);
                if (!a.starts_with("--")) src.fail(ff, "expected an srun option (--name=value)");
                s.extra_args.push_back(std::move(a));
            });
        } else if (key == "fetch") {
            s.fetch = get_string(src, x, f);
            if (s.fetch != "node" && s.fetch != "coordinator") src.fail(f, "expected \"node\" or \"coordinator\"");
        } else if (key == "node_work_dir") {
            s.node_work_dir = absolute(x, f, false);
        } else if (key == "shared_dir") {
            s.shared_dir = absolute(x, f, true);
        } else if (key == "node_command") {
            s.node_command = absolute(x, f, true);
        } else if (key == "bin_dir") {
            s.bin_dir = absolute(x, f, false);
        } else if (key == "require_sandbox") {
            s.require_sandbox = get_bool(src, x, f);
        } else {
            src.fail(f,
                     "unknown field (slurm has partition, account, qos, extra_args, fetch, node_work_dir, "
                     "shared_dir, node_command, bin_dir, require_sandbox and job_prefix)");
        }
    });
    if (s.fetch == "coordinator" && s.shared_dir.empty())
        src.fail(field + ".shared_dir", "required when fetch is \"coordinator\" (a directory every node mounts)");
    return s;
}

std::vector<Step> parse_steps(const Source& src, element v, const std::string& field) {
    std::vector<Step> steps;
    for_each_item(src, v, field, [&](element item, const std::string& f) {
        Step step;
        for_each_member(src, item, f, [&](std::string_view key, element x, const std::string& ff) {
            if (key == "name") {
                step.name = get_string(src, x, ff);
                if (!is_name(step.name, "._-"))
                    src.fail(
                        ff,
                        "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");
            } else if (key == "run") {
                step.run = get_string(src, x, ff);
                if (step.run.empty()) src.fail(ff, "must not be empty");
            } else {
                src.fail(ff, "unknown field (a step has name and run)");
            }
        });
        if (step.name.empty()) src.fail(f + ".name", "required");
        if (step.run.empty()) src.fail(f + ".run", "required");
        if (std::any_of(steps.begin(), steps.end(),
                        [&](const Step& s) { return s.name == step.name; })) {
            src.fail(f + ".name", fmt::format("duplicate step name \"{}\"", step.name));
        }
        steps.push_back(std::move(step));
    });
    if (steps.empty()) src.fail(field, "at least one step is required");
    return steps;
}

void parse_detect(const Source& src, element entry, const std::string& field, const Limits& global,
                  std::vector<Toolchain>& out) {
    std::string kind;
    std::vector<std::string> paths;
    bool has_paths = false;
    std::optional<std::vector<Step>> steps;
    Limits limits = global;
    for_each_member(src, entry, field, [&](std::string_view key, element x, const std::string& f) {
        if (key == "detect")
            kind = get_string(src, x, f);
        else if (key == "paths") {
            has_paths = true;
            for_each_item(src, x, f, [&](element p, const std::string& ff) {
                paths.push_back(get_string(src, p, ff));
            });
        } else if (key == "limits")
            limits = parse_limits(src, x, f, global);
        else if (key == "steps")
            steps = parse_steps(src, x, f);
        else
            src.fail(f, "unknown field (a detect entry has detect, paths, limits and steps)");
    });
    if (kind != "gcc" && kind != "clang" && kind != "zig")
        src.fail(field + ".detect", "expected gcc, clang or zig");
    if (kind == "zig" && paths.empty())
        src.fail(field + ".paths", "zig needs the paths of its zig binaries");
    if (kind != "zig" && has_paths)
        src.fail(field + ".paths", "only zig takes paths (gcc and clang are found on PATH)");
    std::vector<Toolchain> found;
    try {
        found = detect_toolchains(kind, paths);
    } catch (const ConfigError& e) {
        src.fail(field + ".paths", e.what());
    }
    for (Toolchain& t : found) {
        t.limits = limits;
        if (steps) t.steps = *steps;
        out.push_back(std::move(t));
    }
}

void parse_custom(const Source& src, element entry, const std::string& field, const Limits& global,
                  std::vector<Toolchain>& out) {
    Toolchain t;
    t.kind = "custom";
    t.limits = global;
    for_each_member(src, entry, field, [&](std::string_view key, element x, const std::string& f) {
        if (key == "name") {
            t.name = get_string(src, x, f);
            if (!is_name(t.name, "._+-"))
                src.fail(
                    f,
                    "1-64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit");
        } else if (key == "kind") {
            t.kind = get_string(src, x, f);
            if (t.kind != "gcc" && t.kind != "clang" && t.kind != "zig" && t.kind != "custom") {
                src.fail(f, "expected gcc, clang, zig or custom");
            }
        } else if (key == "version") {
            t.version = get_string(src, x, f);
            if (!t.version.empty() && !plausible_version(t.version))
                src.fail(f, "expected a version such as 12.2.0");
        } else if (key == "env") {
            for_each_member(
                src, x, f, [&](std::string_view name, element value, const std::string& ff) {
                    if (!is_env_name(name)) src.fail(ff, "not a valid environment variable name");
                    t.env.push_back(std::string(name) + "=" + get_string(src, value, ff));
                });
        } else if (key == "steps") {
            t.steps = parse_steps(src, x, f);
        } else if (key == "ro_paths") {
            for_each_item(src, x, f, [&](element p, const std::string& ff) {
                std::string path = get_string(src, p, ff);
                std::error_code ec;
                if (!fs::path(path).is_absolute()) src.fail(ff, "must be an absolute path");
                if (!fs::exists(path, ec)) src.fail(ff, fmt::format("{} does not exist", path));
                t.ro_paths.push_back(std::move(path));
            });
        } else if (key == "limits") {
            t.limits = parse_limits(src, x, f, global);
        } else {
            src.fail(f,
                     "unknown field (a toolchain has name, kind, version, env, steps, ro_paths and "
                     "limits)");
        }
    });
    if (t.steps.empty()) src.fail(field + ".steps", "required");
    out.push_back(std::move(t));
}

std::vector<Toolchain> parse_toolchains(const Source& src, element v, const Limits& global) {
    std::vector<Toolchain> out;
    for_each_item(src, v, "toolchains", [&](element entry, const std::string& f) {
        simdjson::dom::object obj;
        if (entry.get(obj) != simdjson::SUCCESS) src.fail(f, "expected an object");
        const std::size_t before = out.size();
        const bool detect = obj.at_key("detect").error() == simdjson::SUCCESS;
        if (detect)
            parse_detect(src, entry, f, global, out);
        else if (obj.at_key("name").error() == simdjson::SUCCESS)
            parse_custom(src, entry, f, global, out);
        else
            src.fail(f, "needs \"detect\" (gcc, clang or zig) or \"name\" (a custom toolchain)");
        for (std::size_t i = before; i < out.size(); ++i) {
            for (std::size_t j = 0; j < i; ++j) {
                if (out[j].name == out[i].name) {
                    src.fail(detect ? f : f + ".name",
                             fmt::format("duplicate toolchain name \"{}\"", out[i].name));
                }
            }
        }
    });
    if (out.empty())
        src.fail("toolchains",
                 "empty: no configured toolchain, and none of the detected ones was found");
    return out;
}

}  // namespace

std::string random_hex(std::size_t bytes) {
    std::vector<unsigned char> raw(bytes);
    if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) throw ConfigError("RAND_bytes failed");
    std::string hex;
    for (unsigned char b : raw) hex += fmt::format("{:02x}", b);
    return hex;
}

std::string resolve_token(Config& config) {
    if (!config.token.empty()) return {};
    if (const char* env = std::getenv("BUILD_RUNNER_TOKEN"); env != nullptr && *env != '\0') {
        config.token = env;
        return {};
    }
    std::error_code ec;
    fs::create_directories(config.data_dir, ec);
    if (ec)
        throw ConfigError(fmt::format("data_dir {}: {}", config.data_dir.string(), ec.message()));
    const fs::path file = config.data_dir / "token";
    if (std::ifstream in(file); in) {
        std::string token;
        std::getline(in, token);
        while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())))
            token.pop_back();
        if (token.empty())
            throw ConfigError(
                fmt::format("{} is empty: remove it to have a new token generated", file.string()));
        config.token = std::move(token);
        return {};
    }
    const std::string token = random_hex(32);
    // O_EXCL: never follow a planted symlink or overwrite a token another process just wrote.
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) throw ConfigError(fmt::format("{}: {}", file.string(), std::strerror(errno)));
    const std::string line = token + "\n";
    const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                    ::fsync(fd) == 0;
    const int saved = errno;
    ::close(fd);
    if (!ok) {
        fs::remove(file, ec);
        throw ConfigError(fmt::format("{}: {}", file.string(), std::strerror(saved)));
    }
    config.token = token;
    return fmt::format("generated a new API token: {} (stored in {})", token, file.string());
}

void parse_config_json(std::string_view json, const std::string& origin, Config& into) {
    const Source src{origin};
    simdjson::dom::parser parser;
    element root;
    const simdjson::padded_string padded(json);
    if (auto err = parser.parse(padded).get(root)) {
        throw ConfigError(
            fmt::format("{}: not valid JSON: {}", origin, simdjson::error_message(err)));
    }
    if (!root.is_object())
        throw ConfigError(fmt::format("{}: expected a JSON object at the top level", origin));
    Config c = into;  // a bad file changes nothing
    std::optional<element> toolchains;
    for_each_member(src, root, "", [&](std::string_view key, element v, const std::string& f) {
        if (key == "listen") {
            if (!split_listen(get_string(src, v, f), c.host, c.port))
                src.fail(f, "expected host:port, e.g. 127.0.0.1:8080");
        } else if (key == "host") {
            c.host = get_string(src, v, f);
            if (c.host.empty()) src.fail(f, "must not be empty");
        } else if (key == "port") {
            c.port = static_cast<std::uint16_t>(get_int(src, v, f, 0, 65535));
        } else if (key == "data_dir") {
            c.data_dir = get_string(src, v, f);
            if (c.data_dir.empty()) src.fail(f, "must not be empty");
        } else if (key == "token") {
            c.token = get_string(src, v, f);
            if (std::string problem = check_token(c.token); !problem.empty()) src.fail(f, problem);
        } else if (key == "concurrency") {
            c.concurrency = static_cast<unsigned>(get_int(src, v, f, 0, 1024));
        } else if (key == "threads") {
            c.threads = static_cast<unsigned>(get_int(src, v, f, 1, 256));
        } else if (key == "public_read") {
            c.public_read = get_bool(src, v, f);
        } else if (key == "sync_full") {
            c.sync_full = get_bool(src, v, f);
        } else if (key == "max_attempts") {
            c.max_attempts = static_cast<int>(get_int(src, v, f, 1, 100));
        } else if (key == "retry_backoff_ms") {
            c.retry_backoff = std::chrono::milliseconds(get_int(src, v, f, 0, 3'600'000));
        } else if (key == "www_dir") {
            c.www_dir = get_string(src, v, f);
        } else if (key == "limits") {
            c.limits = parse_limits(src, v, f, c.limits);
        } else if (key == "executor") {
            c.executor = get_string(src, v, f);
            if (c.executor != "local" && c.executor != "slurm") src.fail(f, "expected \"local\" or \"slurm\"");
        } else if (key == "slurm") {
            c.slurm = parse_slurm(src, v, f, c.slurm);
        } else if (key == "toolchains") {
            toolchains = v;  // after the loop: toolchains inherit "limits" wherever it appears
        } else {
            src.fail(f, "unknown field (see the example in apps/build_runner/config.hpp)");
        }
    });
    if (toolchains) c.toolchains = parse_toolchains(src, *toolchains, c.limits);
    into = std::move(c);
}

namespace {

constexpr std::string_view usage_text = R"(usage: build_runner [serve] [options]
  --config FILE        JSON config file (see apps/build_runner/config.hpp)
  --listen HOST:PORT   listen address (127.0.0.1:8080); or --host H and --port N (0 = any)
  --data-dir DIR       SQLite file, logs and work space (./br-data, created if missing)
  --token T            API token (default: $BUILD_RUNNER_TOKEN, DIR/token, or generated)
  --concurrency N      builds at once (0 = number of cores)
  --threads N          HTTP runtimes (1)
  --max-attempts N     attempts for infrastructure errors (3)
  --www-dir DIR        dashboard files (the built-in ones)
  --no-sync-full       SQLite synchronous=NORMAL: faster, survives crashes but not power loss
  --no-public-read     GET endpoints need the token too
  --no-sandbox --unsafe  run steps without the sandbox (tests and benchmarks only)
  --executor E         where builds run: local (default) or slurm (see "slurm" in the config)
  --slurm-partition P  Slurm partition for the builds (the cluster's default)
  -h, --help           this text
Without --config the toolchains are the gcc and clang versions found on PATH.
)";

template <class T>
T flag_number(std::string_view flag, std::string_view text, T lo, T hi) {
    T value{};
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size() || value < lo || value > hi) {
        throw ConfigError(
            fmt::format("{}: expected a number from {} to {}, got \"{}\"", flag, lo, hi, text));
    }
    return value;
}

std::string read_file(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw ConfigError(fmt::format("{}: cannot open: {}", file, std::strerror(errno)));
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

struct Flag {
    std::string_view name;
    std::optional<std::string_view> value;
};

constexpr std::array<std::string_view, 4> switches = {"--no-sync-full", "--no-public-read",
                                                      "--no-sandbox", "--unsafe"};
constexpr std::array<std::string_view, 12> valued = {
    "--config",  "--listen",      "--host",    "--port",         "--data-dir",        "--token",
    "--threads", "--concurrency", "--www-dir", "--max-attempts", "--executor", "--slurm-partition"};

bool one_of(std::string_view s, const auto& list) {
    return std::find(list.begin(), list.end(), s) != list.end();
}

}  // namespace

Config load_config(int argc, char** argv) {
    std::vector<std::string_view> args;
    for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
    if (!args.empty() && args.front() == "serve") args.erase(args.begin());
    std::vector<Flag> flags;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view a = args[i];
        if (a == "-h" || a == "--help") {
            std::fputs(usage_text.data(), stdout);
            std::exit(0);
        }
        const std::size_t eq = a.find('=');
        const std::string_view name = a.substr(0, eq);
        if (!one_of(name, switches) && !one_of(name, valued)) {
            throw ConfigError(fmt::format("{}: unknown {} (see --help)", name,
                                          name.starts_with("-") ? "flag" : "argument"));
        }
        if (one_of(name, switches)) {
            if (eq != std::string_view::npos)
                throw ConfigError(fmt::format("{}: takes no value", name));
            flags.push_back({name, std::nullopt});
        } else if (eq != std::string_view::npos) {
            flags.push_back({name, a.substr(eq + 1)});
        } else if (i + 1 < args.size()) {
            flags.push_back({name, args[++i]});
        } else {
            throw ConfigError(fmt::format("{}: needs a value", name));
        }
    }
    Config c;
    // The file first, so that flags override it whatever their order.
    for (const Flag& f : flags) {
        if (f.name == "--config")
            parse_config_json(read_file(std::string(*f.value)), std::string(*f.value), c);
    }
    bool unsafe = false;
    for (const Flag& f : flags) {
        const std::string_view v = f.value.value_or("");
        if (f.name == "--listen" && !split_listen(v, c.host, c.port)) {
            throw ConfigError(fmt::format("--listen: expected host:port, got \"{}\"", v));
        } else if (f.name == "--host") {
            if (v.empty()) throw ConfigError("--host: must not be empty");
            c.host = v;
        } else if (f.name == "--port") {
            c.port = flag_number<std::uint16_t>(f.name, v, 0, 65535);
        } else if (f.name == "--data-dir") {
            if (v.empty()) throw ConfigError("--data-dir: must not be empty");
            c.data_dir = v;
        } else if (f.name == "--token") {
            if (std::string problem = check_token(v); !problem.empty())
                throw ConfigError("--token: " + problem);
            c.token = v;
        } else if (f.name == "--concurrency") {
            c.concurrency = flag_number<unsigned>(f.name, v, 0, 1024);
        } else if (f.name == "--threads") {
            c.threads = flag_number<unsigned>(f.name, v, 1, 256);
        } else if (f.name == "--max-attempts") {
            c.max_attempts = flag_number<int>(f.name, v, 1, 100);
        } else if (f.name == "--www-dir") {
            c.www_dir = v;
        } else if (f.name == "--no-sync-full") {
            c.sync_full = false;
        } else if (f.name == "--no-public-read") {
            c.public_read = false;
        } else if (f.name == "--no-sandbox") {
            c.no_sandbox = true;
        } else if (f.name == "--unsafe") {
            unsafe = true;
        } else if (f.name == "--executor") {
            if (v != "local" && v != "slurm")
                throw ConfigError(fmt::format("--executor: expected local or slurm, got \"{}\"", v));
            c.executor = v;
        } else if (f.name == "--slurm-partition") {
            if (!is_slurm_name(v)) throw ConfigError("--slurm-partition: 1-64 letters, digits, '.', '_' or '-'");
            c.slurm.partition = v;
        }
    }
    if (c.no_sandbox && !unsafe) {
        throw ConfigError(
            "--no-sandbox: builds would run unconfined as this user; add --unsafe if that is "
            "meant");
    }
    if (c.toolchains.empty()) {
        for (const char* kind : {"gcc", "clang"}) {
            for (Toolchain& t : detect_toolchains(kind)) {
                t.limits = c.limits;
                c.toolchains.push_back(std::move(t));
            }
        }
        if (c.toolchains.empty()) {
            throw ConfigError(
                "no toolchains: neither gcc nor clang is on PATH; list toolchains in a config file "
                "(--config)");
        }
    }
    return c;
}

}  // namespace br
